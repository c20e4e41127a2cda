// udp_recv.cpp: udp-recv, receives udp-send's datagrams and reports what UDP did to them.
//
//   udp-recv --port 4002 [--idle-timeout 2] [--rcvbuf BYTES]
//
// Prints "listening on ADDR:PORT", then counts datagrams (udp_probe.hpp) until every one
// the sender announced has arrived, or --idle-timeout seconds pass with none after the
// first, or SIGINT/SIGTERM. Then it prints the tally:
//
//   lost 3, duplicated 0, reordered 0, corrupt 0 (997 datagrams, 997 distinct of 1000 sent)
//   missing: 412-414
//
// Exit status: 0 a report was printed (whatever it says); 1 setup failed; 2 bad usage.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "serverlab/fd.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"
#include "udp_probe.hpp"

using namespace serverlab;

int main(int argc, char** argv) {
  ServerOptions server;
  double idle_timeout = 2.0;
  std::uint64_t rcvbuf = 0;
  Flags flags("udp-recv",
              "Receives udp-send's numbered datagrams and reports the lost, duplicated and\n"
              "reordered ones: UDP promises none of these (stage 1).");
  add_server_flags(flags, server, 4002);
  flags.add_seconds("idle-timeout", idle_timeout,
                    "stop this long after the last datagram (0: only when all arrived or a signal)");
  flags.add_size("rcvbuf", rcvbuf, "SO_RCVBUF for the socket (0: the system's default); small shows loss");
  flags.parse_or_exit(argc, argv);
  configure_logging(server);

  try {
    Fd signals = block_signals({SIGINT, SIGTERM});
    Fd sock = bind_udp(server.bind, server.port);
    if (rcvbuf > 0) {
      int bytes = static_cast<int>(std::min<std::uint64_t>(rcvbuf, 1u << 30));
      check_sys(::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes), "setsockopt");
    }
    announce_listening(sock.get());

    udp::Tally tally;
    std::string buf(udp::kMaxDatagram + 1, '\0');
    const int idle_ms = idle_timeout > 0 ? static_cast<int>(idle_timeout * 1000) : -1;
    while (!tally.complete()) {
      pollfd fds[2] = {{sock.get(), POLLIN, 0}, {signals.get(), POLLIN, 0}};
      const bool started = tally.received + tally.corrupt + tally.foreign > 0;
      int ready = ::poll(fds, 2, started ? idle_ms : -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) throw SysError("poll");
      if (ready == 0 || (fds[1].revents & POLLIN) != 0) break;  // idle, or asked to stop
      ssize_t n = ::recv(sock.get(), buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw SysError("recv");
      tally.record(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
    std::printf("%s\n", tally.summary().c_str());
    if (tally.lost() > 0) std::printf("missing: %s\n", tally.missing().c_str());
    if (tally.foreign > 0)
      std::printf("ignored %llu datagrams that were not udp-send's\n",
                  static_cast<unsigned long long>(tally.foreign));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "udp-recv: %s\n", e.what());
    return 1;
  }
  return 0;
}
