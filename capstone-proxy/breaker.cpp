// breaker.cpp: see breaker.hpp.
#include "breaker.hpp"

namespace serverlab::proxy {

bool CircuitBreaker::available(std::uint64_t now_ms) const {
  switch (state_) {
    case State::Closed: return true;
    case State::Open:
    case State::HalfOpen: return now_ms >= retry_at_ms_;  // probe due (or the last one lost)
  }
  return false;
}

void CircuitBreaker::taken(std::uint64_t now_ms) {
  if (state_ == State::Closed || now_ms < retry_at_ms_) return;
  state_ = State::HalfOpen;  // this request is the probe
  retry_at_ms_ = now_ms + options_.cooldown_ms;
}

void CircuitBreaker::success() {
  state_ = State::Closed;
  failures_ = 0;
}

void CircuitBreaker::failure(std::uint64_t now_ms) {
  if (state_ != State::Closed) {
    open(now_ms);  // the probe (or a straggler from before) failed
    return;
  }
  if (++failures_ >= options_.failure_threshold) open(now_ms);
}

void CircuitBreaker::open(std::uint64_t now_ms) {
  state_ = State::Open;
  failures_ = 0;
  retry_at_ms_ = now_ms + options_.cooldown_ms;
  ++opened_;
}

std::string_view state_name(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::Closed: return "closed";
    case CircuitBreaker::State::Open: return "open";
    case CircuitBreaker::State::HalfOpen: return "half-open";
  }
  return "?";
}

}  // namespace serverlab::proxy
