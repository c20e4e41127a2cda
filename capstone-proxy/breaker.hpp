// breaker.hpp: CircuitBreaker, passive health of one backend.
//
//            N failures in a row                 cooldown over: the next pick
//   Closed ----------------------> Open -------------------------------> HalfOpen
//     ^                             ^  (no requests)                     (one probe
//     |                             |                                     request)
//     +------ probe succeeds -------+------------ probe fails -------------+
//
// Closed: requests flow; each failure counts, each success resets the count.
// Open: the backend gets no requests until `cooldown_ms` has passed.
// HalfOpen: exactly one request (the probe) is let through; its success closes the
// breaker, its failure opens it for another cooldown. A probe that never reports
// (its client went away) is given up after another cooldown, and a new probe is let
// through, so the breaker cannot stick half-open.
//
// An active health check (--health-path) reports into the same breaker: a passing
// check closes it, a failing one counts as a failure.
//
// Pure: the caller passes the clock (milliseconds, any monotonic origin). One
// thread (the proxy's loop); not thread-safe.
// Who may call: the proxy's backend bookkeeping and the tests.
#pragma once

#include <cstdint>
#include <string_view>

namespace serverlab::proxy {

class CircuitBreaker {
 public:
  enum class State { Closed, Open, HalfOpen };
  struct Options {
    unsigned failure_threshold = 3;  // failures in a row that open it (>= 1)
    std::uint64_t cooldown_ms = 2000;
  };

  CircuitBreaker() = default;
  explicit CircuitBreaker(Options options) : options_(options) {}

  // May a request go to this backend now? (Closed; or a probe is due.) Does not
  // change state: call taken() once a request is really sent its way.
  bool available(std::uint64_t now_ms) const;
  // A request was routed here: when a probe was due, this request is the probe.
  void taken(std::uint64_t now_ms);
  void success();
  void failure(std::uint64_t now_ms);

  State state() const { return state_; }
  bool healthy() const { return state_ == State::Closed; }
  unsigned failures_in_a_row() const { return failures_; }
  std::uint64_t times_opened() const { return opened_; }

 private:
  void open(std::uint64_t now_ms);

  Options options_;
  State state_ = State::Closed;
  unsigned failures_ = 0;
  std::uint64_t retry_at_ms_ = 0;  // Open: when a probe may go; HalfOpen: when to give up on it
  std::uint64_t opened_ = 0;
};

std::string_view state_name(CircuitBreaker::State state);

}  // namespace serverlab::proxy
