// http/rate_limit.hpp: token buckets, and the rate limiter the middleware chain
// asks before a request is served.
//
// A token bucket holds at most `burst` tokens and gains `rate` tokens a second.
// A request takes one token; with none left it is refused (429 Too Many
// Requests, with Retry-After: the whole seconds until a token is back).
//
//   tokens                      burst -+----+        +------
//     ^                                |     \      /
//     |   refill: rate per second      |      \____/  <- requests take 1 each
//     +--------------------------------+---------------------> time
//
// RateLimiter keeps one bucket per client address in a FIXED-SIZE table, plus
// one global bucket shared by all clients:
//
//   address --hash--> shard (mutex) --> kWays slots, looked at in turn
//                                        found?  its bucket decides
//                                        free?   a new, full bucket
//                                        else    evict the slot seen longest ago
//
// Memory is `table` slots whatever the traffic: a flood of distinct addresses
// only evicts the quietest clients, whose buckets start full again when they
// return (a client that changes address gets a fresh burst; the global bucket
// bounds what all of them together get). Both buckets must agree: a request
// the per-address bucket admits but the global one refuses has still spent its
// per-address token (so a refused client cannot hoard tokens).
//
// Stage 3 calls admit() from many threads: each shard has its own mutex, held
// for a few dozen instructions, and the global bucket has one more. Stage 5's
// workers each have their own limiter (per process; see docs/MIDDLEWARE.md).
//
// Who may call: TokenBucket is a plain value, one thread at a time. RateLimiter
// is thread-safe. Nothing here allocates after construction or blocks on I/O.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "serverlab/http/middleware.hpp"
#include "serverlab/metrics.hpp"

namespace serverlab::http {

// One bucket. Time is passed in (nanoseconds on any monotonic clock), so tests
// and the lab check can drive it without sleeping.
class TokenBucket {
 public:
  // `rate` tokens per second (> 0), at most `burst` tokens (>= 1). Starts full.
  TokenBucket(double rate, double burst);

  // Takes one token if there is one at `now_ns`: true (admitted) or false (refused).
  // A clock that steps backwards adds no tokens.
  bool try_take(std::int64_t now_ns);
  // Seconds until one token is back (0 when one is there now).
  double seconds_until_token(std::int64_t now_ns) const;
  double tokens() const { return tokens_; }

 private:
  double rate_;
  double burst_;
  double tokens_;
  std::int64_t last_ns_ = 0;  // when tokens_ was last brought up to date
  bool started_ = false;      // last_ns_ is meaningful
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    int per_client_rate = 0;   // 0: no per-address bucket
    int per_client_burst = 0;  // 0: max(1, rate)
    int global_rate = 0;       // 0: no global bucket
    int global_burst = 0;      // 0: max(1, rate)
    int table = 4096;          // per-address slots (rounded up to a whole number of shards)
    bool operator==(const Options&) const = default;
  };
  struct Decision {
    bool admitted = true;
    int retry_after = 0;  // seconds, >= 1 when refused
  };

  explicit RateLimiter(const Options& options);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // One request from `client` (an address as text, "127.0.0.5").
  Decision admit(std::string_view client, Clock::time_point now = Clock::now());

  // Counters for /-/metrics and tests (relaxed reads).
  std::uint64_t refused_client() const { return refused_client_.load(std::memory_order_relaxed); }
  std::uint64_t refused_global() const { return refused_global_.load(std::memory_order_relaxed); }
  std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  // Slots in use now (takes every shard's lock: for metrics and tests, not the hot path).
  std::size_t clients_tracked() const;
  std::size_t capacity() const { return shards_.size() * sets_per_shard_ * kWays; }
  const Options& options() const { return options_; }

  static constexpr std::size_t kWays = 8;        // slots looked at per address
  static constexpr std::size_t kMaxKey = 46;     // longest IPv6 text form (INET6_ADDRSTRLEN - 1)

