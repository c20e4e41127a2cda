#include "serverlab/http/rate_limit.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

#include "serverlab/http/static_files.hpp"

namespace serverlab::http {

TokenBucket::TokenBucket(double rate, double burst)
    : rate_(rate > 0 ? rate : 1), burst_(burst >= 1 ? burst : 1), tokens_(burst_) {}

// The week 19 lab: the student writes this body (labs/week19-production/README.md).
bool TokenBucket::try_take(std::int64_t now_ns) {
  // [lab19:try-take:begin]
  // [lab19:try-take:stub] (void)now_ns;
  // [lab19:try-take:stub] return true;  // admits everything: no refill, no refusal yet
  // Refill for the time since the last call, at most up to burst_. The first
  // call has no "last time": the bucket starts full. A clock that went
  // backwards (now_ns < last_ns_) adds nothing and is not remembered.
  if (started_ && now_ns > last_ns_) {
    double elapsed = static_cast<double>(now_ns - last_ns_) / 1e9;
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  }
  if (!started_ || now_ns > last_ns_) last_ns_ = now_ns;
  started_ = true;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
  // [lab19:try-take:end]
}

double TokenBucket::seconds_until_token(std::int64_t now_ns) const {
  double tokens = tokens_;
  if (started_ && now_ns > last_ns_)
    tokens = std::min(burst_, tokens + static_cast<double>(now_ns - last_ns_) / 1e9 * rate_);
  return tokens >= 1.0 ? 0.0 : (1.0 - tokens) / rate_;
}

namespace {

int burst_or_rate(int burst, int rate) { return burst > 0 ? burst : std::max(1, rate); }

// Retry-After is whole seconds (RFC 9110 10.2.3), rounded up, and at least 1.
int retry_seconds(double wait) { return std::max(1, static_cast<int>(std::ceil(wait))); }

}  // namespace

RateLimiter::RateLimiter(const Options& options)
    : options_(options),
      global_(options.global_rate,
              burst_or_rate(options.global_burst, options.global_rate)) {
  std::size_t wanted = static_cast<std::size_t>(std::max(options.table, 1));
  sets_per_shard_ = (wanted + kShards * kWays - 1) / (kShards * kWays);
  TokenBucket full(options.per_client_rate,
                   burst_or_rate(options.per_client_burst, options.per_client_rate));
  for (std::size_t i = 0; i < kShards; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->slots.assign(sets_per_shard_ * kWays, Slot{});
    for (Slot& slot : shard->slots) slot.bucket = full;
    shards_.push_back(std::move(shard));
  }
}

// The per-address bucket of `client` takes a token. Finds the client's slot in
// its set (or a free one, or evicts the one seen longest ago), all under the
// shard's lock. `wait`: seconds until a token is back, when refused.
bool RateLimiter::take_client(std::string_view client, std::int64_t now_ns, double& wait) {
  client = client.substr(0, kMaxKey);
  const std::uint64_t hash = std::hash<std::string_view>{}(client);
  Shard& shard = *shards_[hash % kShards];
  const std::size_t set = (hash / kShards) % sets_per_shard_;

  std::lock_guard lock(shard.mutex);
  Slot* set_slots = &shard.slots[set * kWays];
  Slot* found = nullptr;
  Slot* free_slot = nullptr;
  Slot* oldest = nullptr;
  for (std::size_t i = 0; i < kWays; ++i) {
    Slot& s = set_slots[i];
    if (s.length == 0) {
      if (free_slot == nullptr) free_slot = &s;
    } else if (s.hash == hash && s.length == client.size() &&
               std::memcmp(s.key.data(), client.data(), client.size()) == 0) {
      found = &s;
      break;
    } else if (oldest == nullptr || s.last_seen_ns < oldest->last_seen_ns) {
      oldest = &s;
    }
  }
  if (found == nullptr) {  // a new client: a free slot, else the one seen longest ago
    if (free_slot != nullptr) {
      found = free_slot;
    } else {
      found = oldest;
      evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    found->hash = hash;
    found->length = static_cast<std::uint8_t>(client.size());
    std::memcpy(found->key.data(), client.data(), client.size());
    found->bucket = TokenBucket(options_.per_client_rate,
                                burst_or_rate(options_.per_client_burst, options_.per_client_rate));
  }
  found->last_seen_ns = now_ns;
  if (found->bucket.try_take(now_ns)) return true;
  wait = found->bucket.seconds_until_token(now_ns);
  return false;
}
RateLimiter::Decision RateLimiter::admit(std::string_view client, Clock::time_point now) {
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  double wait = 0;
  if (options_.per_client_rate > 0 && !client.empty() && !take_client(client, now_ns, wait)) {
    refused_client_.fetch_add(1, std::memory_order_relaxed);
    return {false, retry_seconds(wait)};
  }
  if (options_.global_rate > 0) {
    std::lock_guard lock(global_mutex_);
    if (!global_.try_take(now_ns)) {
      refused_global_.fetch_add(1, std::memory_order_relaxed);
      return {false, retry_seconds(global_.seconds_until_token(now_ns))};
    }
  }
  return {};
}

std::size_t RateLimiter::clients_tracked() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    n += static_cast<std::size_t>(
        std::count_if(shard->slots.begin(), shard->slots.end(), [](const Slot& s) { return s.length > 0; }));
  }
  return n;
}

ConnectionLimiter::Slot& ConnectionLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    address_ = std::move(other.address_);
  }
  return *this;
}

void ConnectionLimiter::Slot::release() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->release(address_);
}

std::optional<ConnectionLimiter::Slot> ConnectionLimiter::acquire(std::string_view address) {
  const int limit = limit_.load(std::memory_order_relaxed);
  if (limit <= 0 || address.empty()) return Slot{};
  Slot slot;
  slot.address_.assign(address);
  {
    std::lock_guard lock(mutex_);
    int& open = open_[slot.address_];
    if (open >= limit) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    ++open;
  }
  slot.owner_ = this;
  return slot;
}

void ConnectionLimiter::release(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto it = open_.find(address);
  if (it == open_.end()) return;  // cannot happen: every counted Slot has its entry
  if (--it->second <= 0) open_.erase(it);
}

std::size_t ConnectionLimiter::addresses() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

int ConnectionLimiter::open(std::string_view address) const {
  std::lock_guard lock(mutex_);
  auto it = open_.find(std::string(address));
  return it == open_.end() ? 0 : it->second;
}

RateLimitMiddleware::RateLimitMiddleware(std::shared_ptr<RateLimiter> limiter,
                                         const StaticFiles& files)
    : limiter_(std::move(limiter)), files_(files) {}

bool RateLimitMiddleware::before(Exchange& exchange, const Request&, Response& response) const {
  RateLimiter::Decision d = limiter_->admit(exchange.peer);
  if (d.admitted) return true;
  files_.error(429, response);
  char seconds[16];
  auto [end, ec] = std::to_chars(seconds, seconds + sizeof seconds, d.retry_after);
  (void)ec;  // an int always fits in 16 bytes
  response.add_header("Retry-After", std::string_view(seconds, static_cast<std::size_t>(end - seconds)));
  return false;
}

}  // namespace serverlab::http
