// http-seq: the stage 2 server. A static-file HTTP/1.1 server that serves one
// connection at a time, like CS:APP's tiny, but correct:
//
//   listen -> loop { wait for a client or a stop signal
//                    accept4 -> serve_connection (read, respond, repeat or close) }
//
// All HTTP logic lives in libserverlab (HttpService, HttpSession,
// serve_connection); this file is only the concurrency model, which here is
// "none": while one client is served, the next waits in the listen backlog.
// By default every response says Connection: close; --keep-alive keeps the
// connection for further (and pipelined) requests.
//
// Reload (docs/CONFIG.md): SIGHUP re-reads --config; the next accepted client is
// served by a new HttpService built from it (an invalid file is logged and the
// running configuration stays). SIGUSR1 rebuilds the service from the running
// configuration, which reopens the access log (after logrotate moved it). Both
// run apply_reload (reload.hpp); every service shares one MiddlewareState, so a
// reload keeps the rate-limit buckets and the notes.
//
// --max-conns-per-ip is asked at accept like in every stage, but one client at a
// time means one connection per address at most: here it never refuses.
//
// Out of descriptors (EMFILE/ENFILE) the waiting client would keep the listener
// readable and the loop would spin on accept4: it is accepted with a spare
// descriptor and closed at once instead (SpareFd in socket.hpp).
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>

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

using namespace serverlab;

namespace {

void define_flags(Flags& flags, http::HttpConfig& config) {
  config.keep_alive = false;
  http::add_http_flags(flags, config, 8080);
  flags.add("keep-alive", config.keep_alive,
            "keep connections open for further requests (and answer pipelined ones)");
}

// Waits for the stop signals, the reload signals or the listener (-1: not now).
// Returns the first ready descriptor in that order, or -1 after timeout_ms.
int wait_for(int stop_fd, int control_fd, int listener_fd, int timeout_ms) {
  pollfd fds[3] = {{stop_fd, POLLIN, 0}, {control_fd, POLLIN, 0}, {listener_fd, POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, 3, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    for (const pollfd& p : fds) {
      if (p.revents != 0) return p.fd;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  ConfigLoader<http::HttpConfig> loader(
      "http-seq", "Stage 2: sequential HTTP/1.1 static-file server (one client at a time)",
      define_flags, argc, argv);
  http::HttpConfig config = loader.load_or_exit();
  configure_logging(config.server);

  try {
    ignore_sigpipe();
    Fd signals = block_signals({SIGINT, SIGTERM});
    Fd control = block_signals({SIGHUP, SIGUSR1});  // apart: they must not stop a connection
    Metrics metrics;
    // The middleware's memory (rate-limit buckets, notes): every service built on
    // a reload shares it, so a reload forgets neither (middleware_state.hpp).
    auto state = std::make_shared<http::MiddlewareState>(&metrics);
    auto service = std::make_unique<http::HttpService>(config, &metrics, state);
    std::optional<tls::TlsContext> tls;  // --tls-cert: HTTPS (a bad file ends here, exit 1)
    if (config.tls.enabled()) {
      tls = tls::TlsContext::server(config.tls.options());
      tls::add_metrics(metrics, *tls);
    }
    Fd listener = listen_tcp(config.server.bind, config.server.port);
    announce_listening(listener.get());

    http::ConnectionOptions options;
    options.stop_fd = signals.get();  // a pending signal makes serve_connection wind down
    options.tls = tls ? &*tls : nullptr;
    SpareFd spare;
    int pause_ms = -1;  // > 0: no room to accept even one client; wait before trying again
    for (;;) {
      // The signal fd goes first: a stop request wins over a waiting client.
      int ready =
          wait_for(signals.get(), control.get(), pause_ms > 0 ? -1 : listener.get(), pause_ms);
      if (ready == signals.get()) break;
      if (ready == control.get()) {
        apply_reload(
            read_signal(control.get()), loader, config,
            [](const auto& before, const auto& after) { return http::listener_change(before, after); },
            [&](const http::HttpConfig& next) {
              service = std::make_unique<http::HttpService>(next, &metrics, state);
            },
            [](const http::HttpConfig& c) -> const ServerOptions& { return c.server; },
            "the next client gets it");
        continue;
      }
      pause_ms = -1;
      if (ready != listener.get()) continue;
      sockaddr_storage address{};
      socklen_t length = sizeof address;
      Fd client(
          ::accept4(listener.get(), reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC));
      if (!client) {
        const int err = errno;
        switch (classify_accept_error(err)) {
          case AcceptFailure::Retry:
          case AcceptFailure::Drained:
            break;
          case AcceptFailure::OutOfFds:
            metrics.error("accept");
            if (!spare.shed_one(listener.get())) pause_ms = 100;
            break;
          case AcceptFailure::Resources:
            metrics.error("accept");
            log::warn("accept4: {}", std::strerror(err));
            pause_ms = 100;
            break;
        }
        continue;
      }
      // --max-conns-per-ip: one client at a time means one connection per address at
      // most, so this never refuses here; it is asked so that every stage counts alike.
      options.peer = SocketAddress{address, length}.host();
      auto slot = state->connections().acquire(options.peer);
      if (!slot) {
        http::refuse_over_connection_limit(std::move(client), *service, tls.has_value());
        continue;
      }
      metrics.connection_opened();
      options.shutdown_grace = config.server.shutdown_timeout;
      (void)http::serve_connection(std::move(client), *service, options);  // never parks here
      service->access_log().flush();  // its buffered lines, before the server may idle
      metrics.connection_closed();
    }
    log::info("signal {} received, exiting", read_signal(signals.get()));
  } catch (const std::exception& e) {
    log::error("http-seq: {}", e.what());
    return 1;
  }
  return 0;
}
