#include "serverlab/http/service.hpp"

#include "serverlab/http/uri.hpp"

namespace serverlab::http {

HttpService::HttpService(HttpConfig config, Metrics* metrics)
    : config_(std::move(config)),
      metrics_(metrics),
      cache_(config_.root, FileCache::Options{config_.file_cache_entries,
                                              config_.file_cache_validity, 16 * 1024}),
      files_(config_, cache_),
      access_log_(config_.access_log) {
  if (config_.admin_on()) {
    add_route("/-/health", [](const Request&, Response& r) { r.set_owned_body(kTextType, "ok\n"); });
    if (metrics_ != nullptr) {
      add_route("/-/metrics", [m = metrics_](const Request&, Response& r) {
        r.set_owned_body("text/plain; version=0.0.4; charset=utf-8", m->render_prometheus());
      });
    }
  }
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
