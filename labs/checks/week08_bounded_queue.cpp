// Lab 08 (week 8): the bounded blocking queue between the accept thread and the
// workers (stage3-threadpool/bounded_queue.hpp). Checks push and pop through the
// public interface, with real threads. Every wait is bounded: a queue that never
// wakes a waiter fails the check, by name, instead of hanging it. Tags:
// [bounded-queue-push] [bounded-queue-pop].
//
// The lost wake-up checks put one thread to sleep in the student's pop (or push) and
// wake it with the student's push (or pop): a missing notify_one leaves it asleep,
// and the check says so after a second or two instead of a stress test timing out.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "lab_support.hpp"

#include "bounded_queue.hpp"

using serverlab::BoundedQueue;
using namespace std::chrono_literals;

namespace {

// How long a woken thread gets to come back before the check calls it a lost wake-up.
constexpr auto kWakeLimit = 2000ms;

// Closes the queue when the test case leaves, so that a thread still asleep in push
// or pop returns (close() wakes every waiter) and can be joined. Declare it AFTER the
// std::future of that thread: it is then destroyed first.
template <typename Q>
class CloseOnExit {
 public:
  explicit CloseOnExit(Q& queue) : queue_(queue) {}
  ~CloseOnExit() { queue_.close(); }
  CloseOnExit(const CloseOnExit&) = delete;
  CloseOnExit& operator=(const CloseOnExit&) = delete;

 private:
  Q& queue_;
};

// push() on an open queue that has room must append and return true.
template <typename T>
void push_with_room(BoundedQueue<T>& q, T item) {
  INFO("push() returned false on an open queue with room, as the stub does: "
       << labcheck::kStillTheStub << ", or push() refuses an item it should append");
  REQUIRE(q.push(std::move(item)));
}

// pop() on a queue that holds an item must return it at once.
template <typename T>
std::optional<T> pop_available(BoundedQueue<T>& q) {
  const std::size_t held = q.size();
  std::optional<T> got = q.pop();
  INFO("pop() returned nullopt from a queue holding " << held << " item(s), as the stub does: "
       << labcheck::kStillTheStub << ", or pop() gives up before taking the item");
  CHECK(got.has_value());
  return got;
}

// Waits (at most ~3 s) until the thread `tid` running `task` is asleep in the kernel,
// seen twice 20 ms apart (inside push or pop that can only be the wait on a condition
// variable), or until `task` has returned. True when it is asleep.
template <typename R>
bool asleep(const std::atomic<pid_t>& tid, std::future<R>& task) {
  auto returned = [&] { return task.wait_for(0ms) == std::future_status::ready; };
  auto sleeping = [&] { return tid != 0 && labcheck::blocked_in_kernel(tid); };
  const bool settled = labcheck::eventually([&] {
    if (returned()) return true;
    if (!sleeping()) return false;
    std::this_thread::sleep_for(20ms);
    return sleeping();
  });
  return settled && !returned();
}

// Runs f on a thread; the check waits at most `limit` for it. On timeout the queue is
// closed so the thread can finish, and the check fails.
template <typename Q, typename F>
bool finishes_within(Q& queue, std::chrono::milliseconds limit, F f) {
  auto done = std::async(std::launch::async, f);
  if (done.wait_for(limit) == std::future_status::ready) return true;
  queue.close();
  done.wait();
  return false;
}

}  // namespace

TEST_CASE("push accepts items up to the capacity and pop returns them in order",
          "[bounded-queue-push][bounded-queue-pop]") {
  BoundedQueue<int> q(3);
  push_with_room(q, 1);  // it REQUIREs: a pop() on an empty queue would block forever
  push_with_room(q, 2);
  push_with_room(q, 3);
  REQUIRE(q.size() == 3);
  CHECK(pop_available(q) == std::optional<int>(1));
  CHECK(pop_available(q) == std::optional<int>(2));
  CHECK(pop_available(q) == std::optional<int>(3));
  CHECK(q.size() == 0);
}

// The consumer goes to sleep in pop() on the empty queue first; only then does push()
// add an item. If push() does not notify not_empty_, nothing ever wakes the consumer.
TEST_CASE("push wakes a consumer asleep in pop (no lost wake-up)", "[bounded-queue-push]") {
  BoundedQueue<int> q(1);
  std::atomic<pid_t> tid{0};
  auto consumer = std::async(std::launch::async, [&] {
    tid = labcheck::current_tid();
    return q.pop();
  });
  CloseOnExit closer(q);  // destroyed before `consumer`: a sleeper is let go
  if (!asleep(tid, consumer)) {
    if (consumer.wait_for(0ms) != std::future_status::ready)
      FAIL("pop() on an empty open queue neither slept nor returned in 3 s: does it spin "
           "instead of waiting on not_empty_?");
    FAIL("pop() on an empty open queue returned " << Catch::Detail::stringify(consumer.get())
         << " at once instead of waiting for an item, as the stub does: "
         << labcheck::kStillTheStub << ", or pop() does not wait");
  }
  push_with_room(q, 7);
  if (consumer.wait_for(kWakeLimit) != std::future_status::ready)
    FAIL("pop() never woke up after push(): a lost wake-up. Does push() call notify_one "
         "on not_empty_?");
  CHECK(consumer.get() == std::optional<int>(7));
}

