// backend.hpp: Backend, one upstream server as the proxy keeps track of it, and
// UpstreamConn, one TCP connection to it.
//
//   Backend "127.0.0.1:8081" (weight 2)
//     breaker    closed/open/half-open (breaker.hpp)
//     idle pool  keep-alive connections waiting for the next request (at most
//                --pool-size; each watched, so one the backend closes is dropped)
//     stats      requests, errors by kind, latency histogram (rendered in /-/metrics)
//
// An UpstreamConn is owned by exactly one place at a time: its Backend's idle pool,
// a client connection that is using it, or the server's graveyard (deleted at the
// end of the loop iteration). While a client uses it, readiness goes to that client
// (owner); while idle, any readiness means the backend closed it or broke the
// protocol, and it is dropped.
//
// Who may call: the proxy's loop thread only (not thread-safe).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "breaker.hpp"
#include "event_loop.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::proxy {

class Backend;
class ProxyServer;

// Whoever is using an UpstreamConn gets its readiness events.
class UpstreamUser {
 public:
  virtual void on_upstream(std::uint32_t events) = 0;

 protected:
  ~UpstreamUser() = default;
};

class UpstreamConn final : public EventHandler {
 public:
  // Takes a connected (or connecting) non-blocking socket and registers it.
  UpstreamConn(ProxyServer& server, Backend& backend, Fd fd);
  ~UpstreamConn();  // unregisters and closes; the backend's open count drops
  UpstreamConn(const UpstreamConn&) = delete;
  UpstreamConn& operator=(const UpstreamConn&) = delete;

  void on_event(std::uint32_t events) override;
  // Changes the interest mask when it differs from the current one.
  void want(std::uint32_t events);

  int fd() const { return fd_.get(); }
  std::uint32_t interest() const { return interest_; }
  Backend& backend() { return backend_; }

  UpstreamUser* user = nullptr;    // null: idle in the pool
  bool connecting = false;         // connect() still in progress
  std::uint64_t idle_since_ms = 0;
  std::uint64_t requests = 0;      // requests sent on it (> 0: a reused connection)

 private:
  ProxyServer& server_;
  Backend& backend_;
  Fd fd_;
  std::uint32_t interest_ = 0;
};

// Error kinds counted per backend (the label of serverlab_proxy_upstream_errors_total).
enum class UpstreamError { Connect, Timeout, Reset, BadResponse, Truncated };
inline constexpr std::size_t kUpstreamErrorKinds = 5;
std::string_view error_name(UpstreamError e);

struct BackendStats {
  std::uint64_t requests = 0;  // responses that arrived whole
  std::uint64_t retries = 0;   // requests moved from this backend to another
  std::array<std::uint64_t, kUpstreamErrorKinds> errors{};
  std::array<std::uint64_t, Metrics::kDurationBuckets.size() + 1> latency{};  // last: +Inf
  double latency_sum = 0;
  std::uint64_t health_checks_failed = 0;

  void observe(double seconds);
};

class Backend {
 public:
  Backend(std::string name_in, SocketAddress address_in, unsigned weight_in,
          CircuitBreaker::Options breaker_options)
      : name(std::move(name_in)), address(address_in), weight(weight_in), breaker(breaker_options) {}

  // A pooled connection that is still fresh (stale ones are closed on the way),
  // or null. `idle_ms`: how long a connection may sit idle and still be reused.
  std::unique_ptr<UpstreamConn> take_idle(std::uint64_t now_ms, std::uint64_t idle_ms);
  // Puts a connection whose exchange ended cleanly back into the pool. Returns it
  // (for the caller to retire) when the pool already holds `max_idle`, else null.
  std::unique_ptr<UpstreamConn> give_back(std::unique_ptr<UpstreamConn> conn, std::uint64_t now_ms, std::size_t max_idle);
  // Removes `conn` from the pool (it reported an event while idle); the caller retires it.
  std::unique_ptr<UpstreamConn> remove_idle(UpstreamConn& conn);
  // Drops pooled connections idle for longer than `idle_ms`.
  std::vector<std::unique_ptr<UpstreamConn>> expire_idle(std::uint64_t now_ms, std::uint64_t idle_ms);

  const std::string name;  // "127.0.0.1:8081"
  const SocketAddress address;
  const unsigned weight;
  bool in_use = true;  // in some group of the running routing (false: dropped by a reload)
  CircuitBreaker breaker;
  BackendStats stats;
  std::size_t active = 0;      // requests it is serving now
  std::size_t open_conns = 0;  // every UpstreamConn alive, idle or busy

 private:
  std::vector<std::unique_ptr<UpstreamConn>> idle_;

 public:
  std::size_t idle_count() const { return idle_.size(); }
};

// Starts a non-blocking connect to `address`. Returns the socket and whether the
// connect is still in progress; an invalid Fd and the errno when it failed at once.
struct ConnectStart {
  Fd fd;
  bool in_progress = false;
  int error = 0;
};
ConnectStart start_connect(const SocketAddress& address);
// After a connecting socket became writable: 0 when connected, else the errno.
int connect_result(int fd);

}  // namespace serverlab::proxy
