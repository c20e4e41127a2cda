// TimerHeap: order, cancellation, stale ids and re-entrant callbacks.
#include "timer_heap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace serverlab {
namespace {

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += std::to_string(x) + " ";
  return s;
}

TEST(TimerHeap, FiresInDeadlineOrder) {
  TimerHeap heap;
  std::vector<int> fired;
  heap.add(30, [&fired] { fired.push_back(30); });
  heap.add(10, [&fired] { fired.push_back(10); });
  heap.add(20, [&fired] { fired.push_back(20); });
  EXPECT_EQ(heap.run_expired(100), 3u);
  EXPECT_EQ(fired, (std::vector<int>{10, 20, 30})) << join(fired);
  EXPECT_TRUE(heap.empty());
}

TEST(TimerHeap, EqualDeadlinesFireInInsertionOrder) {
  TimerHeap heap;
  std::vector<int> fired;
  for (int i = 0; i < 8; ++i) heap.add(5, [&fired, i] { fired.push_back(i); });
  heap.run_expired(5);
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7})) << join(fired);
}

TEST(TimerHeap, RunsOnlyTimersThatAreDue) {
  TimerHeap heap;
  std::vector<int> fired;
  heap.add(10, [&fired] { fired.push_back(10); });
  heap.add(20, [&fired] { fired.push_back(20); });
  EXPECT_EQ(heap.run_expired(15), 1u);
  EXPECT_EQ(fired, (std::vector<int>{10}));
  ASSERT_TRUE(heap.next_deadline().has_value());
  EXPECT_EQ(*heap.next_deadline(), 20u);
  EXPECT_EQ(heap.run_expired(19), 0u);
  EXPECT_EQ(heap.run_expired(20), 1u);
  EXPECT_FALSE(heap.next_deadline().has_value());
}

TEST(TimerHeap, CancelledTimerNeverFires) {
  TimerHeap heap;
  bool fired = false;
  TimerId id = heap.add(10, [&fired] { fired = true; });
  EXPECT_TRUE(heap.pending(id));
  EXPECT_TRUE(heap.cancel(id));
  EXPECT_FALSE(heap.pending(id));
  EXPECT_FALSE(heap.cancel(id)) << "a second cancel must be a no-op";
  heap.run_expired(1000);
  EXPECT_FALSE(fired);
}

TEST(TimerHeap, CancelDestroysTheCallbackAndItsCaptures) {
  TimerHeap heap;
  auto token = std::make_shared<int>(7);
  TimerId id = heap.add(10, [token] { (void)token; });
  EXPECT_EQ(token.use_count(), 2);
  heap.cancel(id);
  EXPECT_EQ(token.use_count(), 1);
}

TEST(TimerHeap, StaleIdDoesNotCancelTheTimerReusingItsSlot) {
  TimerHeap heap;
  TimerId first = heap.add(1, [] {});
  heap.run_expired(1);
  bool second_fired = false;
  TimerId second = heap.add(2, [&second_fired] { second_fired = true; });
  EXPECT_NE(first, second);
  EXPECT_FALSE(heap.cancel(first)) << "the id of a timer that already fired is stale";
  heap.run_expired(2);
  EXPECT_TRUE(second_fired);
}

TEST(TimerHeap, EmptyIdCancelsNothing) {
  TimerHeap heap;
  heap.add(1, [] {});
  EXPECT_FALSE(heap.cancel(TimerId{}));
  EXPECT_EQ(heap.size(), 1u);
}

TEST(TimerHeap, CallbackMayCancelALaterDueTimer) {
  TimerHeap heap;
  std::vector<int> fired;
  TimerId victim;
  heap.add(1, [&] {
    fired.push_back(1);
    EXPECT_TRUE(heap.cancel(victim));
  });
  victim = heap.add(1, [&fired] { fired.push_back(2); });
  heap.add(1, [&fired] { fired.push_back(3); });
  heap.run_expired(1);
  EXPECT_EQ(fired, (std::vector<int>{1, 3})) << join(fired);
}

TEST(TimerHeap, CallbackCancellingItselfIsHarmless) {
  TimerHeap heap;
  int runs = 0;
  TimerId self;
  self = heap.add(1, [&] {
    ++runs;
    EXPECT_FALSE(heap.cancel(self));
  });
  heap.run_expired(1);
  EXPECT_EQ(runs, 1);
}

TEST(TimerHeap, TimerAddedByACallbackWaitsForTheNextRun) {
  TimerHeap heap;
  int rearmed_runs = 0;
  heap.add(1, [&] { heap.add(1, [&rearmed_runs] { ++rearmed_runs; }); });
  EXPECT_EQ(heap.run_expired(1), 1u);
  EXPECT_EQ(rearmed_runs, 0) << "a re-armed 0 ms timer must not run in the same pass";
  EXPECT_EQ(heap.run_expired(1), 1u);
  EXPECT_EQ(rearmed_runs, 1);
}

TEST(TimerHeap, ManyRandomTimersFireSortedAndCancelledOnesNever) {
  std::mt19937 rng(12345);
  TimerHeap heap;
  struct Rec {
    std::uint64_t deadline;
    int index;
  };
  std::vector<Rec> fired;
  std::vector<TimerId> ids;
  std::vector<std::uint64_t> deadlines;
  for (int i = 0; i < 2000; ++i) {
    std::uint64_t d = rng() % 500;
    deadlines.push_back(d);
    ids.push_back(heap.add(d, [&fired, d, i] { fired.push_back({d, i}); }));
  }
  std::vector<bool> cancelled(ids.size(), false);
  for (std::size_t i = 0; i < ids.size(); i += 3) {
    ASSERT_TRUE(heap.cancel(ids[i]));
    cancelled[i] = true;
  }
  for (std::uint64_t now = 0; now <= 500; now += 7) heap.run_expired(now);
  heap.run_expired(1000);
  std::size_t expected = 0;
  for (bool c : cancelled) expected += c ? 0 : 1;
  ASSERT_EQ(fired.size(), expected);
  for (std::size_t i = 1; i < fired.size(); ++i) {
    const bool ordered = fired[i - 1].deadline < fired[i].deadline ||
                         (fired[i - 1].deadline == fired[i].deadline &&
                          fired[i - 1].index < fired[i].index);
    ASSERT_TRUE(ordered) << "position " << i << ": " << fired[i - 1].deadline << "/"
                         << fired[i - 1].index << " before " << fired[i].deadline << "/"
                         << fired[i].index;
  }
  for (const Rec& r : fired) ASSERT_FALSE(cancelled[static_cast<std::size_t>(r.index)]);
}

}  // namespace
}  // namespace serverlab
