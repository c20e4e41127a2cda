// http/service.hpp: HttpService, everything a connection needs that is shared
// by all connections: the config, the open-file cache, the static-file handler,
// the access log, the metrics registry, the protocol-error log's rate limiter
// and a few exact-path routes.
//
//   request --> method check (405/501) --> normalize_path (400)
//           --> route? (/-/health, /-/metrics, /-/form, stage routes) --> StaticFiles
//
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
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/http/access_log.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/file_cache.hpp"
#include "serverlab/http/static_files.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"

namespace serverlab::http {

class HttpService {
 public:
  using RouteHandler = std::function<void(const Request&, Response&)>;

  // `metrics` may be null (no counting, and /-/metrics answers 404).
  explicit HttpService(HttpConfig config, Metrics* metrics = nullptr);
  HttpService(const HttpService&) = delete;
  HttpService& operator=(const HttpService&) = delete;

  // Answers GET/HEAD of exactly `path` (normalized, e.g. "/server-status") with
  // `handler` before static files are looked at. Not thread-safe: call before serving.
  void add_route(std::string path, RouteHandler handler);

  // Fills `response` (which the caller has reset). Thread-safe; blocks on file-system calls.
  void handle(const Request& request, Response& response) const;
  // An error page response for `status`.
  void error(int status, Response& response) const { files_.error(status, response); }

  const HttpConfig& config() const { return config_; }
  Metrics* metrics() const { return metrics_; }
  const AccessLog& access_log() const { return access_log_; }
  FileCache& file_cache() const { return cache_; }
  const StaticFiles& static_files() const { return files_; }

  // Writes one error-log record (level info) for a request answered with an error
  // status and closed: the peer's address, the status, `reason` (what was wrong)
  // and the first line of `head` (the bytes received, possibly empty), at most
  // --error-log-rate records a second; a record that follows refused ones says
  // first how many were suppressed. Thread-safe and cheap when refused (no
  // formatting, no lock). Sessions call it from their error path.
  void log_protocol_error(std::string_view peer, int status, std::string_view reason,
                          std::string_view head) const;

 private:
  struct Route {
    std::string path;
    RouteHandler handler;
  };

  HttpConfig config_;
  Metrics* metrics_;
  mutable FileCache cache_;
  StaticFiles files_;
  AccessLog access_log_;
  mutable log::RateLimiter error_log_limiter_;
  std::vector<Route> routes_;
};

}  // namespace serverlab::http
