// picker.cpp: see picker.hpp.
#include "picker.hpp"

#include <algorithm>
#include <stdexcept>

namespace serverlab::proxy {

namespace {
constexpr unsigned kPointsPerWeight = 64;
}

std::optional<Balance> parse_balance(std::string_view name) {
  if (name == "round-robin") return Balance::RoundRobin;
  if (name == "least-conn") return Balance::LeastConn;
  if (name == "hash-ip") return Balance::HashIp;
  if (name == "hash-path") return Balance::HashPath;
  return std::nullopt;
}

std::string_view balance_name(Balance balance) {
  switch (balance) {
    case Balance::RoundRobin: return "round-robin";
    case Balance::LeastConn: return "least-conn";
    case Balance::HashIp: return "hash-ip";
    case Balance::HashPath: return "hash-path";
  }
  return "?";
}

std::uint64_t Picker::hash(std::string_view key) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a offset basis
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // FNV's low bits mix poorly for short keys; a final avalanche (splitmix64's) fixes it.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

Picker::Picker(Balance balance, const std::vector<std::string>& names,
               const std::vector<unsigned>& weights)
    : balance_(balance), scores_(weights.size(), 0) {
  if (names.empty() || names.size() != weights.size()) {
    throw std::invalid_argument("picker: one weight per backend, at least one backend");
  }
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] == 0) throw std::invalid_argument("picker: a weight must be >= 1");
    weights_.push_back(weights[i]);
    for (unsigned n = 0; n < weights[i] * kPointsPerWeight; ++n) {
      ring_.emplace_back(hash(names[i] + "#" + std::to_string(n)), i);
    }
  }
  std::sort(ring_.begin(), ring_.end());
}

std::optional<std::size_t> Picker::pick(std::span<const Candidate> now, std::string_view key) {
  if (now.size() != weights_.size()) return std::nullopt;
  switch (balance_) {
    case Balance::RoundRobin: return pick_round_robin(now);
    case Balance::LeastConn: return pick_least_conn(now);
    case Balance::HashIp:
    case Balance::HashPath: return pick_hash(now, key);
  }
  return std::nullopt;
}

std::optional<std::size_t> Picker::pick_round_robin(std::span<const Candidate> now) {
  // [lab21:pick:begin]
  // [lab21:pick:stub] // Always the first usable backend: no spreading, no weights.
  // [lab21:pick:stub] for (std::size_t i = 0; i < now.size(); ++i) {
  // [lab21:pick:stub]   if (now[i].usable) return i;
  // [lab21:pick:stub] }
  // [lab21:pick:stub] return std::nullopt;
  std::optional<std::size_t> best;
  std::int64_t total = 0;
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (!now[i].usable) continue;
    scores_[i] += weights_[i];
    total += weights_[i];
    if (!best || scores_[i] > scores_[*best]) best = i;
  }
  if (best) scores_[*best] -= total;
  return best;
  // [lab21:pick:end]
}

std::optional<std::size_t> Picker::pick_least_conn(std::span<const Candidate> now) {
  std::optional<std::size_t> best;
  const std::size_t n = now.size();
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (next_ + k) % n;
    if (!now[i].usable) continue;
    // active_i / w_i < active_b / w_b, without division.
    if (!best || static_cast<std::int64_t>(now[i].active) * weights_[*best] <
                     static_cast<std::int64_t>(now[*best].active) * weights_[i]) {
      best = i;
    }
  }
  next_ = (next_ + 1) % n;
  return best;
}

std::optional<std::size_t> Picker::pick_hash(std::span<const Candidate> now,
                                             std::string_view key) const {
  const std::uint64_t h = hash(key);
  auto it = std::lower_bound(ring_.begin(), ring_.end(),
                             std::pair<std::uint64_t, std::size_t>{h, 0});
  for (std::size_t step = 0; step < ring_.size(); ++step, ++it) {
    if (it == ring_.end()) it = ring_.begin();
    if (now[it->second].usable) return it->second;
  }
  return std::nullopt;
}

}  // namespace serverlab::proxy
