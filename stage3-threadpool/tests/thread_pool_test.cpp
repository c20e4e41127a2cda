// Tests of WorkerPool<T>: every task runs, busy() counts workers inside the
// handler, stop() drains the queue and joins, a throwing handler does not kill
// its worker, try_submit on a full queue, stop(timeout) while a handler is stuck.
#include "thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include "concurrency_helpers.hpp"
#include "serverlab/log.hpp"

namespace serverlab {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::Gate;
using testing::kStaysBlocked;

TEST(WorkerPool, RunsEverySubmittedTask) {
  constexpr int kTasks = 1000;
  std::atomic<int> ran{0};
  std::atomic<long> sum{0};
  {
    WorkerPool<int> pool(4, 8, [&](int n, std::size_t) {
      sum += n;
      ++ran;
    });
    EXPECT_EQ(pool.threads(), 4u);
    for (int i = 1; i <= kTasks; ++i) ASSERT_TRUE(pool.submit(i));
    pool.stop();
  }
  EXPECT_EQ(ran.load(), kTasks);
  EXPECT_EQ(sum.load(), long{kTasks} * (kTasks + 1) / 2);
}

TEST(WorkerPool, BusyCountsWorkersInsideTheHandler) {
  Gate gate;
  std::mutex ids_mutex;
  std::set<std::size_t> ids;
  WorkerPool<int> pool(3, 4, [&](int, std::size_t id) {
    {
      std::lock_guard lock(ids_mutex);
      ids.insert(id);
    }
    gate.wait();
  });
  EXPECT_EQ(pool.busy(), 0u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.submit(i));
  EXPECT_TRUE(eventually([&] { return pool.busy() == 3; })) << "busy() = " << pool.busy();
  EXPECT_TRUE(eventually([&] { return pool.queued() == 2; })) << "queued() = " << pool.queued();
  std::this_thread::sleep_for(kStaysBlocked);
  EXPECT_EQ(pool.busy(), 3u) << "more workers busy than threads";
  {
    std::lock_guard lock(ids_mutex);
    EXPECT_EQ(ids, (std::set<std::size_t>{0, 1, 2}));
  }
  gate.open();
  EXPECT_TRUE(eventually([&] { return pool.busy() == 0 && pool.queued() == 0; }));
  pool.stop();
}

TEST(WorkerPool, StopRunsQueuedItemsJoinsAndRefusesNewOnes) {
  Gate gate;
  std::atomic<int> ran{0};
  std::atomic<int> saw_stopping{0};
  std::unique_ptr<WorkerPool<int>> pool;
  pool = std::make_unique<WorkerPool<int>>(1, 8, [&](int, std::size_t) {
    gate.wait();
    if (pool->stopping()) ++saw_stopping;
    ++ran;
  });
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool->submit(i));
  ASSERT_TRUE(eventually([&] { return pool->busy() == 1; }));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    pool->stop();
    stopped = true;
  });
  std::this_thread::sleep_for(kStaysBlocked);
  EXPECT_FALSE(stopped.load()) << "stop() returned while a handler was still running";
  EXPECT_FALSE(pool->submit(99)) << "submit() accepted an item after stop()";
  gate.open();
  stopper.join();
  EXPECT_EQ(ran.load(), 5) << "queued items were dropped instead of handled";
  EXPECT_GE(saw_stopping.load(), 4);  // all but (maybe) the first saw stopping()
  EXPECT_EQ(pool->busy(), 0u);
  pool->stop();  // idempotent
}

TEST(WorkerPool, HandlerExceptionIsLoggedAndTheWorkerCarriesOn) {
  log::configure(log::Level::Off, log::Format::Text);  // keep the expected error quiet
  std::atomic<int> ran{0};
  {
    WorkerPool<int> pool(1, 16, [&](int n, std::size_t) {
      if (n % 3 == 0) throw std::runtime_error("boom");
      if (n == 7) throw 42;  // not even a std::exception
      ++ran;
    });
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.submit(i));
    pool.stop();
  }
  log::configure(log::Level::Info, log::Format::Text);
  EXPECT_EQ(ran.load(), 5);  // 1 2 4 5 8: the one worker survived every throw
}

TEST(WorkerPool, TrySubmitOnFullQueueLeavesItemWithCaller) {
  Gate gate;
  WorkerPool<std::unique_ptr<int>> pool(1, 1,
                                        [&](std::unique_ptr<int>, std::size_t) { gate.wait(); });
  ASSERT_TRUE(pool.submit(std::make_unique<int>(1)));
  ASSERT_TRUE(eventually([&] { return pool.busy() == 1; }));  // the worker holds item 1
  auto second = std::make_unique<int>(2);
  EXPECT_TRUE(pool.try_submit(second));  // fills the queue
  auto third = std::make_unique<int>(3);
  EXPECT_FALSE(pool.try_submit(third));
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(*third, 3);
  EXPECT_EQ(pool.queued(), 1u);
  gate.open();
  pool.stop();
}

TEST(WorkerPool, StopWithTimeoutReportsAStuckHandler) {
  Gate gate;
  WorkerPool<int> pool(2, 2, [&](int, std::size_t) { gate.wait(); });
  ASSERT_TRUE(pool.submit(1));
  ASSERT_TRUE(eventually([&] { return pool.busy() == 1; }));
  EXPECT_FALSE(pool.stop(50ms)) << "stop(timeout) claimed success with a handler stuck";
  gate.open();
  EXPECT_TRUE(pool.stop(5s));
  EXPECT_EQ(pool.busy(), 0u);
}

TEST(WorkerPool, RejectsZeroThreads) {
  EXPECT_THROW(WorkerPool<int>(0, 1, [](int, std::size_t) {}), std::invalid_argument);
  EXPECT_THROW(WorkerPool<int>(1, 0, [](int, std::size_t) {}), std::invalid_argument);
}

}  // namespace
}  // namespace serverlab
