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
// Reload (docs/CONFIG.md): a small reloader thread reads SIGHUP and SIGUSR1 from a
// signalfd of their own. SIGHUP re-reads --config and swaps in a new HttpService
// (a Snapshot): each connection takes the current one when a worker starts on it,
// so a request never sees half of one configuration and half of another. SIGUSR1
// rebuilds the service from the running configuration (it reopens the access log).
// Both run apply_reload (reload.hpp). Every service shares one MiddlewareState:
// a reload keeps the rate-limit buckets, the notes and the connections counted
// per address (--max-conns-per-ip, checked by the acceptor).
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
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "acceptor.hpp"
#include "fairness.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/middleware_state.hpp"
#include "serverlab/http/serve.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/reload.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
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

// Everything the flags set. threads, queue and overload size the pool at start.
struct Settings {
  http::HttpConfig http;
  int threads = 64;
  int queue = 256;
  std::string overload = "block";
};

void define_flags(Flags& flags, Settings& s) {
  http::add_http_flags(flags, s.http, 8080);
  flags.add("threads", s.threads, "worker threads (each serves one connection at a time)", 1, 4096);
  flags.add("queue", s.queue, "connections with a complete request that may wait for a worker", 1,
            1 << 20);
  flags.add_choice("overload", s.overload, {"block", "reject"},
                   "queue full: block (stop accepting) or reject (503 + Retry-After)");
}

// What a reload cannot change in a running process: the listener and the pool's shape.
std::optional<std::string> needs_restart(const Settings& before, const Settings& after) {
  if (auto c = http::listener_change(before.http, after.http)) return c;
  if (auto c = changed("threads", before.threads, after.threads)) return c;
  if (auto c = changed("queue", before.queue, after.queue)) return c;
  return changed("overload", before.overload, after.overload);
}

// The reloader thread: SIGHUP and SIGUSR1 from `control`, until `stop` is readable
// (it is never read here: the workers and the acceptor must still see it).
void run_reloader(int control, int stop, ConfigLoader<Settings>& loader, Settings& running,
                  Snapshot<http::HttpService>& services, Metrics& metrics,
                  const std::shared_ptr<http::MiddlewareState>& state) {
  while (wait_readable(control, stop, -1) == control) {
    apply_reload(
        read_signal(control), loader, running, needs_restart,
        [&](const Settings& next) {
          services.set(std::make_shared<const http::HttpService>(next.http, &metrics, state));
        },
        [](const Settings& s) -> const ServerOptions& { return s.http.server; },
        "new connections get it");
  }
}

}  // namespace

int main(int argc, char** argv) {
  ConfigLoader<Settings> loader(
      "http-threadpool",
      "Stage 3: HTTP/1.1 static-file server, acceptor + bounded queue + worker threads",
      define_flags, argc, argv);
  Settings settings = loader.load_or_exit();
  const http::HttpConfig& config = settings.http;  // read only before and after the reloader
  const int threads = settings.threads;
  const int queue = settings.queue;
  configure_logging(config.server);

  try {
    ignore_sigpipe();
    Fd signals = block_signals({SIGINT, SIGTERM});  // before any thread: workers inherit it
    Fd control = block_signals({SIGHUP, SIGUSR1});  // apart: they must not stop a connection
    Metrics metrics;
    std::optional<tls::TlsContext> tls;  // --tls-cert: HTTPS (a bad file ends here, exit 1)
    if (config.tls.enabled()) {
      tls = tls::TlsContext::server(config.tls.options());
      tls::add_metrics(metrics, *tls);
    }
    // The middleware's memory (buckets, notes, connections per address): shared by
    // every service a reload builds, so a reload forgets none of it.
    auto state = std::make_shared<http::MiddlewareState>(&metrics);
    Snapshot<http::HttpService> services(
        std::make_shared<const http::HttpService>(config, &metrics, state));
    Acceptor acceptor(listen_tcp(config.server.bind, config.server.port), signals.get(), services,
                      settings.overload == "reject");
    acceptor.set_tls(tls.has_value());
    Fairness fairness(static_cast<std::size_t>(threads));

    auto serve = [&](Ready conn, std::size_t id) {
      if (readable_now(signals.get())) {  // stopping: a queued connection is not served
        conn.fd.reset();                  // its head was read already, so this is a FIN, not a RST
        metrics.connection_closed();
        return;
      }
      const std::shared_ptr<const http::HttpService> service = services.get();  // to its end
      http::ConnectionOptions options;
      options.stop_fd = signals.get();
      options.shutdown_grace = service->config().server.shutdown_timeout;
      options.peer = std::move(conn.peer);
      options.park_idle = kParkIdle;
      options.park_now = fairness.begin(id);
      options.resume = conn.carry;
      options.preread = conn.head;
      options.tls = tls ? &*tls : nullptr;  // a TLS connection never parks (serve.hpp)
      auto parked = http::serve_connection(std::move(conn.fd), *service, options);
      fairness.end(id);
      if (parked)
        acceptor.give_back(std::move(*parked), std::move(conn.slot));
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

    std::thread reloader(run_reloader, control.get(), signals.get(), std::ref(loader),
                         std::ref(settings), std::ref(services), std::ref(metrics),
                         std::cref(state));
    acceptor.run(pool, fairness);  // until SIGINT/SIGTERM
    reloader.join();               // it sees the same stop signal and returns

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
