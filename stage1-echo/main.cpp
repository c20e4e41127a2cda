// main.cpp: echo-server, stage 1: an echo server over blocking sockets.
//
// What it teaches: the socket life cycle (socket, bind, listen, accept, read,
// write, close), that TCP is a byte stream with no message boundaries (hence
// three framings), robust I/O (short counts, EINTR, EPIPE), and the first two
// concurrency models: one client at a time, then one thread per client.
//
// Read it top-down, like CS:APP's tiny:
//
//   main.cpp        parse_flags -> choose the transport and the model -> run_tcp | run_udp
//   tcp_server.cpp    run_tcp: listen -> accept loop (waits on the listener AND the
//                     signalfd) -> Clients::spawn(run_session) ... SIGTERM -> stop_gracefully
//   clients.hpp       Clients: the worker threads, counted against the client limit
//   session.cpp       run_session -> serve_client: wait for a message, the stop event
//                     or the idle timeout -> echo_raw | echo_line | echo_frame -> repeat
//   udp_server.cpp    run_udp: each datagram goes back to its sender
//
// Signals are blocked here, before any thread starts, and read from a signalfd by
// the accept loop only.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <optional>

#include "echo_server.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/log.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/tls/context.hpp"
#include "serverlab/tls/flags.hpp"

namespace serverlab::echo {
namespace {

EchoConfig parse_flags(int argc, char** argv, tls::ServerFlags& tls_flags) {
  EchoConfig cfg;
  Flags flags("echo-server", "Echoes every byte (or line, or frame) back to its sender. Stage 1.");
  add_server_flags(flags, cfg.server, 4000);
  flags.add_choice("framing", cfg.framing, {"raw", "line", "length"},
                   "raw: bytes as they arrive; line: whole lines; length: 4-byte length + payload");
  flags.add_choice("concurrency", cfg.concurrency, {"iterative", "thread"},
                   "iterative: one client at a time; thread: a thread per client");
  flags.add("max-clients", cfg.max_clients, "thread mode: clients served at once (others wait)", 1,
            100000);
  flags.add_seconds("idle-timeout", cfg.idle_timeout,
                    "close a connection silent for this long (0: never)");
  flags.add_size("max-frame", cfg.max_frame, "longest line or frame payload accepted");
  flags.add("udp", cfg.udp, "echo UDP datagrams instead of TCP streams");
  tls::add_server_flags(flags, tls_flags);  // --tls-cert: every TCP connection speaks TLS
  flags.add_check([&]() -> std::optional<std::string> {
    if (cfg.udp && tls_flags.enabled()) return "--tls-cert: TLS runs over TCP only, not with --udp";
    return std::nullopt;
  });
  flags.parse_or_exit(argc, argv);
  if (cfg.max_frame > 0xffffffffull) cfg.max_frame = 0xffffffffull;
  return cfg;
}

// The concurrency model is a limit on the accept loop's worker threads:
// iterative is one at a time, thread is up to --max-clients.
std::size_t max_workers(const EchoConfig& cfg) {
  return cfg.concurrency == "iterative" ? 1 : static_cast<std::size_t>(cfg.max_clients);
}

}  // namespace
}  // namespace serverlab::echo

int main(int argc, char** argv) {
  using namespace serverlab;
  using namespace serverlab::echo;
  tls::ServerFlags tls_flags;
  EchoConfig cfg = parse_flags(argc, argv, tls_flags);
  configure_logging(cfg.server);
  try {
    std::optional<tls::TlsContext> tls_context;
    if (tls_flags.enabled()) {
      tls::ServerOptions options = tls_flags.options();
      options.alpn.clear();  // an echo server speaks no ALPN protocol (not http/1.1)
      tls_context = tls::TlsContext::server(options);  // throws TlsError naming the file
      cfg.tls = &*tls_context;
    }
    ignore_sigpipe();
    Fd signals = block_signals({SIGINT, SIGTERM});  // before any thread starts
    int rc = cfg.udp ? run_udp(cfg, signals.get())
                     : run_tcp(cfg, max_workers(cfg), signals.get());
    log::event(log::Level::Info, "stopped", {});
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo-server: %s\n", e.what());
    return 1;
  }
}