// The producer goes to sleep in push() on the full queue first; only then does pop()
// take an item. If pop() does not notify not_full_, nothing ever wakes the producer.
TEST_CASE("pop wakes a producer asleep in push (no lost wake-up)", "[bounded-queue-pop]") {
  BoundedQueue<int> q(1);
  push_with_room(q, 1);
  std::atomic<pid_t> tid{0};
  auto producer = std::async(std::launch::async, [&] {
    tid = labcheck::current_tid();
    return q.push(2);
  });
  CloseOnExit closer(q);
  if (!asleep(tid, producer)) {
    if (producer.wait_for(0ms) != std::future_status::ready)
      FAIL("push() on a full open queue neither slept nor returned in 3 s: does it spin "
           "instead of waiting on not_full_?");
    FAIL("push() on a full open queue returned " << std::boolalpha << producer.get()
         << " at once instead of waiting for room");
  }
  CHECK(pop_available(q) == std::optional<int>(1));
  if (producer.wait_for(kWakeLimit) != std::future_status::ready)
    FAIL("push() never woke up after pop() made room: a lost wake-up. Does pop() call "
         "notify_one on not_full_?");
  CHECK(producer.get());
  CHECK(q.try_pop() == std::optional<int>(2));
}

TEST_CASE("push moves the item in (a move-only type works)", "[bounded-queue-push]") {
  BoundedQueue<std::unique_ptr<int>> q(1);
  push_with_room(q, std::make_unique<int>(42));
  REQUIRE(q.size() == 1);
  std::optional<std::unique_ptr<int>> got = q.try_pop();
  REQUIRE(got.has_value());
  CHECK(**got == 42);
}

TEST_CASE("push blocks while the queue is full and resumes after a pop",
          "[bounded-queue-push]") {
  BoundedQueue<int> q(1);
  push_with_room(q, 1);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    pushed = q.push(2);
  });
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(pushed.load());  // still waiting for room
  CHECK(q.try_pop() == std::optional<int>(1));
  for (int i = 0; i < 200 && !pushed; ++i) std::this_thread::sleep_for(10ms);
  q.close();  // unblocks a producer that missed the wakeup, so join() cannot hang
  producer.join();
  CHECK(pushed.load());
  CHECK(q.try_pop() == std::optional<int>(2));
}

TEST_CASE("push returns false once the queue is closed, even when it was waiting",
          "[bounded-queue-push]") {
  BoundedQueue<int> q(1);
  push_with_room(q, 1);
  std::atomic<int> result{-1};
  std::thread producer([&] { result = q.push(2) ? 1 : 0; });
  std::this_thread::sleep_for(30ms);
  q.close();
  producer.join();
  CHECK(result.load() == 0);
  CHECK_FALSE(q.push(3));
}

TEST_CASE("pop blocks until an item arrives", "[bounded-queue-pop]") {
  BoundedQueue<int> q(2);
  std::optional<int> got;
  bool finished = finishes_within(q, 3000ms, [&] {
    std::thread producer([&] {
      std::this_thread::sleep_for(30ms);
      q.try_push(7);
    });
    got = q.pop();
    producer.join();
  });
  CHECK(finished);
  CHECK(got == std::optional<int>(7));
}

TEST_CASE("pop drains what is left after close, then returns nullopt", "[bounded-queue-pop]") {
  BoundedQueue<int> q(4);
  REQUIRE(q.try_push(1));
  REQUIRE(q.try_push(2));
  q.close();
  CHECK(q.pop() == std::optional<int>(1));
  CHECK(q.pop() == std::optional<int>(2));
  CHECK(q.pop() == std::nullopt);
}

TEST_CASE("close wakes every blocked consumer", "[bounded-queue-pop]") {
  BoundedQueue<int> q(1);
  std::atomic<int> woke{0};
  std::vector<std::thread> consumers;
  for (int i = 0; i < 4; ++i) {
    consumers.emplace_back([&] {
      if (!q.pop()) ++woke;
    });
  }
  std::this_thread::sleep_for(30ms);
  q.close();
  for (auto& t : consumers) t.join();
  CHECK(woke.load() == 4);
}

TEST_CASE("many producers and consumers: every item arrives exactly once",
          "[bounded-queue-push][bounded-queue-pop]") {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 2000;
  BoundedQueue<int> q(8);
  std::vector<std::atomic<int>> seen(kProducers * kPerProducer);
  std::atomic<int> refused{0};
  bool finished = finishes_within(q, 20000ms, [&] {
    std::vector<std::thread> threads;
    for (int p = 0; p < kProducers; ++p) {
      threads.emplace_back([&, p] {
        for (int i = 0; i < kPerProducer; ++i) {
          if (!q.push(p * kPerProducer + i)) ++refused;
        }
      });
    }
    std::vector<std::thread> consumers;
    for (int c = 0; c < 3; ++c) {
      consumers.emplace_back([&] {
        while (std::optional<int> v = q.pop()) ++seen[static_cast<std::size_t>(*v)];
      });
    }
    for (auto& t : threads) t.join();
    q.close();
    for (auto& t : consumers) t.join();
  });
  INFO("4 producers and 3 consumers did not move 8000 items through a queue of 8 in 20 s: "
       "a thread slept through its wake-up (see the lost wake-up checks) or deadlocked");
  REQUIRE(finished);
  CHECK(refused.load() == 0);
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  CHECK(wrong == 0);
}
