// echo_client.cpp: stage 1's client: stdin to an echo server, the replies to stdout.
//
//   echo-client --addr 127.0.0.1:4000 [--framing raw|line|length] [--udp]
//
// Two threads, because a client that alternates "send a line, wait for its
// echo" deadlocks on large inputs and cannot show that TCP replies arrive on
// their own schedule:
//
//   main thread:   stdin --(raw chunks | lines | lines as frames)--> socket
//                  at stdin EOF: shutdown(SHUT_WR), then wait for the reader
//   reader thread: socket --(bytes | frame payload + '\n')--> stdout, until EOF
//
// Exit status: 0 when every reply was read to the server's EOF after our
// half-close; 1 with one line on stderr when the connection is refused, reset,
// or closed by the server too early; 2 for bad flags.
// In length framing each stdin line (without its '\n') is one frame, and each
// reply frame's payload is printed followed by '\n'. With --udp each line is a
// datagram and each reply datagram is printed followed by '\n'.
//
// With --tls (--ca FILE: the CA that signed the server's certificate; --cert/--key for a
// client certificate) the connection runs over TLS through common's blocking TlsStream.
// A TLS session must not be read and written by two threads at once, so the TLS mode
// goes in lock step on one thread instead: send one message (a raw chunk, a line, a
// frame), read its echo back whole, print it, repeat. The server checks the
// certificate's name against the --addr host (an IP address or a DNS name).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "serverlab/fd.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"
#include "serverlab/tls/context.hpp"
#include "serverlab/tls/session.hpp"
#include "serverlab/tls/stream.hpp"

namespace serverlab {
namespace {

constexpr std::size_t kMaxLine = 64u << 20;
constexpr std::uint32_t kMaxReplyFrame = 64u << 20;
constexpr int kUdpReplyTimeoutMs = 2000;

struct ClientConfig {
  std::string addr = "127.0.0.1:4000";
  std::string framing = "raw";
  bool udp = false;
  bool tls = false;
  std::string ca;    // --ca: trusted CAs (PEM); empty: the system's store
  std::string cert;  // --cert/--key: a client certificate (mutual TLS)
  std::string key;
};

// One line on stderr and exit status 1, from any thread. _Exit because the
// main thread may be blocked reading stdin and cannot be asked to return.
[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "echo-client: %s\n", message.c_str());
  std::_Exit(1);
}

bool to_stdout(std::string_view bytes) { return write_n(1, bytes).is_ok(); }

// The reader thread: prints replies until EOF. An EOF before our half-close
// means the server dropped us.
void print_replies(int sock, const std::string& framing, const std::atomic<bool>& half_closed) {
  if (framing == "length") {
    BufferedReader in(sock);
    std::string payload;
    for (;;) {
      FrameStatus st = read_frame(in, payload, kMaxReplyFrame);
      if (st == FrameStatus::Frame) {
        payload += '\n';
        if (!to_stdout(payload)) die("cannot write to stdout");
        continue;
      }
      if (st == FrameStatus::Eof && half_closed) return;
      if (st == FrameStatus::Eof) die("connection closed by the server");
      if (st == FrameStatus::Error)
        die(fmt::format("connection lost: {}", std::strerror(in.error())));
      die(fmt::format("bad reply: {} frame", frame_status_name(st)));
    }
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(sock, buf, sizeof buf);
    if (n > 0) {
      if (!to_stdout({buf, static_cast<std::size_t>(n)})) die("cannot write to stdout");
    } else if (n == 0) {
      if (half_closed) return;
      die("connection closed by the server");
    } else if (errno != EINTR) {
      die(fmt::format("connection lost: {}", std::strerror(errno)));
    }
  }
}

// The main thread's half: stdin to the socket. Returns an error message or "".
std::string send_stdin(int sock, const std::string& framing) {
  if (framing == "raw") {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n == 0) return "";
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fmt::format("reading stdin: {}", std::strerror(errno));
      IoResult r = write_n(sock, buf, static_cast<std::size_t>(n));
      if (!r.is_ok()) return fmt::format("connection lost: {}", std::strerror(r.error));
    }
  }
  BufferedReader in(0);
  std::string line;
  for (;;) {
    auto st = in.read_line(line, kMaxLine);
    if (st == BufferedReader::LineStatus::Eof) return "";
    if (st == BufferedReader::LineStatus::Error)
      return fmt::format("reading stdin: {}", std::strerror(in.error()));
    if (st == BufferedReader::LineStatus::TooLong) return "stdin line too long";
    IoResult r;
    if (framing == "length") {
      if (!line.empty() && line.back() == '\n') line.pop_back();
      r = write_frame(sock, line);
    } else {
      r = write_n(sock, line);
    }
    if (!r.is_ok()) return fmt::format("connection lost: {}", std::strerror(r.error));
  }
}

