// proxy_server.cpp: see proxy_server.hpp.
#include "proxy_server.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "client_conn.hpp"
#include "health_probe.hpp"
#include "serverlab/log.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::proxy {
namespace {

SocketAddress resolve(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    throw std::runtime_error(fmt::format("upstream {}:{}: {}", host, port, ::gai_strerror(rc)));
  }
  SocketAddress a;
  std::memcpy(&a.storage, found->ai_addr, found->ai_addrlen);
  a.length = found->ai_addrlen;
  ::freeaddrinfo(found);
  return a;
}

std::string peer_ip(const sockaddr_storage& s) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (s.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(s).sin_addr, text, sizeof text);
  } else if (s.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(s).sin6_addr, text, sizeof text);
  }
  return text;
}

}  // namespace

ProxyServer::ProxyServer(EventLoop& loop, ProxyOptions options, Metrics& metrics)
    : loop_(loop),
      options_(std::move(options)),
      metrics_(metrics),
      error_log_limiter_(std::max(options_.error_log_rate, 1), std::max(options_.error_log_rate, 1)) {
  routing_ = build_routing(options_);
  if (options_.access_log == "-") {
    access_log_fd_ = 1;
  } else if (options_.access_log != "off" && !options_.access_log.empty()) {
    int fd = ::open(options_.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw SysError("open " + options_.access_log);
    access_log_ = Fd(fd);
    access_log_fd_ = fd;
  }
}

// Resolves every backend once (an address in two groups is one Backend, with one pool
// and one breaker) and gives each group a picker over its members.
std::shared_ptr<Routing> ProxyServer::build_routing(ProxyOptions& options) {
  if (options.upstreams.empty()) {  // --upstream flags: one group for everything
    options.upstreams.push_back(UpstreamGroup{.name = "default", .servers = options.backends,
                                              .balance = std::nullopt, .where = ""});
    options.routes.clear();
  }
  if (options.routes.empty()) {  // no [[route]]: everything goes to the first group
    Route everything;
    everything.upstream = options.upstreams.front().name;
    options.routes.push_back(everything);
  }
  // Resolve first: a name that does not resolve changes nothing.
  std::vector<std::vector<SocketAddress>> addresses;
  for (const UpstreamGroup& upstream : options.upstreams) {
    addresses.emplace_back();
    for (const BackendSpec& spec : upstream.servers) {
      addresses.back().push_back(resolve(spec.host, spec.port));
    }
  }
  auto routing = std::make_shared<Routing>();
  routing->routes = options.routes;
  if (auto err = link_routes(routing->routes, options.upstreams)) throw std::runtime_error(*err);
  CircuitBreaker::Options breaker{options_.fail_threshold,
                                  static_cast<std::uint64_t>(options_.fail_cooldown * 1000)};
  for (std::size_t g = 0; g < options.upstreams.size(); ++g) {
    const UpstreamGroup& upstream = options.upstreams[g];
    Routing::Group group;
    std::vector<std::string> names;
    std::vector<unsigned> weights;
    for (std::size_t i = 0; i < upstream.servers.size(); ++i) {
      const SocketAddress& address = addresses[g][i];
      const std::string name = address.to_string();
      auto same = [&](const std::unique_ptr<Backend>& b) { return b->name == name; };
      auto it = std::find_if(backends_.begin(), backends_.end(), same);
      if (it == backends_.end()) {
        backends_.push_back(
            std::make_unique<Backend>(name, address, upstream.servers[i].weight, breaker));
        it = backends_.end() - 1;
      }
      group.members.push_back(it->get());
      names.push_back(name);
      weights.push_back(upstream.servers[i].weight);
    }
    group.picker =
        std::make_unique<Picker>(upstream.balance.value_or(options.balance), names, weights);
    routing->groups.push_back(std::move(group));
  }
  return routing;
}

const Route* Routing::route_for(std::string_view host, std::string_view path) const {
  std::optional<std::size_t> i = match_route(routes, host, path);
  return i ? &routes[*i] : nullptr;
}

bool ProxyServer::reload(ProxyOptions next) {
  std::shared_ptr<Routing> routing;
  try {
    routing = build_routing(next);
  } catch (const std::exception& e) {
    log::error("SIGHUP: configuration not reloaded, the running one keeps serving: {}", e.what());
    return false;
  }
  for (auto& b : backends_) b->in_use = false;
  std::string names;
  for (const Routing::Group& group : routing->groups) {
    for (Backend* b : group.members) {
      if (!b->in_use) names += " " + b->name;
      b->in_use = true;
    }
  }
  for (auto& b : backends_) {  // a dropped backend's idle connections close now
    if (b->in_use) continue;
    for (auto& c : b->expire_idle(~std::uint64_t{0}, 0)) retire(std::move(c));
  }
  routing_ = std::move(routing);
  options_.upstreams = std::move(next.upstreams);
  options_.routes = std::move(next.routes);
  options_.backends = std::move(next.backends);
  options_.balance = next.balance;
  log::info("SIGHUP: configuration reloaded: {} upstream group(s), {} route(s), backends{}",
            routing_->groups.size(), routing_->routes.size(), names);
  return true;
}

ProxyServer::~ProxyServer() {
  loop_.cancel(sweep_timer_);
  clients_.clear();  // before the backends their upstream connections count on
  dead_clients_.clear();
  dead_upstreams_.clear();
  probes_.clear();
  for (auto& b : backends_) b->expire_idle(~std::uint64_t{0}, 0);
  if (listen_) loop_.remove(listen_.get());
}

void ProxyServer::listen(Fd listen_fd) {
  listen_ = std::move(listen_fd);
  set_nonblocking(listen_.get());
  loop_.add(listen_.get(), kReadable, *this);
  sweep_timer_ = loop_.run_after(1000, [this] { sweep(); });
  if (!options_.health_path.empty()) start_health_checks();
}

void ProxyServer::on_event(std::uint32_t) { accept_all(); }

void ProxyServer::accept_all() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&peer), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      switch (classify_accept_error(errno)) {
        case AcceptFailure::Retry: continue;
        case AcceptFailure::Drained: return;
        case AcceptFailure::OutOfFds: spare_.shed_one(listen_.get()); return;
        case AcceptFailure::Resources: return;  // level-triggered: tried again next iteration
      }
    }
    set_nodelay(fd);
    auto client = std::make_unique<ClientConn>(*this, Fd(fd), peer_ip(peer));
    try {
      client->start();
    } catch (const std::exception& e) {
      log::warn("proxy: cannot watch a client: {}", e.what());
      continue;
    }
    client->index = clients_.size();
    clients_.push_back(std::move(client));
  }
}

