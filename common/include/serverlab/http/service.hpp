// http/service.hpp: HttpService, everything a connection needs that is shared
// by all connections: the config, the open-file cache, the static-file handler,
// the access log, the metrics registry, the protocol-error log's rate limiter,
// the middleware chain and the router.
//
//   request --> normalize_path --> middleware chain (middleware.hpp):
//                                  request ID, [access log], rate limit, auth, [metrics]
//           --> router (router.hpp): a route for the path?
//                 method routed   --> its handler (/-/health, /-/metrics, /-/form, /api/...)
//                 method not      --> 405 with Allow
//           --> no route: method check (405/501), a bad path (400), StaticFiles
//
// /api/notes (api_notes.hpp) exists with --api on.
// The /-/ routes exist with --admin on (the default): /-/health answers "ok",
// /-/metrics the Prometheus text (when a Metrics registry is given), /-/form the
// submitted GET fields as an HTML page (form.hpp; Cache-Control: no-store).
//
// Built once in main() (throws SysError when the root or the access log cannot
// be opened), routes added before serving starts; afterwards it is read-only
// and handle() may be called from any number of threads at once.
// Who may call: main() builds it and adds routes; then any thread calls handle().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/http/access_log.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/file_cache.hpp"
#include "serverlab/http/middleware.hpp"
#include "serverlab/http/router.hpp"
#include "serverlab/http/static_files.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"

namespace serverlab::http {

class NotesApi;
class MiddlewareState;

class HttpService {
 public:
  using RouteHandler = std::function<void(const Request&, Response&)>;

  // `metrics` may be null (no counting, and /-/metrics answers 404). `state`: the
  // middleware's memory (buckets, notes, connection counts) to use, shared with
  // the services this one replaces or is replaced by on a reload
  // (middleware_state.hpp); null: a state of its own. Sets the state's
  // connection limit to this config's --max-conns-per-ip.
  explicit HttpService(HttpConfig config, Metrics* metrics = nullptr,
                       std::shared_ptr<MiddlewareState> state = nullptr);
  ~HttpService();
  HttpService(const HttpService&) = delete;
  HttpService& operator=(const HttpService&) = delete;

  // Answers GET/HEAD of exactly `path` (normalized, e.g. "/server-status") with
  // `handler` before static files are looked at. Not thread-safe: call before serving.
  void add_route(std::string path, RouteHandler handler);
  // The general form: `methods` of `path` (exact, or the path and everything
  // under it) go to `handler`, which also sees the Exchange (peer, body, request
  // ID). Other methods of a routed path get 405 with Allow. Call before serving.
  // `reads_body`: see Router::add.
  void add_route(Router::Match match, std::string path, std::initializer_list<Method> methods,
                 Router::Handler handler, bool reads_body = false);
  // True when the route `request` goes to reads its body (the session then reads
  // the body first and calls handle() with Exchange::body set). Thread-safe.
  bool reads_body(const Request& request) const;

  // Fills `response` (which the caller has reset): the middleware chain, then the
  // router or static files. Thread-safe; blocks on file-system calls. `exchange`
  // carries the peer and the request ID storage (session.cpp fills it).
  void handle(Exchange& exchange, const Request& request, Response& response) const;
  // The same with no peer and no request ID (tests, tools).
  void handle(const Request& request, Response& response) const;

  // The steps of the chain that are on, in order (for tests and docs).
  const std::vector<std::unique_ptr<Middleware>>& chain() const { return chain_; }
  bool request_ids_on() const { return config_.middleware.request_id_on(); }
  // An error page response for `status`.
  void error(int status, Response& response) const { files_.error(status, response); }

  const HttpConfig& config() const { return config_; }
  Metrics* metrics() const { return metrics_; }
  // The middleware's memory; its connections() is what the stages' accept paths ask.
  MiddlewareState& state() const { return *state_; }
  const AccessLog& access_log() const { return access_log_; }
  FileCache& file_cache() const { return cache_; }
  const StaticFiles& static_files() const { return files_; }

  // Writes one error-log record (level info) for a request answered with an error
  // status and closed: the peer's address, the status, `reason` (what was wrong)
  // and the first line of `head` (the bytes received, possibly empty), at most
  // --error-log-rate records a second; a record that follows refused ones says
  // first how many were suppressed. Thread-safe and cheap when refused (no
  // formatting, no lock). Sessions call it from their error path.
  // `request_id`, when not empty, is written with the record (--request-id on).
  void log_protocol_error(std::string_view peer, int status, std::string_view reason,
                          std::string_view head, std::string_view request_id = {}) const;

 private:
  void dispatch(Exchange& exchange, const Request& request, bool path_ok,
                Response& response) const;

  HttpConfig config_;
  Metrics* metrics_;
  std::shared_ptr<MiddlewareState> state_;
  mutable FileCache cache_;
  StaticFiles files_;
  AccessLog access_log_;
  mutable log::RateLimiter error_log_limiter_;
  std::vector<std::unique_ptr<Middleware>> chain_;
  Router router_;
  std::shared_ptr<NotesApi> notes_;  // --api on (the state's store)
};

}  // namespace serverlab::http
