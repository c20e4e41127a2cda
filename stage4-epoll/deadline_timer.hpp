// deadline_timer.hpp: DeadlineTimer, one connection's loop timer that follows a
// deadline which moves with every request.
//
// Why: a connection's deadline (header timeout, keep-alive timeout, send timeout)
// moves after almost every read or write, nearly always later. Cancelling and
// re-adding a heap timer each time would cost a heap operation per request; this
// timer is moved only when the deadline moves EARLIER, and otherwise left to fire
// early, when the owner looks at the real deadline and re-arms (passed()):
//
//   arm(d):     no timer pending       -> a timer at d
//               pending at t <= d      -> left alone (fires first, passed() re-arms)
//               pending at t >  d      -> cancelled, a timer at d
//   on fire:    the owner's callback -> if (!timer.passed(deadline())) return;
//                                       ... the deadline really passed: act
//
// So a keep-alive request normally costs no timer-heap work at all, and no clock
// read either: "now" is the loop's cached time (EventLoop::now()). Used by
// Connection (HTTP/1.1 and the TLS handshake) and H2Connection (HTTP/2).
//
// Who may call: the owner, on the loop thread only. The owner must outlive no
// pending callback: the destructor cancels the timer. Not copyable or movable
// (the loop's callback points at this object).
#pragma once

#include <chrono>
#include <functional>
#include <utility>

#include "event_loop.hpp"

namespace serverlab {

class DeadlineTimer {
 public:
  using Clock = std::chrono::steady_clock;

  // `on_fire` runs on the loop thread when the timer fires (at or after the
  // deadline it was armed for, which may since have moved later).
  DeadlineTimer(EventLoop& loop, std::function<void()> on_fire)
      : loop_(loop), on_fire_(std::move(on_fire)) {}
  ~DeadlineTimer() { cancel(); }
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Makes the timer fire no later than `deadline` (see the table above).
  void arm(Clock::time_point deadline);
  // For on_fire: true when `deadline` has passed; otherwise re-arms for it and
  // returns false (the deadline moved later after the timer was armed).
  bool passed(Clock::time_point deadline);
  // No callback will run until the next arm().
  void cancel();
  bool pending() const { return loop_.timer_pending(id_); }

 private:
  EventLoop& loop_;
  std::function<void()> on_fire_;
  TimerId id_;
  Clock::time_point at_{};  // what the pending timer was armed for
};

}  // namespace serverlab
