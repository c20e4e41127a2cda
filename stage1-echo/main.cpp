// main.cpp: echo-server, stage 1: an echo server over blocking sockets.
//
// What it teaches: the socket life cycle (socket, bind, listen, accept, read,
// write, close), that TCP is a byte stream with no message boundaries (hence
// three framings), robust I/O (short counts, EINTR, EPIPE), and the first two
// concurrency models: one client at a time, then one thread per client.
//
// Read it top-down, like CS:APP's tiny:
//
//   main.cpp        flags (--config; SIGHUP) -> choose the transport and model -> run_tcp | run_udp
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
#include "serverlab/reload.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/tls/context.hpp"
#include "serverlab/tls/flags.hpp"

namespace serverlab::echo {
namespace {

void define_flags(Flags& flags, EchoConfig& cfg) {
  add_server_flags(flags, cfg.server, 4000);
  flags.add_choice("framing", cfg.framing, {"raw", "line", "length"},
                   "raw: bytes as they arrive; line: whole lines; length: 4-byte length + payload");
  flags.add_choice("concurrency", cfg.concurrency, {"iterative", "thread"},
                   "iterative: one client at a time; thread: a thread per client");
  flags.add("udp", cfg.udp, "echo UDP datagrams instead of TCP streams");
  flags.begin_section("limits");
  flags.add("max-clients", cfg.max_clients, "thread mode: clients served at once (others wait)", 1,
            100000);
  flags.add_seconds("idle-timeout", cfg.idle_timeout,
                    "close a connection silent for this long (0: never)");
  flags.add_size("max-frame", cfg.max_frame, "longest line or frame payload accepted");
  tls::add_server_flags(flags, cfg.tls_flags);  // --tls-cert: every TCP connection speaks TLS
  flags.begin_section("server");
  flags.add_check([&cfg]() -> std::optional<std::string> {  // the framing's limit, not an error
    if (cfg.max_frame > 0xffffffffull) cfg.max_frame = 0xffffffffull;
    return std::nullopt;
  });
  flags.add_check([&cfg]() -> std::optional<std::string> {
    if (cfg.udp && cfg.tls_flags.enabled()) return "--tls-cert: TLS runs over TCP only, not with --udp";
    return std::nullopt;
  });
}

// What SIGHUP cannot change: the listener, the limit on worker threads, and TLS
// (the context is made once at start-up).
std::optional<std::string> needs_restart(const EchoConfig& before, const EchoConfig& after) {
  if (auto c = listener_change(before.server, after.server)) return c;
  if (auto c = changed("udp", before.udp, after.udp)) return c;
  if (auto c = changed("concurrency", before.concurrency, after.concurrency)) return c;
  if (auto c = changed("tls-cert", before.tls_flags.cert, after.tls_flags.cert)) return c;
  if (auto c = changed("tls-key", before.tls_flags.key, after.tls_flags.key)) return c;
  if (auto c = changed("tls-client-ca", before.tls_flags.client_ca, after.tls_flags.client_ca))
    return c;
  if (auto c = changed("tls-verify-client", before.tls_flags.verify_client,
                       after.tls_flags.verify_client))
    return c;
  return changed("max-clients", before.max_clients, after.max_clients);
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
  ConfigLoader<EchoConfig> loader(
      "echo-server", "Echoes every byte (or line, or frame) back to its sender. Stage 1.",
      define_flags, argc, argv);
  EchoConfig cfg = loader.load_or_exit();
  configure_logging(cfg.server);
  // SIGHUP: the next accepted client gets the file's new settings (TCP only).
  EchoReloader reload = [&loader](const EchoConfig& running) -> std::shared_ptr<const EchoConfig> {
    auto next = reload_settings(loader, running, needs_restart);
    if (!next) return nullptr;
    next->tls = running.tls;  // the one context, made at start-up
    configure_logging(next->server);
    log::info("SIGHUP: configuration reloaded; the next client gets it");
    return std::make_shared<const EchoConfig>(std::move(*next));
  };
  try {
    std::optional<tls::TlsContext> tls_context;
    if (cfg.tls_flags.enabled()) {
      tls::ServerOptions options = cfg.tls_flags.options();
      options.alpn.clear();  // an echo server speaks no ALPN protocol (not http/1.1)
      tls_context = tls::TlsContext::server(options);  // throws TlsError naming the file
      cfg.tls = &*tls_context;
    }
    ignore_sigpipe();
    // Before any thread starts. UDP mode does not reload: SIGHUP keeps its default there.
    Fd signals = cfg.udp ? block_signals({SIGINT, SIGTERM})
                         : block_signals({SIGINT, SIGTERM, SIGHUP, SIGUSR1});
    int rc = cfg.udp ? run_udp(cfg, signals.get())
                     : run_tcp(cfg, max_workers(cfg), signals.get(), reload);
    log::event(log::Level::Info, "stopped", {});
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo-server: %s\n", e.what());
    return 1;
  }
}
