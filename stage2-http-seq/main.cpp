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
// Out of descriptors (EMFILE/ENFILE) the waiting client would keep the listener
// readable and the loop would spin on accept4: it is accepted with a spare
// descriptor and closed at once instead (SpareFd in socket.hpp).
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <optional>

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

using namespace serverlab;

int main(int argc, char** argv) {
  http::HttpConfig config;
  config.keep_alive = false;
  Flags flags("http-seq", "Stage 2: sequential HTTP/1.1 static-file server (one client at a time)");
  http::add_http_flags(flags, config, 8080);
  flags.add("keep-alive", config.keep_alive,
            "keep connections open for further requests (and answer pipelined ones)");
  tls::ServerFlags tls_flags;
  tls::add_server_flags(flags, tls_flags);
  flags.parse_or_exit(argc, argv);
  configure_logging(config.server);

  try {
    ignore_sigpipe();
    Fd signals = block_signals({SIGINT, SIGTERM});
    Metrics metrics;
    http::HttpService service(config, &metrics);
    std::optional<tls::TlsContext> tls;  // --tls-cert: HTTPS (a bad file ends here, exit 1)
    if (tls_flags.enabled()) {
      tls = tls::TlsContext::server(tls_flags.options());
      tls::add_metrics(metrics, *tls);
    }
    Fd listener = listen_tcp(config.server.bind, config.server.port);
    announce_listening(listener.get());

    http::ConnectionOptions options;
    options.stop_fd = signals.get();  // a pending signal makes serve_connection wind down
    options.shutdown_grace = config.server.shutdown_timeout;
    options.tls = tls ? &*tls : nullptr;
    SpareFd spare;
    int pause_ms = -1;  // > 0: no room to accept even one client; wait before trying again
    for (;;) {
      // The signal fd goes first: a stop request wins over a waiting client.
      int ready = wait_readable(signals.get(), pause_ms > 0 ? -1 : listener.get(), pause_ms);
      if (ready == signals.get()) break;
      pause_ms = -1;
      if (ready != listener.get()) continue;
      Fd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
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
      metrics.connection_opened();
      (void)http::serve_connection(std::move(client), service, options);  // never parks here
      metrics.connection_closed();
    }
    log::info("signal {} received, exiting", read_signal(signals.get()));
  } catch (const std::exception& e) {
    log::error("http-seq: {}", e.what());
    return 1;
  }
  return 0;
}
