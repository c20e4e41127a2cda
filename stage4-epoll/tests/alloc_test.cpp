// The no-allocation promise of stage 4, now that the loop's callbacks are
// std::function: once warm, arming and firing timers and setting the hook with a
// small capture (two pointers or fewer, trivially copyable) call operator new
// zero times, and so does a keep-alive request served end to end by
// EpollHttpServer (accept, Connection, SessionPool, HttpSession, send) over real
// loopback TCP. The last test shows the limit (and that the counter sees
// std::function's heap): a larger capture allocates.
//
// This file replaces the global operator new (allocation_counter.hpp), so it is an
// executable of its own.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "allocation_counter.hpp"
#include "event_loop.hpp"
#include "http_server.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/socket.hpp"
#include "temp_dir.hpp"

namespace serverlab {
namespace {

using http::test::allocations;

class AllocTest : public ::testing::Test {
 protected:
  void SetUp() override { ::alarm(30); }
  void TearDown() override { ::alarm(0); }
};

// Something for the callbacks to point at, like the connection a timer belongs to.
struct Target {
  int hits = 0;
  void hit() { ++hits; }
};

TEST_F(AllocTest, TimersWithSmallCapturesAllocateNothingOnceWarm) {
  EventLoop loop;
  Target target;
  int counter = 0;
  // Warm-up: the heap's vectors reach the size this test needs.
  for (int i = 0; i < 64; ++i) loop.run_after(0, [&target] { target.hit(); });
  loop.run_once(0);
  ASSERT_EQ(target.hits, 64);

  const long before = allocations();
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 32; ++i) {
      loop.run_after(0, [&target, &counter] {  // two pointers: stored in place
        target.hit();
        ++counter;
      });
    }
    TimerId doomed = loop.run_after(1000, [&target] { target.hit(); });
    loop.cancel(doomed);
    loop.run_once(0);
  }
  EXPECT_EQ(allocations() - before, 0) << "operator new calls while arming 3,300 timers";
  EXPECT_EQ(counter, 3200);
}

TEST_F(AllocTest, SettingAndCallingTheHookWithASmallCaptureAllocatesNothing) {
  EventLoop loop;
  Target target;
  const long before = allocations();
  loop.set_before_sleep([&target] { target.hit(); });
  for (int i = 0; i < 10; ++i) loop.run_once(0);
  EXPECT_EQ(allocations() - before, 0);
  EXPECT_EQ(target.hits, 10);
}

TEST_F(AllocTest, ACaptureLargerThanTwoPointersAllocates) {
  // Not a promise, a limit: the counter sees std::function's heap when it is used.
  EventLoop loop;
  Target a, b, c;
  const long before = allocations();
  loop.run_after(0, [&a, &b, &c] {
    a.hit();
    b.hit();
    c.hit();
  });
  EXPECT_GT(allocations() - before, 0) << "three pointers fit std::function's buffer now: "
                                          "update event_loop.hpp's comment";
  loop.run_once(0);
  EXPECT_EQ(a.hits + b.hits + c.hits, 3);
}

// --- a warm keep-alive request through the whole stage 4 server --------------

constexpr std::string_view kRequest = "GET /page.html HTTP/1.1\r\nHost: test\r\n\r\n";

class ServerAllocTest : public AllocTest {
 protected:
  ServerAllocTest() {
    root_.write("page.html", std::string(2048, 'p'));
    config_.root = root_.path();
    config_.access_log = "off";
    service_ = std::make_unique<http::HttpService>(config_, &metrics_);
    server_ = std::make_unique<EpollHttpServer>(loop_, *service_, EpollServerOptions{});
    Fd listener = listen_tcp("127.0.0.1", 0, ListenOptions{.nonblocking = true});
    const std::uint16_t port = local_address(listener.get()).port();
    server_->listen(std::move(listener));
    loop_.set_before_sleep([this] { server_->before_sleep(); });
    client_ = connect_tcp("127.0.0.1", port);
  }

  // Sends one request and runs the loop until the whole response (`expected`
  // bytes; 0: whatever one response is) has arrived. Returns the bytes received.
  // Allocates nothing itself: a fixed buffer, plain syscalls.
  std::size_t round_trip(std::size_t expected) {
    if (::send(client_.get(), kRequest.data(), kRequest.size(), 0) !=
        static_cast<ssize_t>(kRequest.size()))
      return 0;
    std::size_t got = 0;
    for (int turn = 0; turn < 200; ++turn) {
      loop_.run_once(50);
      const ssize_t n = ::recv(client_.get(), reply_ + got, sizeof reply_ - got, MSG_DONTWAIT);
      if (n > 0) got += static_cast<std::size_t>(n);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return 0;
      if (got > 0 && (expected == 0 ? got > 2048 : got >= expected)) return got;
    }
    return 0;
  }

  serverlab::testing::TempDir root_{"stage4-alloc-test"};
  http::HttpConfig config_;
  Metrics metrics_;
  EventLoop loop_;
  std::unique_ptr<http::HttpService> service_;
  std::unique_ptr<EpollHttpServer> server_;
  Fd client_;
  char reply_[8192];
};

TEST_F(ServerAllocTest, AWarmKeepAliveRequestAllocatesNothing) {
  // Warm-up: accept, the first session and its buffers, the file cache.
  std::size_t size = round_trip(0);
  ASSERT_GT(size, 2048u) << "no response to the first request";
  for (int i = 0; i < 3; ++i) ASSERT_EQ(round_trip(size), size) << "warm-up request " << i;
  ASSERT_NE(std::string_view(reply_, 15).find("200"), std::string_view::npos)
      << std::string_view(reply_, 64);

  const long before = allocations();
  std::size_t answered = 0;
  for (int i = 0; i < 100; ++i) answered += round_trip(size) == size ? 1 : 0;
  EXPECT_EQ(allocations() - before, 0) << "operator new calls during 100 warm keep-alive requests";
  EXPECT_EQ(answered, 100u);
  EXPECT_EQ(server_->connection_count(), 1u) << "the connection was not kept alive";
}

}  // namespace
}  // namespace serverlab
