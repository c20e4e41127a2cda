// The middleware's memory: ConnectionLimiter (--max-conns-per-ip: counts, limit,
// places given back, bounded memory, threads) and MiddlewareState (rate-limit
// buckets, the notes store and connection counts outlive the HttpService that a
// reload replaces).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "http_test_support.hpp"
#include "serverlab/http/middleware_state.hpp"
#include "serverlab/http/service.hpp"

namespace serverlab::http {
namespace {

using test::ParsedRequest;
using test::TempDir;

// ---------------------------------------------------------------- ConnectionLimiter

TEST(ConnectionLimiter, RefusesTheConnectionOverTheLimitPerAddress) {
  ConnectionLimiter limiter(2);
  auto a1 = limiter.acquire("10.0.0.1");
  auto a2 = limiter.acquire("10.0.0.1");
  ASSERT_TRUE(a1 && a2);
  EXPECT_TRUE(a1->counted());
  EXPECT_FALSE(limiter.acquire("10.0.0.1")) << "a third connection from the same address";
  EXPECT_EQ(limiter.refused(), 1U);
  auto b = limiter.acquire("10.0.0.2");  // another address has its own count
  EXPECT_TRUE(b);
  EXPECT_EQ(limiter.open("10.0.0.1"), 2);
  EXPECT_EQ(limiter.addresses(), 2U);
}

TEST(ConnectionLimiter, DestroyingASlotGivesItsPlaceBack) {
  ConnectionLimiter limiter(1);
  std::optional<ConnectionLimiter::Slot> first = limiter.acquire("10.0.0.1");
  ASSERT_TRUE(first);
  EXPECT_FALSE(limiter.acquire("10.0.0.1"));
  first.reset();
  EXPECT_EQ(limiter.open("10.0.0.1"), 0);
  auto again = limiter.acquire("10.0.0.1");
  ASSERT_TRUE(again);

  // Moving a slot moves the place, it does not copy or free it.
  ConnectionLimiter::Slot moved = std::move(*again);
  again.reset();
  EXPECT_EQ(limiter.open("10.0.0.1"), 1);
  // Assigning over a slot gives back the place it held.
  moved = ConnectionLimiter::Slot{};
  EXPECT_EQ(limiter.open("10.0.0.1"), 0);
}

TEST(ConnectionLimiter, MemoryHoldsOnlyAddressesWithOpenConnections) {
  ConnectionLimiter limiter(1);
  for (int i = 0; i < 10000; ++i) {  // a flood of distinct addresses, each closing again
    auto slot = limiter.acquire(fmt::format("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255));
    ASSERT_TRUE(slot);
  }
  EXPECT_EQ(limiter.addresses(), 0U);
  std::vector<ConnectionLimiter::Slot> open;
  for (int i = 0; i < 100; ++i) open.push_back(*limiter.acquire(fmt::format("10.9.0.{}", i)));
  EXPECT_EQ(limiter.addresses(), 100U);
  open.clear();
  EXPECT_EQ(limiter.addresses(), 0U);
}

TEST(ConnectionLimiter, OffCountsNothingAndANewLimitAppliesToTheNextAcquire) {
  ConnectionLimiter limiter(0);
  std::vector<ConnectionLimiter::Slot> slots;
  for (int i = 0; i < 50; ++i) {
    auto s = limiter.acquire("10.0.0.1");
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->counted());
    slots.push_back(std::move(*s));
  }
  EXPECT_EQ(limiter.addresses(), 0U);
  limiter.set_limit(1);  // a reload turned it on: the 50 above are not counted
  auto counted = limiter.acquire("10.0.0.1");
  ASSERT_TRUE(counted);
  EXPECT_FALSE(limiter.acquire("10.0.0.1"));
  limiter.set_limit(0);  // and off again: a counted slot still gives its place back
  counted.reset();
  EXPECT_EQ(limiter.addresses(), 0U);
  EXPECT_TRUE(limiter.acquire("")) << "an unknown peer is never refused";
}

TEST(ConnectionLimiter, ThreadsShareItSafely) {  // run under TSan by `make tsan`
  constexpr int kLimit = 3;
  ConnectionLimiter limiter(kLimit);
  std::atomic<int> over{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string address = fmt::format("10.0.0.{}", (i + t) % 4);
        auto slot = limiter.acquire(address);
        if (slot && limiter.open(address) > kLimit) ++over;
        // The slot moves to another thread half the time, and is freed there.
        if (slot && i % 2 == 0) std::thread([s = std::move(*slot)] {}).join();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(over.load(), 0);
  EXPECT_EQ(limiter.addresses(), 0U);
}

// ---------------------------------------------------------------- MiddlewareState

class StateAcrossReload : public ::testing::Test {
 protected:
  StateAcrossReload() {
    root_.write("hello.txt", "hi\n");
    config_.root = root_.path();
  }
  Response serve(const HttpService& service, std::string_view peer, const std::string& raw,
                 std::string_view body = {}) {
    ParsedRequest p(raw);
    Response r;
    Exchange ex;
    ex.peer = peer;
    ex.body = body;
    service.handle(ex, p.request, r);
    return r;
  }
  static constexpr const char* kGet = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  TempDir root_;
  HttpConfig config_;
  Metrics metrics_;
};

TEST_F(StateAcrossReload, ADrainedBucketStaysDrainedInTheNextService) {
  config_.middleware.rate_limit = 1;
  config_.middleware.rate_limit_burst = 2;
  auto state = std::make_shared<MiddlewareState>(&metrics_);
  auto first = std::make_unique<HttpService>(config_, &metrics_, state);
  EXPECT_EQ(serve(*first, "10.1.1.1", kGet).status, 200);
  EXPECT_EQ(serve(*first, "10.1.1.1", kGet).status, 200);
  EXPECT_EQ(serve(*first, "10.1.1.1", kGet).status, 429);

  config_.autoindex = "off";  // an unrelated setting changes: the same buckets
  auto second = std::make_unique<HttpService>(config_, &metrics_, state);  // no "name in use"
  first.reset();
  EXPECT_EQ(serve(*second, "10.1.1.1", kGet).status, 429) << "the reload refilled the bucket";
  EXPECT_EQ(serve(*second, "10.1.1.2", kGet).status, 200);
  EXPECT_NE(metrics_.render_prometheus().find("serverlab_rate_limit_refused_client 2"),
            std::string::npos)
      << metrics_.render_prometheus();

  config_.middleware.rate_limit_burst = 5;  // a rate-limit setting changes: fresh buckets
  HttpService third(config_, &metrics_, state);
  EXPECT_EQ(serve(third, "10.1.1.1", kGet).status, 200);
}

TEST_F(StateAcrossReload, NotesStayInTheNextService) {
  config_.middleware.api = "on";
  auto state = std::make_shared<MiddlewareState>(&metrics_);
  auto first = std::make_unique<HttpService>(config_, &metrics_, state);
  Response made = serve(*first, "10.1.1.1",
                        "POST /api/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 16\r\n\r\n",
                        R"({"title":"kept"})");
  ASSERT_EQ(made.status, 201) << made.owned_text;
  config_.autoindex = "off";
  HttpService second(config_, &metrics_, state);
  first.reset();
  Response got = serve(second, "10.1.1.1", "GET /api/notes/1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(got.status, 200);
  EXPECT_NE(std::string(got.text).find("kept"), std::string::npos) << got.text;

  HttpService alone(config_, &metrics_);  // no state given: a store of its own
  EXPECT_EQ(serve(alone, "10.1.1.1", "GET /api/notes/1 HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
}

TEST_F(StateAcrossReload, TheServiceSetsTheConnectionLimitAndItsGauges) {
  auto state = std::make_shared<MiddlewareState>(&metrics_);
  HttpService off(config_, &metrics_, state);
  EXPECT_EQ(state->connections().limit(), 0);
  EXPECT_EQ(metrics_.render_prometheus().find("serverlab_conn_limit"), std::string::npos)
      << "no gauges while the limit is off";
  config_.middleware.max_conns_per_ip = 4;
  HttpService on(config_, &metrics_, state);
  EXPECT_EQ(state->connections().limit(), 4);
  EXPECT_EQ(&on.state(), state.get());
  EXPECT_NE(metrics_.render_prometheus().find("serverlab_conn_limit_refused 0"), std::string::npos)
      << metrics_.render_prometheus();
}

}  // namespace
}  // namespace serverlab::http
