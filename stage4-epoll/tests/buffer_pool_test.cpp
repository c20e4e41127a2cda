// BufferPool: reuse, shrink on return, bounded free list, counters.
#include "buffer_pool.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace serverlab {
namespace {

TEST(BufferPool, ReusesAReturnedBuffer) {
  BufferPool pool;
  PooledBuffer first = pool.acquire();
  const Buffer* address = first.get();
  EXPECT_EQ(pool.outstanding(), 1u);
  first.reset();
  EXPECT_EQ(pool.outstanding(), 0u);
  EXPECT_EQ(pool.free_count(), 1u);
  PooledBuffer second = pool.acquire();
  EXPECT_EQ(second.get(), address) << "a free Buffer was not reused";
  EXPECT_EQ(pool.created(), 1u);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(pool.free_count(), 0u);
}

TEST(BufferPool, ReturnedBufferComesBackEmpty) {
  BufferPool pool;
  {
    PooledBuffer b = pool.acquire();
    b->append("left over bytes");
  }
  PooledBuffer b = pool.acquire();
  EXPECT_TRUE(b->empty()) << "stale bytes: " << std::string(b->view());
}

TEST(BufferPool, ShrinksABufferThatGrewBigOnReturn) {
  BufferPool pool(BufferPoolOptions{.max_free = 8, .shrink_above = 16 * 1024});
  {
    PooledBuffer b = pool.acquire();
    b->append(std::string(1 << 20, 'x'));
    ASSERT_GT(b->capacity(), 1u << 20);
  }
  EXPECT_EQ(pool.shrunk(), 1u);
  PooledBuffer b = pool.acquire();
  EXPECT_LE(b->capacity(), Buffer::kPrepend + Buffer::kInitialSize);
}

TEST(BufferPool, KeepsTheCapacityOfAModeratelyGrownBuffer) {
  BufferPool pool(BufferPoolOptions{.max_free = 8, .shrink_above = 64 * 1024});
  std::size_t grown = 0;
  {
    PooledBuffer b = pool.acquire();
    b->append(std::string(8 * 1024, 'x'));
    grown = b->capacity();
  }
  EXPECT_EQ(pool.shrunk(), 0u);
  EXPECT_EQ(pool.acquire()->capacity(), grown);
}

TEST(BufferPool, FreeListIsBounded) {
  BufferPool pool(BufferPoolOptions{.max_free = 2, .shrink_above = 64 * 1024});
  std::vector<PooledBuffer> out;
  for (int i = 0; i < 5; ++i) out.push_back(pool.acquire());
  EXPECT_EQ(pool.outstanding(), 5u);
  out.clear();
  EXPECT_EQ(pool.outstanding(), 0u);
  EXPECT_EQ(pool.free_count(), 2u) << "returned Buffers beyond max_free must be deleted";
}

TEST(BufferPool, MovedHandleReturnsExactlyOnce) {
  BufferPool pool;
  PooledBuffer a = pool.acquire();
  PooledBuffer b = std::move(a);
  EXPECT_EQ(pool.outstanding(), 1u);
  b.reset();
  a.reset();
  EXPECT_EQ(pool.outstanding(), 0u);
  EXPECT_EQ(pool.free_count(), 1u);
}

}  // namespace
}  // namespace serverlab