 private:
  static constexpr std::size_t kShards = 16;
  struct Slot {
    std::uint64_t hash = 0;
    std::uint8_t length = 0;  // 0: free
    std::array<char, kMaxKey> key{};
    std::int64_t last_seen_ns = 0;
    TokenBucket bucket{1, 1};
  };
  struct alignas(64) Shard {
    std::mutex mutex;
    std::vector<Slot> slots;  // sets of kWays slots
  };

  bool take_client(std::string_view client, std::int64_t now_ns, double& wait);

  Options options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::size_t sets_per_shard_ = 0;
  std::mutex global_mutex_;
  TokenBucket global_;
  std::atomic<std::uint64_t> refused_client_{0};
  std::atomic<std::uint64_t> refused_global_{0};
  std::atomic<std::uint64_t> evictions_{0};
};

// ConnectionLimiter: at most `limit` open connections per client address
// (--max-conns-per-ip), checked when a connection is accepted, so one address
// cannot take every connection slot of a server.
//
//   accept -> acquire(peer) -> a Slot: the connection holds it to its end;
//                              destroying the Slot gives the place back
//                           -> nullopt: over the limit, refuse the connection
//
// Memory: one map entry per address WITH open connections; the entry goes away
// with its address's last connection. So a flood of distinct addresses costs
// no more entries than the server has connections (which --max-connections and
// the descriptor limit bound already).
//
// The limit may change at any time (a reload): it applies to the next acquire.
// With the limit 0 (off) nothing is counted: a limit turned on by a reload
// counts only the connections accepted after it.
//
// Who may call: any thread (one mutex, held for one map lookup). A Slot may be
// moved between threads and destroyed on any of them; the limiter must outlive
// every Slot it gave out.
class ConnectionLimiter {
 public:
  // A counted connection: gives its place back when destroyed (move-only).
  // A default-made Slot counts nothing (the limit was off).
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept { *this = std::move(other); }
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    bool counted() const { return owner_ != nullptr; }

   private:
    friend class ConnectionLimiter;
    void release();
    ConnectionLimiter* owner_ = nullptr;
    std::string address_;
  };

  explicit ConnectionLimiter(int limit = 0) : limit_(limit) {}
  ConnectionLimiter(const ConnectionLimiter&) = delete;
  ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

  // 0: off. Any thread.
  void set_limit(int limit) { limit_.store(limit, std::memory_order_relaxed); }
  int limit() const { return limit_.load(std::memory_order_relaxed); }

  // A place for one more connection from `address`, or nullopt when it has
  // `limit` open already (counted in refused()). An empty address (unknown
  // peer) is never refused and never counted.
  std::optional<Slot> acquire(std::string_view address);

  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // Addresses with at least one counted connection now.
  std::size_t addresses() const;
  // Counted connections from `address` now (tests).
  int open(std::string_view address) const;

 private:
  void release(const std::string& address);

  std::atomic<int> limit_;
  std::atomic<std::uint64_t> refused_{0};
  mutable std::mutex mutex_;
  std::unordered_map<std::string, int> open_;  // guarded by mutex_; no zero entries
};

class StaticFiles;

// The chain's rate-limit step: asks the limiter with the client's address and
// answers 429 Too Many Requests with Retry-After when it refuses. The limiter is
// shared (MiddlewareState keeps it across a reload, and exports its counters:
//   serverlab_rate_limit_refused_client  serverlab_rate_limit_refused_global
//   serverlab_rate_limit_evictions       serverlab_rate_limit_clients).
class RateLimitMiddleware final : public Middleware {
 public:
  RateLimitMiddleware(std::shared_ptr<RateLimiter> limiter, const StaticFiles& files);
  std::string_view name() const override { return "rate-limit"; }
  bool before(Exchange& exchange, const Request& request, Response& response) const override;
  RateLimiter& limiter() const { return *limiter_; }

 private:
  std::shared_ptr<RateLimiter> limiter_;
  const StaticFiles& files_;
};

}  // namespace serverlab::http
