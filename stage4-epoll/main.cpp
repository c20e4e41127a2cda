// http-epoll: stage 4, every connection on one thread around one epoll instance.
//
//   main: flags -> HttpService -> listen -> EventLoop + SignalWatcher -> run()
//   SIGINT/SIGTERM: graceful shutdown (stop accepting, finish in-flight responses,
//   close idle connections); a second signal closes everything at once.
//
// Reload (docs/CONFIG.md), on the loop thread like everything else:
//   SIGHUP   re-read --config. Valid: a new generation, a new HttpService and a new
//            EpollHttpServer on the same loop, accepts from a duplicate of the
//            listening socket; the old server stops accepting and keeps its open
//            connections, with the old service, until they close; then it is
//            deleted. Invalid (or --port/--bind/--edge-triggered changed): one log
//            line says why and nothing changes.
//   SIGUSR1  the same with the running configuration: the new service opens the
//            access log again (after logrotate moved it).
// Both run apply_reload (reload.hpp). Every generation's service shares one
// MiddlewareState: the rate-limit buckets, the notes and the connections counted
// per address (--max-conns-per-ip) outlive a reload.
#include <fcntl.h>
#include <signal.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "access_log_timer.hpp"
#include "event_loop.hpp"
#include "http_server.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/middleware_state.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/reload.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"
#include "serverlab/tls/metrics.hpp"

using namespace serverlab;

namespace {

struct Settings {
  http::HttpConfig http;
  bool edge_triggered = false;
  int max_connections = 10000;
};

void define_flags(Flags& flags, Settings& s) {
  http::add_http_flags(flags, s.http, 8080);
  flags.add("edge-triggered", s.edge_triggered,
            "register sockets with EPOLLET (read/write until EAGAIN) instead of level-triggered");
  flags.add("max-connections", s.max_connections,
            "stop accepting while this many connections are open (0: no limit)", 0);
}

// What a reload cannot change: the listening socket and the loop's trigger mode.
std::optional<std::string> needs_restart(const Settings& before, const Settings& after) {
  if (auto c = http::listener_change(before.http, after.http)) return c;
  return changed("edge-triggered", before.edge_triggered, after.edge_triggered);
}

// One configuration at work: its service and the server that uses it. The server
// is declared last, so it is destroyed first.
struct Generation {
  std::shared_ptr<const http::HttpService> service;
  std::unique_ptr<EpollHttpServer> server;
};

// The generations of this process: the current one accepts; older ones finish
// the connections they have. Loop thread only.
class Generations {
 public:
  // `tls`: the TLS context every generation serves with (null: plain HTTP). TLS
  // settings never change on reload (http::listener_change refuses them).
  Generations(EventLoop& loop, Fd listener, Metrics& metrics, const tls::TlsContext* tls)
      : loop_(loop),
        listener_(std::move(listener)),
        metrics_(metrics),
        tls_(tls),
        state_(std::make_shared<http::MiddlewareState>(&metrics)) {}

