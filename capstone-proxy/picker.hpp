// picker.hpp: Picker, which backend gets the next request.
//
// Modes (--balance):
//   round-robin   smooth weighted round-robin (nginx's): every pick adds each usable
//                 backend's weight to its score, takes the highest score and takes
//                 the total weight off the winner. Weights 5,1,1 give a a b a c a a,
//                 interleaved, never five a's in a row.
//   least-conn    the usable backend with the fewest open requests per unit of
//                 weight (active / weight, compared by cross-multiplying); ties go
//                 round-robin so equal backends share the load.
//   hash-ip       consistent hash of the client address: the same client reaches the
//   hash-path     same backend; a backend that goes away moves only its own keys.
//                 (hash-path: the request path instead of the client.)
//
// Consistent hashing: each backend puts 64 x weight points on a 64-bit ring (hashes of
// "address#n"); a key goes to the first point at or after its own hash, walking on
// past points of unusable backends.
//
//   ring:  0 ----a----b--a-----c---b----a--c---- 2^64
//                      ^ hash(key): the next point is a's
//
// Who may call: one thread (the proxy's loop); not thread-safe (round-robin keeps
// scores). Pure: no I/O, no clock; the caller says which backends are usable now.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace serverlab::proxy {

enum class Balance { RoundRobin, LeastConn, HashIp, HashPath };
// "round-robin", "least-conn", "hash-ip", "hash-path"; nullopt for anything else.
std::optional<Balance> parse_balance(std::string_view name);
std::string_view balance_name(Balance balance);

// A backend as the picker sees it at the moment of a pick.
struct Candidate {
  bool usable = true;      // healthy (or half-open and free to probe) and not yet tried
  std::size_t active = 0;  // requests it is serving now (least-conn)
};

class Picker {
 public:
  // `names` (e.g. "127.0.0.1:8081") place each backend on the hash ring; `weights`
  // (>= 1, same length) scale its share. Throws std::invalid_argument on a length
  // mismatch, an empty list or a zero weight.
  Picker(Balance balance, const std::vector<std::string>& names,
         const std::vector<unsigned>& weights);

  // The index of the backend for this request, or nullopt when no candidate is
  // usable. `now` has one entry per backend, in the constructor's order. `key` is
  // the client address (hash-ip) or path (hash-path); the other modes ignore it.
  std::optional<std::size_t> pick(std::span<const Candidate> now, std::string_view key);

  Balance balance() const { return balance_; }
  std::size_t size() const { return weights_.size(); }

  // 64-bit FNV-1a with a final mix (public for the tests' spread checks).
  static std::uint64_t hash(std::string_view key);

 private:
  std::optional<std::size_t> pick_round_robin(std::span<const Candidate> now);
  std::optional<std::size_t> pick_least_conn(std::span<const Candidate> now);
  std::optional<std::size_t> pick_hash(std::span<const Candidate> now, std::string_view key) const;

  Balance balance_;
  std::vector<std::int64_t> weights_;
  std::vector<std::int64_t> scores_;  // round-robin's running scores
  std::size_t next_ = 0;              // least-conn's tie-break rotation
  std::vector<std::pair<std::uint64_t, std::size_t>> ring_;  // (point, backend), sorted
};

}  // namespace serverlab::proxy
