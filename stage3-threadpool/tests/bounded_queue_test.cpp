// Tests of BoundedQueue<T>: FIFO order, blocking on full and on empty, close()
// waking every waiter on both sides, try_push on a full queue, and no item lost
// or duplicated under 4 producers x 4 consumers.
#include "bounded_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "concurrency_helpers.hpp"

namespace serverlab {
namespace {

using testing::eventually;
using testing::kStaysBlocked;

TEST(BoundedQueue, PopsInFifoOrder) {
  BoundedQueue<int> q(8);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(q.push(i));
  EXPECT_EQ(q.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(q.pop(), i);
  EXPECT_EQ(q.size(), 0u);
}

TEST(BoundedQueue, RejectsZeroCapacity) {
  EXPECT_THROW(BoundedQueue<int>(0), std::invalid_argument);
}

TEST(BoundedQueue, TryPushOnFullFailsAndLeavesItemWithCaller) {
  BoundedQueue<std::unique_ptr<int>> q(2);
  EXPECT_EQ(q.capacity(), 2u);
  auto a = std::make_unique<int>(1);
  auto b = std::make_unique<int>(2);
  auto c = std::make_unique<int>(3);
  EXPECT_TRUE(q.try_push(a));
  EXPECT_TRUE(q.try_push(b));
  EXPECT_EQ(a, nullptr);  // moved into the queue
  EXPECT_FALSE(q.try_push(c));
  ASSERT_NE(c, nullptr);  // still ours: the caller can answer 503 with it
  EXPECT_EQ(*c, 3);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(*q.pop().value(), 1);
  EXPECT_TRUE(q.try_push(c));  // room again
}

TEST(BoundedQueue, ProducerBlocksWhileFullUntilAConsumerPops) {
  BoundedQueue<int> q(1);
  ASSERT_TRUE(q.push(1));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.push(2);
    pushed = true;
  });
  std::this_thread::sleep_for(kStaysBlocked);
  EXPECT_FALSE(pushed.load()) << "push() returned although the queue was full";
  EXPECT_EQ(q.pop(), 1);
  EXPECT_TRUE(eventually([&] { return pushed.load(); })) << "pop() did not wake the producer";
  producer.join();
  EXPECT_EQ(q.pop(), 2);
}

TEST(BoundedQueue, ConsumerBlocksWhileEmptyUntilAPush) {
  BoundedQueue<int> q(4);
  std::atomic<bool> popped{false};
  std::optional<int> got;
  std::thread consumer([&] {
    got = q.pop();
    popped = true;
  });
  std::this_thread::sleep_for(kStaysBlocked);
  EXPECT_FALSE(popped.load()) << "pop() returned although the queue was empty";
  ASSERT_TRUE(q.push(42));
  EXPECT_TRUE(eventually([&] { return popped.load(); })) << "push() did not wake the consumer";
  consumer.join();
  EXPECT_EQ(got, 42);
}

TEST(BoundedQueue, CloseWakesEveryBlockedConsumer) {
  BoundedQueue<int> q(4);
  constexpr int kConsumers = 4;
  std::atomic<int> woke{0};
  std::atomic<int> got_item{0};
  std::vector<std::thread> consumers;
  for (int i = 0; i < kConsumers; ++i) {
    consumers.emplace_back([&] {
      if (q.pop().has_value()) ++got_item;
      ++woke;
    });
  }
  std::this_thread::sleep_for(kStaysBlocked);
  EXPECT_EQ(woke.load(), 0);
  q.close();
  // ASSERT: a waiter left asleep could never be joined; failing here ends the test.
  ASSERT_TRUE(eventually([&] { return woke.load() == kConsumers; }))
      << "close() woke only " << woke.load() << " of " << kConsumers << " consumers";
  for (auto& t : consumers) t.join();
  EXPECT_EQ(got_item.load(), 0);
}

TEST(BoundedQueue, CloseWakesEveryBlockedProducer) {
  BoundedQueue<int> q(1);
  ASSERT_TRUE(q.push(0));
  constexpr int kProducers = 4;
  std::atomic<int> woke{0};
  std::atomic<int> accepted{0};
  std::vector<std::thread> producers;
  for (int i = 0; i < kProducers; ++i) {
    producers.emplace_back([&, i] {
      if (q.push(i + 1)) ++accepted;
      ++woke;
    });
  }
  std::this_thread::sleep_for(kStaysBlocked);
  EXPECT_EQ(woke.load(), 0);
  q.close();
  // ASSERT: a waiter left asleep could never be joined; failing here ends the test.
  ASSERT_TRUE(eventually([&] { return woke.load() == kProducers; }))
      << "close() woke only " << woke.load() << " of " << kProducers << " producers";
  for (auto& t : producers) t.join();
  EXPECT_EQ(accepted.load(), 0);
  EXPECT_EQ(q.size(), 1u);
}

TEST(BoundedQueue, PopDrainsWhatIsLeftAfterCloseThenReturnsNullopt) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.push(1));
  ASSERT_TRUE(q.push(2));
  q.close();
  EXPECT_TRUE(q.closed());
  EXPECT_FALSE(q.push(3));
  int three = 3;
  EXPECT_FALSE(q.try_push(three));
  EXPECT_EQ(q.pop(), 1);
  EXPECT_EQ(q.pop(), 2);
  EXPECT_EQ(q.pop(), std::nullopt);
  EXPECT_EQ(q.pop(), std::nullopt);  // and stays so
}

TEST(BoundedQueue, TryPopNeverBlocks) {
  BoundedQueue<int> q(2);
  EXPECT_EQ(q.try_pop(), std::nullopt);
  ASSERT_TRUE(q.push(5));
  EXPECT_EQ(q.try_pop(), 5);
}

// Every item pushed by 4 producers is popped by exactly one of 4 consumers, and
// each consumer sees any one producer's items in the order they were pushed.
TEST(BoundedQueue, NoItemLostOrDuplicatedAcrossFourProducersAndFourConsumers) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 4;
  constexpr int kPerProducer = 10'000;
  BoundedQueue<int> q(16);  // small, so both sides block often
  std::vector<std::vector<int>> seen(kConsumers);
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      while (auto item = q.pop()) seen[static_cast<std::size_t>(c)].push_back(*item);
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) q.push(p * kPerProducer + i);
    });
  }
  for (auto& t : producers) t.join();
  q.close();
  for (auto& t : consumers) t.join();

  std::vector<int> all;
  for (const auto& v : seen) {
    std::vector<int> last(kProducers, -1);
    for (int item : v) {
      auto& prev = last[static_cast<std::size_t>(item / kPerProducer)];
      EXPECT_GT(item, prev) << "a consumer saw producer " << item / kPerProducer
                            << "'s items out of order";
      prev = item;
    }
    all.insert(all.end(), v.begin(), v.end());
  }
  ASSERT_EQ(all.size(), std::size_t{kProducers} * kPerProducer) << "items lost or duplicated";
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i], static_cast<int>(i)) << "item " << i << " lost or duplicated";
  }
}

}  // namespace
}  // namespace serverlab
