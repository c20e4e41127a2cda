#include "serverlab/http/service.hpp"

#include <algorithm>
#include <stdexcept>

#include "serverlab/http/api_notes.hpp"
#include "serverlab/http/auth.hpp"
#include "serverlab/http/form.hpp"
#include "serverlab/http/middleware_state.hpp"
#include "serverlab/http/rate_limit.hpp"
#include "serverlab/http/request_id.hpp"
#include "serverlab/http/uri.hpp"

namespace serverlab::http {

HttpService::HttpService(HttpConfig config, Metrics* metrics,
                         std::shared_ptr<MiddlewareState> state)
    : config_(std::move(config)),
      metrics_(metrics),
      state_(state ? std::move(state) : std::make_shared<MiddlewareState>(metrics)),
      cache_(config_.root, FileCache::Options{config_.file_cache_entries,
                                              config_.file_cache_validity, 16 * 1024}),
      files_(config_, cache_),
      access_log_(config_.access_log,
                  config_.middleware.access_log_json() ? AccessLog::Format::Json
                                                       : AccessLog::Format::Clf,
                  AccessLog::Buffering{config_.access_log_buffer, config_.access_log_flush}),
      error_log_limiter_(config_.error_log_rate, config_.error_log_rate) {
  // The chain, in its order. The access log and metrics steps run in the
  // session (middleware.hpp says why); the others are on only when configured.
  const MiddlewareConfig& mw = config_.middleware;
  if (mw.request_id_on()) chain_.push_back(std::make_unique<RequestIdMiddleware>());
  if (mw.rate_limit_on()) {
    RateLimiter::Options options{mw.rate_limit, mw.rate_limit_burst, mw.rate_limit_global,
                                 mw.rate_limit_global_burst, mw.rate_limit_table};
    chain_.push_back(std::make_unique<RateLimitMiddleware>(state_->rate_limiter(options), files_));
  }
  if (mw.auth_on()) {
    AuthMiddleware::Options options;
    if (auto problem = load_users_file(mw.auth_users, options.users))
      throw std::runtime_error("--auth-users: " + *problem);
    options.admins = split_names(mw.auth_admins);
    options.writers = split_names(mw.auth_writers);
    chain_.push_back(std::make_unique<AuthMiddleware>(std::move(options), files_));
  }
  if (mw.api_on()) {
    notes_ = state_->notes();
    notes_->install(*this);
  }
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
  state_->set_connection_limit(mw.max_conns_per_ip);  // last: nothing below can throw
}

HttpService::~HttpService() = default;

void HttpService::log_protocol_error(std::string_view peer, int status, std::string_view reason,
                                     std::string_view head, std::string_view request_id) const {
  if (config_.error_log_rate <= 0 || !log::enabled(log::Level::Info)) return;
  log::RateLimiter::Decision d = error_log_limiter_.admit();
  if (!d.admitted) return;
  if (d.suppressed > 0) {
    log::event(log::Level::Info, fmt::format("suppressed {} similar messages", d.suppressed),
               {{"suppressed", d.suppressed}, {"of", "protocol error"}});
  }
  constexpr std::size_t kShown = 200;  // enough to recognise the request, not to flood
  std::string_view line = head.substr(0, std::min(head.find_first_of("\r\n"), kShown));
  if (request_id.empty()) {
    log::event(log::Level::Info, "protocol error",
               {{"peer", peer}, {"status", status}, {"reason", reason}, {"request", line}});
  } else {
    log::event(log::Level::Info, "protocol error",
               {{"peer", peer}, {"status", status}, {"reason", reason}, {"request", line},
                {"request_id", request_id}});
  }
}

void HttpService::add_route(std::string path, RouteHandler handler) {
  router_.add(Router::Match::Exact, std::move(path), {Method::Get},
              [h = std::move(handler)](Exchange&, const Request& request, Response& response) {
                h(request, response);
              });
}

void HttpService::add_route(Router::Match match, std::string path,
                            std::initializer_list<Method> methods, Router::Handler handler,
                            bool reads_body) {
  router_.add(match, std::move(path), methods, std::move(handler), reads_body);
}

bool HttpService::reads_body(const Request& request) const {
  if (router_.empty() || request.method == Method::Unknown) return false;
  if (is_normal_path(request.path))
    return router_.find(request.method, request.path).reads_body;
  std::optional<std::string> normalized = normalize_path(request.path);
  return normalized && router_.find(request.method, *normalized).reads_body;
}

void HttpService::handle(const Request& request, Response& response) const {
  Exchange exchange;
  handle(exchange, request, response);
}

void HttpService::handle(Exchange& exchange, const Request& request, Response& response) const {
  // The usual path is already normal: use it as is, with no copy.
  std::optional<std::string> normalized;
  bool path_ok = true;
  exchange.path = request.path;
  if (!is_normal_path(exchange.path)) {
    normalized = normalize_path(request.path);
    path_ok = normalized.has_value();
    exchange.path = path_ok ? std::string_view(*normalized) : std::string_view{};
  }
  // before() in order; a step that answers stops the way in. after() for every
  // step whose before() ran, innermost first.
  std::size_t ran = 0;
  bool answered = false;
  while (ran < chain_.size() && !answered) {
    answered = !chain_[ran]->before(exchange, request, response);
    ++ran;
  }
  if (!answered) dispatch(exchange, request, path_ok, response);
  while (ran > 0) chain_[--ran]->after(exchange, request, response);
  exchange.path = {};  // it may point into `normalized`, which dies here
}

void HttpService::dispatch(Exchange& exchange, const Request& request, bool path_ok,
                           Response& response) const {
  if (request.method == Method::Unknown) return files_.error(501, response);
  if (!path_ok) {
    if (!files_.check_method(request, response)) return;
    return files_.error(400, response);
  }
  Router::Found route = router_.find(request.method, exchange.path);
  if (route.kind == Router::Found::Handled) {
    (*route.handler)(exchange, request, response);
    if (request.method == Method::Head) response.send_body = false;
    return;
  }
  if (route.kind == Router::Found::MethodNotAllowed) {
    files_.error(405, response);
    response.add_header("Allow", route.allow);
    return;
  }
  if (!files_.check_method(request, response)) return;
  if (config_.admin_on() && exchange.path.starts_with("/-/")) return files_.error(404, response);
  files_.serve_path(request, exchange.path, response);
}

}  // namespace serverlab::http