int run_tcp(const ClientConfig& cfg, const HostPort& hp) {
  Fd sock;
  try {
    sock = connect_tcp(hp.host, hp.port);
  } catch (const std::exception& e) {
    die(fmt::format("cannot connect to {}: {}", cfg.addr, e.what()));
  }
  std::atomic<bool> half_closed{false};
  std::thread reader(print_replies, sock.get(), std::cref(cfg.framing), std::cref(half_closed));
  std::string err = send_stdin(sock.get(), cfg.framing);
  if (!err.empty()) die(err);
  half_closed = true;
  ::shutdown(sock.get(), SHUT_WR);  // "no more from me"; the replies keep coming
  reader.join();
  return 0;
}

// TLS: one thread, in lock step (see the top of this file). Exits like run_tcp.
int run_tls(const ClientConfig& cfg, const HostPort& hp) {
  std::optional<tls::TlsContext> ctx;
  try {
    tls::ClientOptions options;
    options.ca_file = cfg.ca;
    options.cert_file = cfg.cert;
    options.key_file = cfg.key;
    options.alpn.clear();  // the echo protocol has no ALPN name
    ctx = tls::TlsContext::client(options);
  } catch (const std::exception& e) {
    die(e.what());
  }
  Fd sock;
  try {
    sock = connect_tcp(hp.host, hp.port);
  } catch (const std::exception& e) {
    die(fmt::format("cannot connect to {}: {}", cfg.addr, e.what()));
  }
  tls::TlsSession session(*ctx, hp.host);
  tls::TlsStream stream(sock.get(), session);
  if (!stream.handshake(5000))
    die(fmt::format("TLS handshake with {} failed: {}", cfg.addr,
                    session.error().empty() ? std::string(tls::failure_name(session.failure()))
                                            : session.error()));
  // Sends `message`, reads `reply_size` bytes of echo into `reply`.
  auto exchange = [&](std::string_view message, std::size_t reply_size, std::string& reply) {
    IoResult w = stream.write_n(message);
    if (!w.is_ok()) die(fmt::format("connection lost: {}", std::strerror(w.error)));
    reply.assign(reply_size, '\0');
    IoResult r = stream.read_n(reply.data(), reply_size);
    if (r.is_eof()) die("connection closed by the server");
    if (!r.is_ok()) die(fmt::format("connection lost: {}", std::strerror(r.error)));
  };
  std::string reply;
  if (cfg.framing == "raw") {
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die(fmt::format("reading stdin: {}", std::strerror(errno)));
      exchange({buf, static_cast<std::size_t>(n)}, static_cast<std::size_t>(n), reply);
      if (!to_stdout(reply)) die("cannot write to stdout");
    }
  } else {
    BufferedReader in(0);
    std::string line;
    for (;;) {
      auto st = in.read_line(line, kMaxLine);
      if (st == BufferedReader::LineStatus::Eof) break;
      if (st == BufferedReader::LineStatus::Error)
        die(fmt::format("reading stdin: {}", std::strerror(in.error())));
      if (st == BufferedReader::LineStatus::TooLong) die("stdin line too long");
      if (cfg.framing == "line") {
        exchange(line, line.size(), reply);
      } else {
        if (!line.empty() && line.back() == '\n') line.pop_back();
        exchange(encode_frame(line), kFrameHeaderSize + line.size(), reply);
        reply = reply.substr(kFrameHeaderSize) + "\n";
      }
      if (!to_stdout(reply)) die("cannot write to stdout");
    }
  }
  stream.close();
  return 0;
}

