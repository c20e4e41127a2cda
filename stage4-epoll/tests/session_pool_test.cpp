// SessionPool: reuse, shrink on return, bounded free list, counters; a reused
// session continues the connection it is lent to.
#include "session_pool.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "serverlab/metrics.hpp"
#include "temp_dir.hpp"

namespace serverlab {
namespace {

// A document root with one file, and the service over it.
class SessionPoolTest : public ::testing::Test {
 protected:
  SessionPoolTest() {
    root_.write("a.txt", "alpha\n");
    config_.root = root_.path();
    config_.max_keepalive_requests = 2;
    service_ = std::make_unique<http::HttpService>(config_, &metrics_);
  }

  // One request in, the response out; returns the wire bytes.
  static std::string serve(http::HttpSession& s) {
    s.input().append("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    s.on_input();
    std::string wire;
    for (int guard = 0; guard < 10 && s.want() == http::HttpSession::Want::Write; ++guard) {
      const http::HttpSession::Output out = s.output();
      wire.append(out.bytes);
      s.wrote(out.bytes.size());
    }
    return wire;
  }

  serverlab::testing::TempDir root_{"session-pool-test"};
  http::HttpConfig config_;
  Metrics metrics_;
  std::unique_ptr<http::HttpService> service_;
};

TEST_F(SessionPoolTest, ReusesAReturnedSessionForAnotherConnection) {
  SessionPool pool(*service_);
  PooledSession first = pool.acquire("10.0.0.1", http::HttpSession::opening(*service_));
  const http::HttpSession* address = first.get();
  EXPECT_EQ(pool.outstanding(), 1u);
  first.reset();
  EXPECT_EQ(pool.outstanding(), 0u);
  EXPECT_EQ(pool.free_count(), 1u);
  PooledSession second = pool.acquire("10.0.0.2", http::HttpSession::opening(*service_));
  EXPECT_EQ(second.get(), address) << "a free session was not reused";
  EXPECT_EQ(pool.created(), 1u);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(metrics_.connections_total(), 0u) << "pooled sessions count no connections";
}

TEST_F(SessionPoolTest, TheCarryTravelsBetweenSessions) {
  SessionPool pool(*service_);
  http::HttpSession::Carry carry = http::HttpSession::opening(*service_);
  PooledSession busy = pool.acquire("p", carry);
  PooledSession other = pool.acquire("q", carry);  // a second connection, in parallel
  std::string wire = serve(*busy);
  EXPECT_NE(wire.find("Connection: keep-alive"), std::string::npos) << wire;
  ASSERT_TRUE(busy->idle());
  carry = busy->carry();
  busy.reset();  // idle: back to the pool
  other.reset();
  // Whichever session serves the connection next knows it answered one request
  // already, so with max_keepalive_requests = 2 this one is the last.
  PooledSession next = pool.acquire("p", carry);
  wire = serve(*next);
  EXPECT_NE(wire.find("Connection: close"), std::string::npos) << wire;
  EXPECT_EQ(next->want(), http::HttpSession::Want::Close);
}

TEST_F(SessionPoolTest, FreeListIsBoundedAndBigBuffersShrink) {
  SessionPool pool(*service_, SessionPoolOptions{.max_free = 1, .shrink_above = 16 * 1024});
  PooledSession a = pool.acquire("p", http::HttpSession::opening(*service_));
  PooledSession b = pool.acquire("p", http::HttpSession::opening(*service_));
  a->input().ensure_writable(256 * 1024);
  ASSERT_GT(a->input().capacity(), 16u * 1024);
  a.reset();
  b.reset();  // the free list already holds one: this one is deleted
  EXPECT_EQ(pool.free_count(), 1u);
  PooledSession again = pool.acquire("p", http::HttpSession::opening(*service_));
  EXPECT_LE(again->input().capacity(), 16u * 1024) << "a 256 KiB buffer came back unshrunk";
}

}  // namespace
}  // namespace serverlab