Backend* ProxyServer::pick(Routing& routing, const Route& route, std::string_view key,
                           const std::vector<Backend*>& tried) {
  const std::uint64_t now = loop_.now_ms();
  Routing::Group& group = routing.groups[route.group];
  candidates_.resize(group.members.size());
  for (std::size_t i = 0; i < group.members.size(); ++i) {
    Backend* b = group.members[i];
    bool was_tried = false;
    for (Backend* t : tried) was_tried = was_tried || t == b;
    candidates_[i] = Candidate{b->breaker.available(now) && !was_tried, b->active};
  }
  std::optional<std::size_t> i = group.picker->pick(candidates_, key);
  if (!i) return nullptr;
  Backend* chosen = group.members[*i];
  chosen->breaker.taken(now);
  return chosen;
}

void ProxyServer::on_idle_upstream_event(UpstreamConn& conn) {
  std::unique_ptr<UpstreamConn> owned = conn.backend().remove_idle(conn);
  if (owned) retire(std::move(owned));  // the backend closed it (or spoke out of turn)
}

void ProxyServer::retire(std::unique_ptr<UpstreamConn> conn) {
  if (!conn) return;
  conn->want(0);
  dead_upstreams_.push_back(std::move(conn));
}

void ProxyServer::release(ClientConn& client) {
  const std::size_t i = client.index;
  std::unique_ptr<ClientConn> owned = std::move(clients_[i]);
  if (i + 1 != clients_.size()) {
    clients_[i] = std::move(clients_.back());
    clients_[i]->index = i;
  }
  clients_.pop_back();
  dead_clients_.push_back(std::move(owned));
  maybe_finish_shutdown();
}

void ProxyServer::before_sleep() {
  dead_clients_.clear();
  dead_upstreams_.clear();
}

void ProxyServer::log_protocol_error(std::string_view peer, int status, std::string_view reason,
                                     std::string_view head) {
  if (options_.error_log_rate <= 0 || !log::enabled(log::Level::Info)) return;
  log::RateLimiter::Decision d = error_log_limiter_.admit();
  if (!d.admitted) return;
  if (d.suppressed > 0) {
    log::event(log::Level::Info, fmt::format("suppressed {} similar messages", d.suppressed),
               {{"suppressed", d.suppressed}, {"of", "protocol error"}});
  }
  std::string_view line = head.substr(0, std::min<std::size_t>(head.find_first_of("\r\n"), 200));
  log::event(log::Level::Info, "protocol error",
             {{"peer", peer}, {"status", status}, {"reason", reason}, {"request", line}});
}

void ProxyServer::write_access_log(std::string_view line) {
  if (access_log_fd_ < 0) return;
  // One write per line on an O_APPEND file or stdout; a short write loses the tail
  // of a line, never interleaves two.
  ssize_t n = ::write(access_log_fd_, line.data(), line.size());
  (void)n;
}

void ProxyServer::sweep() {
  const std::uint64_t now = loop_.now_ms();
  const auto idle_ms = static_cast<std::uint64_t>(options_.pool_idle_timeout * 1000);
  for (auto& b : backends_) {
    for (auto& c : b->expire_idle(now, idle_ms)) retire(std::move(c));
  }
  std::erase_if(probes_, [](const auto& p) { return p->done(); });
  const auto every_ms = static_cast<std::uint64_t>(options_.health_interval * 1000);
  if (!options_.health_path.empty() && now - last_health_ms_ >= every_ms) start_health_checks();
  sweep_timer_ = loop_.run_after(std::min<std::uint64_t>(1000, std::max<std::uint64_t>(every_ms, 50)),
                                 [this] { sweep(); });
}

