// metrics_http.hpp: MetricsEndpoint, kv-server's HTTP side door for monitoring
// (--metrics-port), and render_prometheus(), the text it serves.
//
//   GET /metrics   200, Prometheus text format 0.0.4 (render_prometheus)
//   GET /health    200 "ok"
//   /metrics or /health with another method: 405 with Allow: GET, HEAD
//   any other path: 404;  a malformed request: 400 and close (HttpSession)
//
// Nothing here parses HTTP: the endpoint is stage 4's EpollHttpServer (accept,
// Connection, pooled HttpSession) over an HttpService with three routes, on the
// same EventLoop as the RESP clients. A metrics scrape therefore runs between two
// commands, never during one, and reads the counters with no lock. The HTTP
// code's limits apply (header timeout, keep-alive timeout, request size limits),
// and at most kMaxConnections scrapers are served at once: monitoring cannot
// take the file descriptors the RESP clients need.
//
// Who may call: main() (construct after the KvServer, listen(), before_sleep()
// from the loop's hook); the loop thread only. The constructor and listen()
// throw SysError.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "event_loop.hpp"
#include "http_server.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/service.hpp"

namespace serverlab::kv {

class KvServer;

// The Prometheus exposition of `server`'s counters and gauges (names prefixed
// "kv_"; counters end in "_total"). Cost: one pass over the clients (for the
// blocked and pub/sub gauges); nothing proportional to the keyspace.
std::string render_prometheus(KvServer& server);

class MetricsEndpoint {
 public:
  static constexpr std::size_t kMaxConnections = 64;

  // `render` makes the /metrics body; it runs on the loop thread at each scrape.
  MetricsEndpoint(EventLoop& loop, std::function<std::string()> render);
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // Serves HTTP on `listen_fd` (a listening socket; made non-blocking).
  void listen(Fd listen_fd) { server_.listen(std::move(listen_fd)); }
  // Deletes closed HTTP connections: call once per loop iteration.
  void before_sleep() { server_.before_sleep(); }
  // Stops taking new scrapers (at shutdown); open connections are closed by the destructor.
  void stop_accepting() { server_.stop_accepting(); }

 private:
  static http::HttpConfig config();
  static EpollServerOptions server_options();

  http::HttpService service_;
  EpollHttpServer server_;  // after service_: it refers to it
};

}  // namespace serverlab::kv
