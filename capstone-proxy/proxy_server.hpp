// proxy_server.hpp: ProxyServer, the reverse proxy on stage 4's EventLoop: it
// accepts clients, owns the backends and their pools, and answers /-/metrics.
//
//   client --> [ClientConn] --parse (common's parser), pick a backend (Picker),
//                 |            take a pooled connection or connect (non-blocking)
//                 v
//            [UpstreamConn] --> backend: re-framed request head, then the body as it
//                 |                       arrives (never buffered whole)
//                 v
//   client <-- response head (hop-by-hop fields dropped, Via added), body streamed
//
// Backpressure: a side is read only while the buffer it feeds holds less than
// kHighWater bytes, so a slow reader on one side stops the reading on the other
// and memory stays bounded per connection (about 2 x kHighWater each way).
//
// Who may call: main() builds it, listen()s and runs the loop; everything else
// runs on the loop thread (not thread-safe). Setup throws SysError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.hpp"
#include "event_loop.hpp"
#include "picker.hpp"
#include "routes.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/parser.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"

namespace serverlab::proxy {

class ClientConn;
class HealthProbe;

// Where requests go: the [[upstream]] groups, each with its own picker over its
// backends, and the [[route]] rules pointing at them (Route::group).
struct Routing {
  struct Group {
    std::vector<Backend*> members;  // owned by the ProxyServer
    std::unique_ptr<Picker> picker;
  };
  std::vector<Group> groups;
  std::vector<Route> routes;

  // The route for a request (routes.hpp's rules), or nullptr: the proxy answers 404.
  const Route* route_for(std::string_view host, std::string_view path) const;
  Balance balance_of(const Route& route) const { return groups[route.group].picker->balance(); }
};

struct ProxyOptions {
  // Where requests go: the [[upstream]] groups and [[route]] rules of the config
  // file (routes.hpp). When `upstreams` is empty, `backends` (the --upstream flags)
  // form one group that every request goes to.
  std::vector<UpstreamGroup> upstreams;
  std::vector<Route> routes;
  std::vector<BackendSpec> backends;
  Balance balance = Balance::RoundRobin;  // for groups that name no balance
  double connect_timeout = 2.0;    // seconds for a backend's TCP handshake
  double read_timeout = 30.0;      // seconds a backend may stay silent mid-exchange
  double write_timeout = 30.0;     // seconds a client may leave our output unread
  double header_timeout = 10.0;    // seconds for a client's request head
  double keepalive_timeout = 15.0; // seconds an idle client connection is kept
  double pool_idle_timeout = 4.0;  // seconds a pooled backend connection is reused within
  std::size_t pool_size = 64;      // idle connections kept per backend
  int retries = 1;                 // extra backends tried for a failed idempotent request
  unsigned fail_threshold = 3;     // failures in a row that open a backend's breaker
  double fail_cooldown = 2.0;      // seconds an open breaker waits before a probe
  std::string health_path;         // active check: GET this path ("" = off)
  double health_interval = 1.0;
  http::ParseLimits limits{.max_request_line = 8 * 1024, .max_header_bytes = 16 * 1024,
                           .max_headers = 100, .max_body = std::uint64_t{1} << 40};
  std::size_t max_response_head = 32 * 1024;  // a bigger backend head -> 502
  std::string access_log = "off";   // "-" (stdout), a path, or "off"
  bool admin = true;                // answer /-/metrics here (off: forward it like any path)
  int max_keepalive_requests = 1000;  // per client connection, then Connection: close
  int error_log_rate = 10;          // protocol-error records a second (0: none)
  double shutdown_timeout = 5.0;
};

class ProxyServer final : public EventHandler {
 public:
  static constexpr std::size_t kHighWater = 64 * 1024;

  // Resolves every backend (numeric address or "localhost"; throws runtime_error
  // for a name that does not resolve).
  ProxyServer(EventLoop& loop, ProxyOptions options, Metrics& metrics);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  void listen(Fd listen_fd);
  void on_event(std::uint32_t events) override;  // the listening socket
  // Stops accepting; idle clients close now, busy ones after their response; the
  // loop stops when none is left (or after shutdown_timeout).
  void shutdown();
  // Deletes what was retired this iteration; call from the loop's before_sleep hook.
  void before_sleep();

  // ---- for ClientConn and UpstreamConn
  EventLoop& loop() { return loop_; }
  const ProxyOptions& options() const { return options_; }
  Metrics& metrics() { return metrics_; }
  std::vector<std::unique_ptr<Backend>>& backends() { return backends_; }
  // The routing in force. A request takes it when its head arrives and keeps it to
  // its end, so a reload never changes the group of a request already under way.
  std::shared_ptr<Routing> routing() const { return routing_; }
  // Chooses a backend of the route's group for a request, skipping those in `tried`
  // and those whose breaker is open; nullptr when none is usable. The choice is
  // recorded with the breaker (a due probe becomes this request).
  Backend* pick(Routing& routing, const Route& route, std::string_view key,
                const std::vector<Backend*>& tried);
  // SIGHUP: the upstreams, routes, --upstream backends and --balance of `next` replace
  // the running ones (other settings need a restart). A backend kept keeps its pool
  // and breaker; one dropped finishes its exchanges and is no longer picked or probed.
  // False (and one log line) when `next` cannot be applied (a name that does not
  // resolve): the running routing stays.
  bool reload(ProxyOptions next);
  void on_idle_upstream_event(UpstreamConn& conn);
  void retire(std::unique_ptr<UpstreamConn> conn);
  void release(ClientConn& client);  // a closed client, deleted in before_sleep()
  // One error-log record for a request the proxy refused (rate-limited like the
  // servers' records): the peer, the status, what was wrong, the request line.
  void log_protocol_error(std::string_view peer, int status, std::string_view reason,
                          std::string_view head);
  bool access_log_enabled() const { return access_log_fd_ >= 0; }
  void write_access_log(std::string_view line);
  bool shutting_down() const { return shutting_down_; }
  // The /-/metrics body: common's registry, then the per-backend families.
  std::string render_metrics() const;

 private:
  void accept_all();
  void sweep();  // every second: expire pooled connections, run health checks
  void start_health_checks();
  void maybe_finish_shutdown();

  EventLoop& loop_;
  ProxyOptions options_;
  Metrics& metrics_;
  // A Routing for `options`' groups and routes, over backends_ (new addresses are
  // added to it; throws runtime_error for a name that does not resolve).
  std::shared_ptr<Routing> build_routing(ProxyOptions& options);

  // Each address once, whatever its groups; never shrinks (a request may still point
  // at a backend a reload dropped), so Backend pointers stay valid.
  std::vector<std::unique_ptr<Backend>> backends_;
  std::shared_ptr<Routing> routing_;
  std::vector<Candidate> candidates_;  // reused by pick()
  Fd listen_;
  SpareFd spare_;  // EMFILE: shed one waiting client instead of spinning
  Fd access_log_;
  int access_log_fd_ = -1;
  std::vector<std::unique_ptr<ClientConn>> clients_;
  std::vector<std::unique_ptr<ClientConn>> dead_clients_;
  std::vector<std::unique_ptr<UpstreamConn>> dead_upstreams_;
  std::vector<std::unique_ptr<HealthProbe>> probes_;
  log::RateLimiter error_log_limiter_;
  bool shutting_down_ = false;
  TimerId sweep_timer_;
  std::uint64_t last_health_ms_ = 0;
};

}  // namespace serverlab::proxy
