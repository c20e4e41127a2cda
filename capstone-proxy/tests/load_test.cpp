// load_test.cpp: the proxy under (bounded) load: how requests spread in each
// balancing mode, failover when a backend is killed mid-load and its return once
// it is up again, and memory held flat by backpressure when a client reads slowly.
// Counts are printed (and recorded as test properties) so a run shows the spread.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "proxy_fixture.hpp"
#include "temp_dir.hpp"

namespace serverlab::proxytest {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kRequests = "serverlab_proxy_upstream_requests_total";

class Load : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.write("hello.txt", "hello\n");
    a_ = start_server(epoll_bin(), root_.path());
    b_ = start_server(epoll_bin(), root_.path());
  }
  // Sends `n` requests on one keep-alive connection; path i is make_path(i).
  template <typename MakePath>
  int send_many(const ServerProcess& proxy, int n, MakePath make_path) {
    HttpClient c = HttpClient::connect(proxy);
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      if (!c.send(get_request(make_path(i)))) break;
      auto r = c.read_response();
      if (!r) break;
      ok += r->status == 200 || r->status == 404 ? 1 : 0;
    }
    return ok;
  }
  std::pair<double, double> spread(const ServerProcess& proxy) {
    std::string m = metrics_text(proxy);
    return {metric(m, upstream_sample(kRequests, a_->address())),
            metric(m, upstream_sample(kRequests, b_->address()))};
  }
  void report(const char* mode, std::pair<double, double> s) {
    std::cout << "[ spread   ] " << mode << ": " << s.first << " / " << s.second << "\n";
    RecordProperty(mode, std::to_string(static_cast<int>(s.first)) + "/" +
                             std::to_string(static_cast<int>(s.second)));
  }

  testing::TempDir root_{"proxy-load"};
  std::unique_ptr<ServerProcess> a_, b_;
};

TEST_F(Load, SpreadInEachBalancingMode) {
  constexpr int kN = 200;
  auto hello = [](int) { return std::string("/hello.txt"); };
  {
    auto proxy = start_proxy({a_->address(), b_->address() + ",weight=3"});
    ASSERT_EQ(send_many(*proxy, kN, hello), kN);
    auto s = spread(*proxy);
    report("round-robin 1:3", s);
    EXPECT_EQ(s.first, kN / 4);
    EXPECT_EQ(s.second, 3 * kN / 4);
  }
  {
    auto proxy = start_proxy({a_->address(), b_->address()}, {"--balance", "least-conn"});
    ASSERT_EQ(send_many(*proxy, kN, hello), kN);
    auto s = spread(*proxy);
    report("least-conn (one client: all ties)", s);
    EXPECT_EQ(s.first, kN / 2);
    EXPECT_EQ(s.second, kN / 2);
  }
  {
    auto proxy = start_proxy({a_->address(), b_->address()}, {"--balance", "hash-ip"});
    ASSERT_EQ(send_many(*proxy, kN, hello), kN);
    auto s = spread(*proxy);
    report("hash-ip (one client address)", s);
    EXPECT_EQ(std::max(s.first, s.second), kN) << "one client, one backend";
  }
  {
    auto proxy = start_proxy({a_->address(), b_->address()}, {"--balance", "hash-path"});
    ASSERT_EQ(send_many(*proxy, kN, [](int i) { return "/p/" + std::to_string(i % 50); }), kN);
    auto s = spread(*proxy);
    report("hash-path (50 paths)", s);
    EXPECT_GT(std::min(s.first, s.second), kN / 5) << "paths should spread over both";
    // and stick: the same 50 paths again land exactly where they did.
    ASSERT_EQ(send_many(*proxy, kN, [](int i) { return "/p/" + std::to_string(i % 50); }), kN);
    auto again = spread(*proxy);
    EXPECT_EQ(again.first, 2 * s.first);
    EXPECT_EQ(again.second, 2 * s.second);
  }
}

