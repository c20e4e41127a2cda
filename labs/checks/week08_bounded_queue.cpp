// Lab 08 (week 8): the bounded blocking queue between the accept thread and the
// workers (stage3-threadpool/bounded_queue.hpp). Checks push and pop through the
// public interface, with real threads. Every wait is bounded: a queue that never
// wakes a waiter fails the check instead of hanging it. Tags: [bounded-queue-push]
// [bounded-queue-pop].
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
  REQUIRE(q.push(1));  // REQUIRE: a pop() on an empty queue would block forever
  REQUIRE(q.push(2));
  REQUIRE(q.push(3));
  REQUIRE(q.size() == 3);
  CHECK(q.pop() == std::optional<int>(1));
  CHECK(q.pop() == std::optional<int>(2));
  CHECK(q.pop() == std::optional<int>(3));
  CHECK(q.size() == 0);
}

TEST_CASE("push moves the item in (a move-only type works)", "[bounded-queue-push]") {
  BoundedQueue<std::unique_ptr<int>> q(1);
  REQUIRE(q.push(std::make_unique<int>(42)));
  REQUIRE(q.size() == 1);
  std::optional<std::unique_ptr<int>> got = q.try_pop();
  REQUIRE(got.has_value());
  CHECK(**got == 42);
}

TEST_CASE("push blocks while the queue is full and resumes after a pop",
          "[bounded-queue-push]") {
  BoundedQueue<int> q(1);
  REQUIRE(q.push(1));
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
  REQUIRE(q.push(1));
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
  REQUIRE(finished);
  CHECK(refused.load() == 0);
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  CHECK(wrong == 0);
}
