// DeadlineTimer: moved only when the deadline moves earlier, re-armed by passed()
// when it fired before a deadline that moved later, silent after cancel().
// Timer lengths are 0 ms or many seconds, so no assertion depends on how fast
// the machine is: a 10 s timer cannot fire within a 5 s poll.
#include "deadline_timer.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "event_loop.hpp"

namespace serverlab {
namespace {

using Clock = DeadlineTimer::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Runs the loop until `done` or about `limit` of polls have passed.
template <typename Done>
void run_until(EventLoop& loop, Done done, int polls = 50) {
  for (int i = 0; i < polls && !done(); ++i) loop.run_once(100);
}

TEST(DeadlineTimer, AnEarlierDeadlineMovesThePendingTimer) {
  EventLoop loop;
  int fired = 0;
  DeadlineTimer timer(loop, [&] { ++fired; });
  timer.arm(Clock::now() + seconds(10));
  timer.arm(Clock::now());  // earlier: must replace the 10 s timer
  run_until(loop, [&] { return fired > 0; });
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(timer.pending());
  EXPECT_EQ(loop.timer_count(), 0u) << "the 10 s timer was left behind";
}

TEST(DeadlineTimer, ALaterDeadlineLeavesThePendingTimerAndPassedRearms) {
  EventLoop loop;
  Clock::time_point deadline = Clock::now();
  int early = 0, fired = 0;
  DeadlineTimer* self = nullptr;
  DeadlineTimer timer(loop, [&] {
    if (!self->passed(deadline)) {
      ++early;  // fired for the old deadline: re-armed for the new one
      deadline = Clock::now();  // ... which now passes at once
      self->arm(deadline);
      return;
    }
    ++fired;
  });
  self = &timer;
  timer.arm(deadline);                       // 0 ms
  deadline = Clock::now() + seconds(3600);   // moved later: no timer work
  timer.arm(deadline);
  EXPECT_EQ(loop.timer_count(), 1u);
  run_until(loop, [&] { return fired > 0; });
  EXPECT_EQ(early, 1) << "the 0 ms timer should have stayed and fired early";
  EXPECT_EQ(fired, 1);
}

TEST(DeadlineTimer, PassedIsTrueOnceTheDeadlineHasPassed) {
  EventLoop loop;
  DeadlineTimer timer(loop, [] {});
  EXPECT_TRUE(timer.passed(Clock::now() - milliseconds(1)));
  EXPECT_FALSE(timer.pending()) << "a passed deadline arms nothing";
  EXPECT_FALSE(timer.passed(Clock::now() + seconds(10)));
  EXPECT_TRUE(timer.pending()) << "a deadline not yet passed is armed for";
}

TEST(DeadlineTimer, CancelAndDestructionSilenceIt) {
  EventLoop loop;
  int fired = 0;
  DeadlineTimer timer(loop, [&] { ++fired; });
  timer.arm(Clock::now());
  timer.cancel();
  {
    DeadlineTimer other(loop, [&] { ++fired; });
    other.arm(Clock::now());
  }  // destroyed with its timer pending
  loop.run_once(50);
  loop.run_once(50);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(loop.timer_count(), 0u);
}

}  // namespace
}  // namespace serverlab