TEST_F(Load, KilledBackendFailsOverAndIsProbedBackIn) {
  constexpr int kClients = 4;
  constexpr int kTotal = 2000;
  constexpr int kKillAt = 400;
  auto proxy = start_proxy({a_->address(), b_->address()},
                           {"--health-path", "/hello.txt", "--health-interval", "0.2",
                            "--fail-cooldown", "0.5", "--connect-timeout", "1"});
  const std::uint16_t a_port = a_->port();
  const std::string a_address = a_->address();
  std::atomic<int> sent{0}, ok{0}, failed{0};
  std::atomic<bool> killed{false};
  const auto deadline = Clock::now() + 20s;

  auto client = [&] {
    HttpClient c = HttpClient::connect(*proxy);
    while (sent.fetch_add(1) < kTotal && Clock::now() < deadline) {
      std::optional<HttpResponse> r;
      if (c.send(get_request("/hello.txt"))) r = c.read_response();
      if (r && r->status == 200) {
        ++ok;
      } else {
        ++failed;
        c = HttpClient::connect(*proxy);  // a failed exchange may have closed it
      }
      if (r && r->closes()) c = HttpClient::connect(*proxy);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) threads.emplace_back(client);
  while (sent.load() < kKillAt && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  a_->stop(SIGKILL);
  killed = true;
  for (auto& t : threads) t.join();

  std::cout << "[ failover ] " << ok << " ok, " << failed << " failed of " << ok + failed
            << " (at most " << kClients << " were in flight when the backend died)\n";
  RecordProperty("failed_requests", failed.load());
  EXPECT_LE(failed.load(), kClients) << "only requests in flight may fail";
  EXPECT_GE(ok.load(), kTotal - kClients);
  std::string m = metrics_text(*proxy);
  EXPECT_EQ(metric(m, upstream_sample("serverlab_proxy_upstream_healthy", a_address)), 0) << m;

  // Back up on the same port: the health check lets it in again.
  a_ = start_server(epoll_bin(), root_.path(), {"--port", std::to_string(a_port)});
  const auto back_by = Clock::now() + 10s;
  double healthy = 0;
  while (Clock::now() < back_by) {
    m = metrics_text(*proxy);
    healthy = metric(m, upstream_sample("serverlab_proxy_upstream_healthy", a_address));
    if (healthy == 1) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(healthy, 1) << "the restarted backend was never probed back in:\n" << m;
  const double before = metric(m, upstream_sample(kRequests, a_address));
  ASSERT_EQ(send_many(*proxy, 20, [](int) { return std::string("/hello.txt"); }), 20);
  m = metrics_text(*proxy);
  EXPECT_GE(metric(m, upstream_sample(kRequests, a_address)) - before, 9) << m;
}

// A backend that sends a 1 GiB body as fast as the proxy takes it.
void one_gibibyte(int fd, FakeBackend& self) {
  if (FakeBackend::read_head(fd).empty()) return;
  constexpr std::uint64_t kSize = std::uint64_t{1} << 30;
  FakeBackend::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
  std::string block(64 * 1024, 'z');
  timeval t{0, 100 * 1000};  // sends block at most 100 ms, so stopping is prompt
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof t);
  std::uint64_t sent = 0;
  while (sent < kSize && !self.stopping()) {
    ssize_t n = ::send(fd, block.data(), block.size(), MSG_NOSIGNAL);
    if (n > 0) sent += static_cast<std::uint64_t>(n);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return;  // the proxy let go
  }
}

TEST(Backpressure, SlowClientOfAHugeResponseKeepsTheProxySmall) {
  FakeBackend backend(one_gibibyte);
  auto proxy = start_proxy({backend.address()});
  HttpClient c = HttpClient::connect(*proxy);
  ASSERT_TRUE(c.send(get_request("/huge")));
  auto head = c.read_head();
  ASSERT_TRUE(head) << c.error();
  ASSERT_EQ(head->status, 200);
  const long start_kib = rss_kib(proxy->pid());
  // Take 16 MiB slowly: one read of at most 64 KiB every 2 ms (bounded: 15 s).
  // Without backpressure the proxy would hold most of what the backend sent by then.
  std::size_t taken = c.extra_bytes().size();
  long peak_kib = start_kib;
  std::vector<char> buf(64 * 1024);
  const auto until = Clock::now() + 15s;
  while (taken < (std::size_t{16} << 20) && Clock::now() < until) {
    ssize_t n = ::recv(c.fd(), buf.data(), buf.size(), 0);
    ASSERT_GT(n, 0) << "the response ended early";
    taken += static_cast<std::size_t>(n);
    std::this_thread::sleep_for(2ms);
    peak_kib = std::max(peak_kib, rss_kib(proxy->pid()));
  }
  std::cout << "[ rss      ] proxy RSS " << start_kib << " KiB at the head, peak " << peak_kib
            << " KiB after the client took " << taken / 1024 << " KiB of a 1 GiB body\n";
  EXPECT_LT(peak_kib - start_kib, 8 * 1024) << "the proxy's memory grew with the response";
}

}  // namespace
}  // namespace serverlab::proxytest