  // Starts a generation that accepts; the current one, if any, stops accepting
  // and drains. Throws (SysError, ...) when the service cannot be built; then
  // nothing has changed.
  void start(const Settings& settings) {
    if (stopping_) throw std::runtime_error("the server is shutting down");
    Generation next;
    next.service = std::make_shared<const http::HttpService>(settings.http, &metrics_, state_);
    EpollServerOptions options;
    options.tls = tls_;
    options.max_connections = static_cast<std::size_t>(settings.max_connections);
    options.shutdown_timeout = settings.http.server.shutdown_timeout;
    next.server = std::make_unique<EpollHttpServer>(loop_, *next.service, options);
    const int copy = ::fcntl(listener_.get(), F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw SysError("dup listener");
    next.server->listen(Fd(copy));
    if (current_.server) {
      current_.server->stop_accepting();  // closes its copy of the listener only
      draining_.push_back(std::move(current_));
    }
    current_ = std::move(next);
  }

  // Graceful stop: no more accepting anywhere; the loop stops when the current
  // generation's connections are done (the draining ones are told to finish too).
  void shutdown() {
    stopping_ = true;
    listener_.reset();
    for (Generation& g : draining_) {
      if (g.server->connection_count() > 0 && !g.server->shutting_down()) g.server->shutdown();
    }
    current_.server->shutdown();
  }

  // The loop's before_sleep hook: deletes closed connections, then the old
  // generations that have none left.
  void before_sleep() {
    current_.server->before_sleep();
    for (std::size_t i = draining_.size(); i-- > 0;) {
      draining_[i].server->before_sleep();
      if (draining_[i].server->connection_count() == 0) {
        log::debug("an old configuration's last connection closed");
        draining_.erase(draining_.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
  }

  EpollHttpServer& current() { return *current_.server; }
  const std::string& root() const { return current_.service->config().root; }

 private:
  EventLoop& loop_;
  Fd listener_;  // the original: each generation accepts from a duplicate
  Metrics& metrics_;
  const tls::TlsContext* tls_;
  // The middleware's memory (buckets, notes, connections per address), shared by
  // every generation: a reload forgets none of it. Declared before the
  // generations, so it outlives them.
  std::shared_ptr<http::MiddlewareState> state_;
  Generation current_;
  std::vector<Generation> draining_;
  bool stopping_ = false;  // shutdown() was called: no new generation
};

// SIGHUP (re-read the file) or SIGUSR1 (reopen logs: the same settings, anew).
void on_control_signal(int signo, ConfigLoader<Settings>& loader, Settings& running,
                       Generations& generations) {
  apply_reload(
      signo, loader, running, needs_restart,
      [&generations](const Settings& next) { generations.start(next); },
      [](const Settings& s) -> const ServerOptions& { return s.http.server; },
      "new connections get it");
}

}  // namespace

int main(int argc, char** argv) {
  ConfigLoader<Settings> loader("http-epoll",
                                "HTTP/1.1 static file server: one thread, one epoll loop (stage 4)",
                                define_flags, argc, argv);
  Settings settings = loader.load_or_exit();

  try {
    configure_logging(settings.http.server);
    ignore_sigpipe();

    EventLoop loop(LoopOptions{.edge_triggered = settings.edge_triggered});
    // SIGINT and SIGTERM are blocked here and read from a signalfd on the loop, so
    // shutdown() runs on the loop thread like any handler. http-epoll has one thread:
    // blocking them first thing keeps it true that only the signalfd receives them.
    // One that arrives before run() waits in the signalfd; generations_ptr is set by then.
    Generations* generations_ptr = nullptr;
    SignalWatcher signals(loop, {SIGINT, SIGTERM}, [&generations_ptr](int) {
      if (generations_ptr != nullptr) generations_ptr->shutdown();
    });
    SignalWatcher control(loop, {SIGHUP, SIGUSR1}, [&](int signo) {
      if (generations_ptr != nullptr) on_control_signal(signo, loader, settings, *generations_ptr);
    });

    Metrics metrics;
    std::optional<tls::TlsContext> tls;  // --tls-cert: HTTPS (a bad file ends here, exit 1)
    if (settings.http.tls.enabled()) {
      tls::ServerOptions options = settings.http.tls.options();
      options.alpn = {"h2", "http/1.1"};  // HTTP/2 when the client offers it (ALPN)
      tls = tls::TlsContext::server(options);
      tls::add_metrics(metrics, *tls);
    }
    Fd listener =
        listen_tcp(settings.http.server.bind, settings.http.server.port,
                   ListenOptions{.backlog = 511, .reuse_port = false, .nonblocking = true});
    announce_listening(listener.get());
    Generations generations(loop, std::move(listener), metrics, tls ? &*tls : nullptr);
    generations.start(settings);
    generations_ptr = &generations;

    metrics.add_gauge("serverlab_epoll_sessions_in_use",
                      "HTTP sessions (with their buffers) lent to busy connections",
                      [&generations] {
                        return static_cast<double>(generations.current().sessions().outstanding());
                      });
    metrics.add_gauge("serverlab_epoll_sessions_free", "HTTP sessions waiting in the pool",
                      [&generations] {
                        return static_cast<double>(generations.current().sessions().free_count());
                      });
    metrics.add_gauge("serverlab_epoll_timers", "timers pending in the loop's heap",
                      [&loop] { return static_cast<double>(loop.timer_count()); });
    metrics.add_gauge("serverlab_epoll_handler_errors",
                      "event handlers that threw (each was logged and unregistered)",
                      [&loop] { return static_cast<double>(loop.handler_errors()); });

    log::info("http-epoll serving {} ({}-triggered, {})", generations.root(),
              settings.edge_triggered ? "edge" : "level", tls ? "https" : "http");

    loop.set_before_sleep([&generations] { generations.before_sleep(); });
    flush_access_logs_on_timer(loop);
    loop.run();
    generations.before_sleep();
    log::info("http-epoll stopped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http-epoll: %s\n", e.what());
    return 1;
  }
  return 0;
}
