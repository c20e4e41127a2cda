#include "serverlab/http/middleware_state.hpp"

#include <sys/socket.h>

#include "serverlab/buffer.hpp"
#include "serverlab/http/api_notes.hpp"
#include "serverlab/http/date.hpp"
#include "serverlab/http/response.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::http {

MiddlewareState::MiddlewareState(Metrics* metrics) : metrics_(metrics) {}

MiddlewareState::~MiddlewareState() = default;

std::shared_ptr<RateLimiter> MiddlewareState::rate_limiter(const RateLimiter::Options& options) {
  std::shared_ptr<RateLimiter> current;
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    if (!limiter_ || !(limiter_->options() == options))
      limiter_ = std::make_shared<RateLimiter>(options);
    current = limiter_;
    first = metrics_ != nullptr && !limiter_gauges_;
    limiter_gauges_ = true;
  }
  // Registered outside mutex_: a scrape holds the registry's lock while a gauge
  // takes mutex_, so taking them the other way round here could deadlock.
  if (first) add_limiter_gauges();
  return current;
}

void MiddlewareState::add_limiter_gauges() {
  // Each gauge reads the limiter current at scrape time.
  auto read = [this](auto field) {
    return [this, field] {
      std::shared_ptr<RateLimiter> l;
      {
        std::lock_guard lock(mutex_);
        l = limiter_;
      }
      return static_cast<double>(field(*l));
    };
  };
  metrics_->add_gauge("serverlab_rate_limit_refused_client",
                      "Requests refused (429) by a client address's bucket, since start.",
                      read([](const RateLimiter& l) { return l.refused_client(); }));
  metrics_->add_gauge("serverlab_rate_limit_refused_global",
                      "Requests refused (429) by the global bucket, since start.",
                      read([](const RateLimiter& l) { return l.refused_global(); }));
  metrics_->add_gauge("serverlab_rate_limit_evictions",
                      "Client addresses dropped from the full rate-limit table, since start.",
                      read([](const RateLimiter& l) { return l.evictions(); }));
  metrics_->add_gauge("serverlab_rate_limit_clients", "Client addresses in the rate-limit table now.",
                      read([](const RateLimiter& l) { return l.clients_tracked(); }));
}

std::shared_ptr<NotesApi> MiddlewareState::notes() {
  std::lock_guard lock(mutex_);
  if (!notes_) notes_ = std::make_shared<NotesApi>();
  return notes_;
}

void MiddlewareState::set_connection_limit(int limit) {
  connections_.set_limit(limit);
  {
    std::lock_guard lock(mutex_);
    if (limit <= 0 || metrics_ == nullptr || connection_gauges_) return;
    connection_gauges_ = true;
  }
  ConnectionLimiter* c = &connections_;
  metrics_->add_gauge("serverlab_conn_limit_refused",
                      "Connections refused by --max-conns-per-ip (429, or closed), since start.",
                      [c] { return static_cast<double>(c->refused()); });
  metrics_->add_gauge("serverlab_conn_limit_addresses",
                      "Client addresses with connections counted by --max-conns-per-ip now.",
                      [c] { return static_cast<double>(c->addresses()); });
}

void refuse_over_connection_limit(Fd client, const HttpService& service, bool tls) {
  if (!tls) {
    Response r;
    service.error(429, r);
    r.close = true;
    r.add_header("Retry-After", "1");  // a slot frees when any of its connections closes
    Buffer out;
    append_response_head(out, r, false, current_http_date());
    out.append(r.text);
    (void)::send(client.get(), out.peek(), out.readable_bytes(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  ::shutdown(client.get(), SHUT_WR);
  std::size_t budget = kLingerBytes;
  (void)drain_for_linger(client.get(), budget);  // one pass: an accept path must not wait
}

}  // namespace serverlab::http
