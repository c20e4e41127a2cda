#include "serverlab/http/service.hpp"

#include <algorithm>

#include "serverlab/http/form.hpp"
#include "serverlab/http/uri.hpp"

namespace serverlab::http {

HttpService::HttpService(HttpConfig config, Metrics* metrics)
    : config_(std::move(config)),
      metrics_(metrics),
      cache_(config_.root, FileCache::Options{config_.file_cache_entries,
                                              config_.file_cache_validity, 16 * 1024}),
      files_(config_, cache_),
      access_log_(config_.access_log),
      error_log_limiter_(config_.error_log_rate, config_.error_log_rate) {
  if (config_.admin_on()) {
    add_route("/-/health", [](const Request&, Response& r) { r.set_owned_body(kTextType, "ok\n"); });
    add_route("/-/form", [](const Request& request, Response& r) {
      r.set_owned_body(kHtmlType, render_form_page(request.query));
      r.add_header("Cache-Control", "no-store");  // it echoes what a user typed
    });
    if (metrics_ != nullptr) {
      add_route("/-/metrics", [m = metrics_](const Request&, Response& r) {
        r.set_owned_body("text/plain; version=0.0.4; charset=utf-8", m->render_prometheus());
      });
    }
  }
}

void HttpService::log_protocol_error(std::string_view peer, int status, std::string_view reason,
                                     std::string_view head) const {
  if (config_.error_log_rate <= 0 || !log::enabled(log::Level::Info)) return;
  log::RateLimiter::Decision d = error_log_limiter_.admit();
  if (!d.admitted) return;
  if (d.suppressed > 0) {
    log::event(log::Level::Info, fmt::format("suppressed {} similar messages", d.suppressed),
               {{"suppressed", d.suppressed}, {"of", "protocol error"}});
  }
  constexpr std::size_t kShown = 200;  // enough to recognise the request, not to flood
  std::string_view line = head.substr(0, std::min(head.find_first_of("\r\n"), kShown));
  log::event(log::Level::Info, "protocol error",
             {{"peer", peer}, {"status", status}, {"reason", reason}, {"request", line}});
}

void HttpService::add_route(std::string path, RouteHandler handler) {
  routes_.push_back({std::move(path), std::move(handler)});
}

void HttpService::handle(const Request& request, Response& response) const {
  if (!files_.check_method(request, response)) return;
  // The usual path is already normal: use it as is, with no copy.
  std::optional<std::string> normalized;
  std::string_view path = request.path;
  if (!is_normal_path(path)) {
    normalized = normalize_path(request.path);
    if (!normalized) return files_.error(400, response);
    path = *normalized;
  }
  for (const Route& route : routes_) {
    if (route.path == path) {
      route.handler(request, response);
      if (request.method == Method::Head) response.send_body = false;
      return;
    }
  }
  if (config_.admin_on() && path.starts_with("/-/")) return files_.error(404, response);
  files_.serve_path(request, path, response);
}

}  // namespace serverlab::http