void ProxyServer::start_health_checks() {
  last_health_ms_ = loop_.now_ms();
  for (auto& b : backends_) {
    if (!b->in_use) continue;  // dropped by a reload
    bool running = false;
    for (auto& p : probes_) running = running || (&p->backend() == b.get() && !p->done());
    if (running) continue;
    const double timeout = std::min(options_.connect_timeout, options_.health_interval * 2);
    probes_.push_back(std::make_unique<HealthProbe>(loop_, *b, options_.health_path, timeout));
  }
}

void ProxyServer::shutdown() {
  if (shutting_down_) {
    while (!clients_.empty()) clients_.back()->close();
    loop_.stop();
    return;
  }
  shutting_down_ = true;
  if (listen_) {
    loop_.remove(listen_.get());
    listen_.reset();
  }
  // Copy: closing a client reorders clients_.
  std::vector<ClientConn*> all;
  for (auto& c : clients_) all.push_back(c.get());
  for (ClientConn* c : all) c->shutdown();
  loop_.run_after(static_cast<std::uint64_t>(options_.shutdown_timeout * 1000), [this] {
    while (!clients_.empty()) clients_.back()->close();
    loop_.stop();
  });
  maybe_finish_shutdown();
}

void ProxyServer::maybe_finish_shutdown() {
  if (shutting_down_ && clients_.empty()) loop_.stop();
}

std::string ProxyServer::render_metrics() const {
  std::string out = metrics_.render_prometheus();
  auto family = [&out](std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto each = [this, &out](std::string_view name, auto value) {
    for (const auto& b : backends_) {
      out += fmt::format("{}{{upstream=\"{}\"}} {}\n", name, b->name, value(*b));
    }
  };
  family("serverlab_proxy_upstream_requests_total", "counter",
         "responses received whole from each backend");
  each("serverlab_proxy_upstream_requests_total", [](const Backend& b) { return b.stats.requests; });
  family("serverlab_proxy_upstream_errors_total", "counter",
         "failed exchanges by kind (connect, timeout, reset, bad_response, truncated)");
  for (const auto& b : backends_) {
    for (std::size_t k = 0; k < kUpstreamErrorKinds; ++k) {
      out += fmt::format("serverlab_proxy_upstream_errors_total{{upstream=\"{}\",kind=\"{}\"}} {}\n",
                         b->name, error_name(static_cast<UpstreamError>(k)), b->stats.errors[k]);
    }
  }
  family("serverlab_proxy_upstream_retries_total", "counter",
         "requests moved to another backend after this one failed");
  each("serverlab_proxy_upstream_retries_total", [](const Backend& b) { return b.stats.retries; });
  family("serverlab_proxy_upstream_health_checks_failed_total", "counter", "failed active checks");
  each("serverlab_proxy_upstream_health_checks_failed_total",
       [](const Backend& b) { return b.stats.health_checks_failed; });
  family("serverlab_proxy_upstream_connections_open", "gauge",
         "connections to each backend, busy or idle in the pool");
  each("serverlab_proxy_upstream_connections_open", [](const Backend& b) { return b.open_conns; });
  family("serverlab_proxy_upstream_connections_idle", "gauge", "pooled keep-alive connections");
  each("serverlab_proxy_upstream_connections_idle", [](const Backend& b) { return b.idle_count(); });
  family("serverlab_proxy_upstream_active_requests", "gauge", "requests each backend is serving");
  each("serverlab_proxy_upstream_active_requests", [](const Backend& b) { return b.active; });
  family("serverlab_proxy_upstream_healthy", "gauge", "1 while the breaker is closed, else 0");
  each("serverlab_proxy_upstream_healthy", [](const Backend& b) { return b.breaker.healthy() ? 1 : 0; });
  family("serverlab_proxy_upstream_breaker_opened_total", "counter", "times the breaker opened");
  each("serverlab_proxy_upstream_breaker_opened_total",
       [](const Backend& b) { return b.breaker.times_opened(); });
  family("serverlab_proxy_upstream_duration_seconds", "histogram",
         "time from sending a request to the backend to the end of its response");
  for (const auto& b : backends_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < Metrics::kDurationBuckets.size(); ++i) {
      cumulative += b->stats.latency[i];
      out += fmt::format("serverlab_proxy_upstream_duration_seconds_bucket{{upstream=\"{}\",le=\"{}\"}} {}\n",
                         b->name, Metrics::kDurationBuckets[i], cumulative);
    }
    cumulative += b->stats.latency.back();
    out += fmt::format("serverlab_proxy_upstream_duration_seconds_bucket{{upstream=\"{}\",le=\"+Inf\"}} {}\n",
                       b->name, cumulative);
    out += fmt::format("serverlab_proxy_upstream_duration_seconds_sum{{upstream=\"{}\"}} {}\n", b->name,
                       b->stats.latency_sum);
    out += fmt::format("serverlab_proxy_upstream_duration_seconds_count{{upstream=\"{}\"}} {}\n",
                       b->name, cumulative);
  }
  return out;
}

}  // namespace serverlab::proxy