// UDP: one datagram per line, wait for its reply (datagrams may be lost).
int run_udp(const ClientConfig& cfg, const HostPort& hp) {
  Fd sock;
  try {
    sock = connect_udp(hp.host, hp.port);
  } catch (const std::exception& e) {
    die(fmt::format("cannot reach {}: {}", cfg.addr, e.what()));
  }
  BufferedReader in(0);
  std::string line;
  std::string reply(65536, '\0');
  for (;;) {
    auto st = in.read_line(line, 65507 + 1);
    if (st == BufferedReader::LineStatus::Eof) return 0;
    if (st == BufferedReader::LineStatus::TooLong) die("line too long for one datagram");
    if (st == BufferedReader::LineStatus::Error)
      die(fmt::format("reading stdin: {}", std::strerror(in.error())));
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (::send(sock.get(), line.data(), line.size(), 0) < 0)
      die(fmt::format("send: {}", std::strerror(errno)));
    pollfd p{sock.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, kUdpReplyTimeoutMs);
    if (ready == 0) die(fmt::format("no reply within {} ms", kUdpReplyTimeoutMs));
    ssize_t n = ::recv(sock.get(), reply.data(), reply.size(), 0);
    if (n < 0) die(fmt::format("recv: {}", std::strerror(errno)));
    if (!to_stdout(reply.substr(0, static_cast<std::size_t>(n)) + "\n"))
      die("cannot write to stdout");
  }
}

}  // namespace
}  // namespace serverlab

int main(int argc, char** argv) {
  using namespace serverlab;
  ClientConfig cfg;
  Flags flags("echo-client", "Sends stdin to an echo server and prints what comes back. Stage 1.");
  flags.add("addr", cfg.addr, "server address, HOST:PORT or [V6]:PORT");
  flags.add_choice("framing", cfg.framing, {"raw", "line", "length"},
                   "raw: stdin as read; line: line by line; length: each line as one frame");
  flags.add("udp", cfg.udp, "send each line as a UDP datagram");
  flags.add("tls", cfg.tls, "connect over TLS (one message at a time, each echo read back whole)");
  flags.add("ca", cfg.ca, "with --tls: PEM file of the CA(s) to trust (default: the system's)");
  flags.add("cert", cfg.cert, "with --tls: client certificate (PEM), for servers that ask for one");
  flags.add("key", cfg.key, "with --tls: the client certificate's key (PEM)");
  flags.add_check([&cfg]() -> std::optional<std::string> {
    if (!cfg.tls && (!cfg.ca.empty() || !cfg.cert.empty() || !cfg.key.empty()))
      return "--ca, --cert and --key need --tls";
    if (cfg.cert.empty() != cfg.key.empty()) return "--cert and --key come together";
    if (cfg.tls && cfg.udp) return "--tls: TLS runs over TCP only, not with --udp";
    return std::nullopt;
  });
  flags.parse_or_exit(argc, argv);
  auto hp = parse_host_port(cfg.addr);
  if (!hp) {
    std::fprintf(stderr, "echo-client: --addr %s: expected HOST:PORT\n\n%s", cfg.addr.c_str(),
                 flags.usage().c_str());
    return 2;
  }
  ignore_sigpipe();  // a closed stdout is an error message, not a silent death
  if (cfg.tls) return run_tls(cfg, *hp);
  return cfg.udp ? run_udp(cfg, *hp) : run_tcp(cfg, *hp);
}
