// http-threadpool: the stage 3 server. The main thread accepts and waits, with
// poll(2), until a connection's request head has arrived; --threads workers pop
// ready connections from a bounded queue and serve each with blocking I/O
// (serve_connection, the same driver as stage 2).
//
//   main:    poll(listener, waiting connections, ...) -> accept4 -> waiting set
//            head complete -> pool.submit(conn)        (--overload block)
//                          or 503 + close              (--overload reject)
//            (acceptor.hpp; fairness between busy keep-alive clients: fairness.hpp)
//   worker:  pop conn -> serve_connection(conn) -> closed, or parked when idle:
//            given back to the main thread's waiting set -> pop ...
//
// So a worker is taken only by a connection with a request to answer: a slow or
// idle client costs a pollfd, not a thread (see "Slow clients" in the README).
//
// Shutdown (SIGINT/SIGTERM, read from a signalfd that every worker also polls):
// stop accepting, let each worker finish its response in flight, close waiting
// and queued connections without serving them (no RST), join the workers. If
// they have not all finished within --shutdown-timeout (plus the lingering
// close's bound), the process exits anyway.
#include <poll.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

#include "acceptor.hpp"
#include "fairness.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/serve.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/tls/flags.hpp"
#include "serverlab/tls/metrics.hpp"
#include "thread_pool.hpp"

using namespace serverlab;

namespace {

constexpr double kParkIdle = 0.1;  // an idle keep-alive connection keeps its worker this long
constexpr double kLingerAllowance = kLingerMs / 1000.0 + 1.0;  // lingering close, plus slack

bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

}  // namespace

int main(int argc, char** argv) {
  http::HttpConfig config;
  int threads = 64;
  int queue = 256;
  std::string overload = "block";
  Flags flags("http-threadpool",
              "Stage 3: HTTP/1.1 static-file server, acceptor + bounded queue + worker threads");
  http::add_http_flags(flags, config, 8080);
  flags.add("threads", threads, "worker threads (each serves one connection at a time)", 1, 4096);
  flags.add("queue", queue, "connections with a complete request that may wait for a worker", 1,
            1 << 20);
  flags.add_choice("overload", overload, {"block", "reject"},
                   "queue full: block (stop accepting) or reject (503 + Retry-After)");
  tls::ServerFlags tls_flags;
  tls::add_server_flags(flags, tls_flags);
  flags.parse_or_exit(argc, argv);
  configure_logging(config.server);

  try {
    ignore_sigpipe();
    Fd signals = block_signals({SIGINT, SIGTERM});  // before any thread: workers inherit it
    Metrics metrics;
    http::HttpService service(config, &metrics);
    std::optional<tls::TlsContext> tls;  // --tls-cert: HTTPS (a bad file ends here, exit 1)
    if (tls_flags.enabled()) {
      tls = tls::TlsContext::server(tls_flags.options());
      tls::add_metrics(metrics, *tls);
    }
    Acceptor acceptor(listen_tcp(config.server.bind, config.server.port), signals.get(), service,
                      overload == "reject");
    acceptor.set_tls(tls.has_value());
    Fairness fairness(static_cast<std::size_t>(threads));

    auto serve = [&](Ready conn, std::size_t id) {
      if (readable_now(signals.get())) {  // stopping: a queued connection is not served
        conn.fd.reset();                  // its head was read already, so this is a FIN, not a RST
        metrics.connection_closed();
        return;
      }
      http::ConnectionOptions options;
      options.stop_fd = signals.get();
      options.shutdown_grace = config.server.shutdown_timeout;
      options.peer = std::move(conn.peer);
      options.park_idle = kParkIdle;
      options.park_now = fairness.begin(id);
      options.resume = conn.carry;
      options.preread = conn.head;
      options.tls = tls ? &*tls : nullptr;  // a TLS connection never parks (serve.hpp)
      auto parked = http::serve_connection(std::move(conn.fd), service, options);
      fairness.end(id);
      if (parked)
        acceptor.give_back(std::move(*parked));
      else
        metrics.connection_closed();
    };
    WorkerPool<Ready> pool(static_cast<std::size_t>(threads), static_cast<std::size_t>(queue),
                           serve);

    metrics.add_gauge("serverlab_queue_depth", "Connections with a request waiting for a worker.",
                      [&] { return static_cast<double>(pool.queued()); });
    metrics.add_gauge("serverlab_waiting_heads",
                      "Connections waiting, without a worker, for a request head to arrive.",
                      [&] { return static_cast<double>(acceptor.waiting()); });
    metrics.add_gauge("serverlab_workers_busy", "Worker threads serving a connection.",
                      [&] { return static_cast<double>(pool.busy()); });
    metrics.add_gauge("serverlab_workers", "Worker threads started (--threads).",
                      [&] { return static_cast<double>(pool.threads()); });

    acceptor.run(pool, fairness);  // until SIGINT/SIGTERM

    // The signal stays unread until the workers are done: a pending signal keeps
    // the signalfd readable, and that is what tells every serve_connection to stop.
    auto limit = std::chrono::duration<double>(config.server.shutdown_timeout + kLingerAllowance);
    if (!pool.stop(limit)) {
      log::warn("{} workers still busy after --shutdown-timeout; exiting anyway", pool.busy());
      std::fflush(nullptr);
      std::_Exit(0);
    }
    log::info("signal {} received, all workers stopped", read_signal(signals.get()));
  } catch (const std::exception& e) {
    log::error("http-threadpool: {}", e.what());
    return 1;
  }
  return 0;
}
