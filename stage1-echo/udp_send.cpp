// udp_send.cpp: udp-send, numbered UDP datagrams at a steady rate (stage 1's UDP lesson).
//
//   udp-send --addr 127.0.0.1:4002 --count 1000 --rate 1000 --size 64
//
// Sends datagrams 0..count-1 of the format in udp_probe.hpp, paced to --rate per second
// (0: as fast as the socket takes them). UDP never tells the sender what happened to a
// datagram: the socket is not connected, so not even an ICMP "port unreachable" comes
// back. Only udp-recv's tally shows what arrived.
//
// Exit status: 0 every send(2) succeeded (which says nothing about delivery); 1 a send
// failed (ENOBUFS, ...: one line with the count and the first error) or the address did
// not resolve; 2 bad usage.
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "serverlab/fd.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/socket.hpp"
#include "udp_probe.hpp"

using namespace serverlab;

namespace {

// The address to send to, resolved once. Throws std::runtime_error when it will not resolve.
SocketAddress resolve(const HostPort& hp) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(hp.port);
  if (int rc = ::getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw std::runtime_error(hp.host + ": " + ::gai_strerror(rc));
  SocketAddress to;
  std::memcpy(&to.storage, found->ai_addr, found->ai_addrlen);
  to.length = found->ai_addrlen;
  ::freeaddrinfo(found);
  return to;
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:4002";
  int count = 1000;
  int rate = 1000;
  std::uint64_t size = 64;
  Flags flags("udp-send",
              "Sends numbered UDP datagrams at a steady rate; udp-recv reports what arrived (stage 1).");
  flags.add("addr", addr, "where to send, HOST:PORT");
  flags.add("count", count, "datagrams to send", 1, static_cast<int>(udp::kMaxCount));
  flags.add("rate", rate, "datagrams per second (0: as fast as the socket takes them)", 0, 10000000);
  flags.add_size("size", size, "bytes per datagram, header included (20 to 65507)");
  flags.add_check([&]() -> std::optional<std::string> {
    if (size < udp::kHeaderSize || size > udp::kMaxDatagram)
      return "--size: between 20 and 65507 bytes";
    if (!parse_host_port(addr)) return "--addr " + addr + ": expected HOST:PORT";
    return std::nullopt;
  });
  flags.parse_or_exit(argc, argv);

  try {
    const SocketAddress to = resolve(*parse_host_port(addr));
    Fd sock(::socket(to.storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    int failed = 0;
    int first_error = 0;
    for (int i = 0; i < count; ++i) {
      if (rate > 0) {  // datagram i leaves at start + i/rate: a steady pace, no drift
        std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(double(i) / rate)));
      }
      std::string datagram = udp::encode(static_cast<std::uint64_t>(i),
                                         static_cast<std::uint64_t>(count), size);
      if (::sendto(sock.get(), datagram.data(), datagram.size(), 0, to.get(), to.length) < 0) {
        if (failed++ == 0) first_error = errno;
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("sent %d datagrams of %llu bytes to %s in %.2f s\n", count - failed,
                static_cast<unsigned long long>(size), to.to_string().c_str(), seconds);
    if (failed > 0) {
      std::fprintf(stderr, "udp-send: %d of %d sends failed (first: %s)\n", failed, count,
                   std::strerror(first_error));
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "udp-send: %s\n", e.what());
    return 1;
  }
  return 0;
}
