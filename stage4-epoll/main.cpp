// http-epoll: stage 4, every connection on one thread around one epoll instance.
//
//   main: flags -> HttpService -> listen -> EventLoop + SignalWatcher -> run()
//   SIGINT/SIGTERM: graceful shutdown (stop accepting, finish in-flight responses,
//   close idle connections); a second signal closes everything at once.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <optional>

#include "event_loop.hpp"
#include "http_server.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/tls/flags.hpp"
#include "serverlab/tls/metrics.hpp"

using namespace serverlab;

int main(int argc, char** argv) {
  http::HttpConfig config;
  bool edge_triggered = false;
  int max_connections = 10000;
  Flags flags("http-epoll", "HTTP/1.1 static file server: one thread, one epoll loop (stage 4)");
  http::add_http_flags(flags, config, 8080);
  flags.add("edge-triggered", edge_triggered,
            "register sockets with EPOLLET (read/write until EAGAIN) instead of level-triggered");
  flags.add("max-connections", max_connections,
            "stop accepting while this many connections are open (0: no limit)", 0);
  tls::ServerFlags tls_flags;
  tls::add_server_flags(flags, tls_flags);
  flags.parse_or_exit(argc, argv);

  try {
    configure_logging(config.server);
    ignore_sigpipe();

    EventLoop loop(LoopOptions{.edge_triggered = edge_triggered});
    // SIGINT and SIGTERM are blocked here and read from a signalfd on the loop, so
    // shutdown() runs on the loop thread like any handler. http-epoll has one thread:
    // blocking them first thing keeps it true that only the signalfd receives them.
    // One that arrives before run() waits in the signalfd; server_ptr is set by then.
    EpollHttpServer* server_ptr = nullptr;
    SignalWatcher signals(loop, {SIGINT, SIGTERM}, [&server_ptr](int) {
      if (server_ptr != nullptr) server_ptr->shutdown();
    });

    Metrics metrics;
    http::HttpService service(config, &metrics);
    std::optional<tls::TlsContext> tls;  // --tls-cert: HTTPS (a bad file ends here, exit 1)
    if (tls_flags.enabled()) {
      tls = tls::TlsContext::server(tls_flags.options());
      tls::add_metrics(metrics, *tls);
    }
    EpollServerOptions options;
    options.tls = tls ? &*tls : nullptr;
    options.max_connections = static_cast<std::size_t>(max_connections);
    options.shutdown_timeout = config.server.shutdown_timeout;
    EpollHttpServer server(loop, service, options);
    server_ptr = &server;

    metrics.add_gauge("serverlab_epoll_sessions_in_use",
                      "HTTP sessions (with their buffers) lent to busy connections",
                      [&server] { return static_cast<double>(server.sessions().outstanding()); });
    metrics.add_gauge("serverlab_epoll_sessions_free", "HTTP sessions waiting in the pool",
                      [&server] { return static_cast<double>(server.sessions().free_count()); });
    metrics.add_gauge("serverlab_epoll_timers", "timers pending in the loop's heap",
                      [&loop] { return static_cast<double>(loop.timer_count()); });
    metrics.add_gauge("serverlab_epoll_handler_errors",
                      "event handlers that threw (each was logged and unregistered)",
                      [&loop] { return static_cast<double>(loop.handler_errors()); });

    Fd listener = listen_tcp(config.server.bind, config.server.port,
                             ListenOptions{.backlog = 511, .reuse_port = false, .nonblocking = true});
    announce_listening(listener.get());
    server.listen(std::move(listener));
    log::info("http-epoll serving {} ({}-triggered, {})", config.root,
              edge_triggered ? "edge" : "level", tls ? "https" : "http");

    loop.set_before_sleep([&server] { server.before_sleep(); });
    loop.run();
    server.before_sleep();
    log::info("http-epoll stopped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http-epoll: %s\n", e.what());
    return 1;
  }
  return 0;
}
