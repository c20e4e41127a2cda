// backend.cpp: see backend.hpp.
#include "backend.hpp"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>

#include "proxy_server.hpp"

namespace serverlab::proxy {

UpstreamConn::UpstreamConn(ProxyServer& server, Backend& backend, Fd fd)
    : server_(server), backend_(backend), fd_(std::move(fd)) {
  server_.loop().add(fd_.get(), 0, *this);
  ++backend_.open_conns;
}

UpstreamConn::~UpstreamConn() {
  server_.loop().remove(fd_.get());
  --backend_.open_conns;
}

void UpstreamConn::on_event(std::uint32_t events) {
  if (user != nullptr) {
    user->on_upstream(events);
  } else {
    server_.on_idle_upstream_event(*this);
  }
}

void UpstreamConn::want(std::uint32_t events) {
  if (events == interest_) return;
  server_.loop().modify(fd_.get(), events);
  interest_ = events;
}

std::string_view error_name(UpstreamError e) {
  switch (e) {
    case UpstreamError::Connect: return "connect";
    case UpstreamError::Timeout: return "timeout";
    case UpstreamError::Reset: return "reset";
    case UpstreamError::BadResponse: return "bad_response";
    case UpstreamError::Truncated: return "truncated";
  }
  return "?";
}

void BackendStats::observe(double seconds) {
  std::size_t i = 0;
  while (i < Metrics::kDurationBuckets.size() && seconds > Metrics::kDurationBuckets[i]) ++i;
  ++latency[i];
  latency_sum += seconds;
}

std::unique_ptr<UpstreamConn> Backend::take_idle(std::uint64_t now_ms, std::uint64_t idle_ms) {
  while (!idle_.empty()) {
    std::unique_ptr<UpstreamConn> conn = std::move(idle_.back());
    idle_.pop_back();
    if (now_ms - conn->idle_since_ms <= idle_ms) return conn;  // fresh enough
    // stale: dropped here (destroyed outside any of its own handlers)
  }
  return nullptr;
}

std::unique_ptr<UpstreamConn> Backend::give_back(std::unique_ptr<UpstreamConn> conn,
                                                std::uint64_t now_ms, std::size_t max_idle) {
  if (idle_.size() >= max_idle) return conn;  // the pool is full
  conn->user = nullptr;
  conn->idle_since_ms = now_ms;
  conn->want(kReadable);  // a byte or EOF while idle means it is finished
  idle_.push_back(std::move(conn));
  return nullptr;
}

std::unique_ptr<UpstreamConn> Backend::remove_idle(UpstreamConn& conn) {
  auto it = std::find_if(idle_.begin(), idle_.end(), [&](const auto& p) { return p.get() == &conn; });
  if (it == idle_.end()) return nullptr;
  std::unique_ptr<UpstreamConn> out = std::move(*it);
  idle_.erase(it);
  return out;
}

std::vector<std::unique_ptr<UpstreamConn>> Backend::expire_idle(std::uint64_t now_ms,
                                                                std::uint64_t idle_ms) {
  std::vector<std::unique_ptr<UpstreamConn>> expired;
  auto stale = [&](const auto& c) { return now_ms - c->idle_since_ms > idle_ms; };
  for (auto& c : idle_) {
    if (stale(c)) expired.push_back(std::move(c));
  }
  std::erase_if(idle_, [](const auto& c) { return c == nullptr; });
  return expired;
}

ConnectStart start_connect(const SocketAddress& address) {
  ConnectStart out;
  int fd = ::socket(address.get()->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = errno;
    return out;
  }
  out.fd = Fd(fd);
  if (::connect(fd, address.get(), address.length) == 0) {
    set_nodelay(fd);
    return out;
  }
  if (errno == EINPROGRESS) {
    out.in_progress = true;
    set_nodelay(fd);
    return out;
  }
  out.error = errno;
  out.fd.reset();
  return out;
}

int connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

}  // namespace serverlab::proxy
