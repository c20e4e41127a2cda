// The protocol-error log: a request answered with 400, 408, 413, 414, 431, ...
// leaves one error-log record naming the peer and the reason, and a flood of
// them leaves a bounded number of records (HttpService's rate limiter). Sessions
// are driven by hand, as in http_session_test.cpp; the log goes to a file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "http_test_support.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/session.hpp"
#include "serverlab/log.hpp"

namespace serverlab::http {
namespace {

using Clock = std::chrono::steady_clock;

class ErrorLogTest : public ::testing::Test {
 protected:
  ErrorLogTest() {
    root_.write("a.txt", "alpha\n");
    config_.root = root_.path();
    log_path_ = dir_.path("error.log");
    log_fd_.reset(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    log::configure(log::Level::Info, log::Format::Text, log_fd_.get());
  }
  ~ErrorLogTest() override { log::configure(log::Level::Info, log::Format::Text, 2); }

  HttpService& service() {
    if (!service_) service_ = std::make_unique<HttpService>(config_);
    return *service_;
  }
  // Feeds `bytes` to a fresh session from `peer` and returns what it sent.
  std::string exchange(std::string_view peer, std::string_view bytes) {
    HttpSession s(service(), peer);
    s.input().append(bytes);
    s.on_input();
    std::string wire;
    while (s.want() == HttpSession::Want::Write) {
      auto out = s.output();
      wire.append(out.bytes);
      s.wrote(out.bytes.size());
    }
    return wire;
  }
  std::vector<std::string> log_lines() const {
    std::ifstream in(log_path_);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  // The sum of the suppressed=K fields in `lines`.
  static std::uint64_t suppressed(const std::vector<std::string>& lines) {
    std::uint64_t sum = 0;
    static const std::regex field(" suppressed=([0-9]+)");
    for (const auto& line : lines) {
      std::smatch m;
      if (std::regex_search(line, m, field)) sum += std::stoull(m[1]);
    }
    return sum;
  }
  // After a flood: sends one more bad request each 150 ms (a refill interval and
  // a half) until one is logged with the count of those refused before it.
  // Returns how many it sent (bounded: a watchdog, not a speed check).
  int flush_suppressed(std::string_view peer) {
    for (int sent = 1; sent <= 40; ++sent) {
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      exchange(peer, "GARBAGE\r\n\r\n");
      if (count(log_lines(), "similar messages") > 0) return sent;
    }
    ADD_FAILURE() << "no 'suppressed K similar messages' line within 6 s";
    return 40;
  }
  static std::size_t count(const std::vector<std::string>& lines, std::string_view what) {
    std::size_t n = 0;
    for (const auto& line : lines) n += line.find(what) != std::string::npos ? 1 : 0;
    return n;
  }

  test::TempDir root_;
  test::TempDir dir_;
  std::string log_path_;
  Fd log_fd_;
  HttpConfig config_;
  std::unique_ptr<HttpService> service_;
};

TEST_F(ErrorLogTest, AMalformedRequestLeavesOneLineNamingPeerAndReason) {
  std::string wire = exchange("192.0.2.7", "GET /a.txt HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n");
  ASSERT_EQ(wire.rfind("HTTP/1.1 400", 0), 0u) << wire;
  auto lines = log_lines();
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_NE(lines[0].find(" INFO protocol error "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("peer=192.0.2.7"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("status=400"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("reason=\"malformed request head\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("request=\"GET /a.txt HTTP/1.1\""), std::string::npos) << lines[0];
}

TEST_F(ErrorLogTest, EachErrorStatusHasItsReason) {
  config_.max_request_line = 64;
  config_.max_body = 10;
  struct Case {
    std::string bytes;
    int status;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"GET /" + std::string(100, 'x') + " HTTP/1.1\r\n\r\n", 414, "--max-request-line"},
      {"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 99\r\n\r\n", 413, "--max-body"},
      {"GET / HTTP/1.1\r\nHost: t\r\n" + std::string(20000, 'h') + ": v\r\n\r\n", 431,
       "--max-header-bytes"},
      {"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Transfer-Encoding"},
      {"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
       "malformed chunked body"},
  };
  for (const Case& c : cases) {
    std::string wire = exchange("p", c.bytes);
    EXPECT_EQ(wire.rfind("HTTP/1.1 " + std::to_string(c.status), 0), 0u) << wire;
  }
  auto lines = log_lines();
  ASSERT_EQ(lines.size(), cases.size()) << ::testing::PrintToString(lines);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_NE(lines[i].find("status=" + std::to_string(cases[i].status)), std::string::npos)
        << lines[i];
    EXPECT_NE(lines[i].find(cases[i].reason), std::string::npos) << lines[i];
  }
}

TEST_F(ErrorLogTest, HeaderTimeoutIsLogged) {
  HttpSession s(service(), "198.51.100.1");
  s.input().append("GET /a.txt HTTP/1.1\r\n");
  s.on_input();
  s.on_timeout();
  auto lines = log_lines();
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_NE(lines[0].find("peer=198.51.100.1 status=408"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("--header-timeout"), std::string::npos) << lines[0];
}

TEST_F(ErrorLogTest, GoodRequestsAndQuietLevelsLogNothing) {
  EXPECT_EQ(exchange("p", "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(exchange("p", "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u)
      << "a 404 is an answer, not a protocol error";
  log::configure(log::Level::Warn, log::Format::Text, log_fd_.get());
  exchange("p", "BAD\r\n\r\n");
  EXPECT_TRUE(log_lines().empty()) << ::testing::PrintToString(log_lines());
}

TEST_F(ErrorLogTest, RateZeroLogsNone) {
  config_.error_log_rate = 0;
  exchange("p", "BAD\r\n\r\n");
  EXPECT_TRUE(log_lines().empty()) << ::testing::PrintToString(log_lines());
}

// 10,000 bad requests: at most burst + rate per second of records (twice that,
// counting the "suppressed" lines), and every one of them either logged or counted.
TEST_F(ErrorLogTest, AFloodLeavesABoundedNumberOfLinesAndCountsTheRest) {
  constexpr int kFlood = 10'000;
  const auto start = Clock::now();
  for (int i = 0; i < kFlood; ++i) exchange("203.0.113.9", "GARBAGE\r\n\r\n");
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto lines = log_lines();
  const double rate = config_.error_log_rate;
  const auto bound = static_cast<std::size_t>(2 * (rate + rate * (seconds + 1)));
  EXPECT_LE(lines.size(), bound) << "after " << seconds << " s";
  EXPECT_GE(count(lines, "protocol error peer="), static_cast<std::size_t>(rate))
      << "the first burst must be logged";
  // Once the bucket refills, the next error reports the count of those refused.
  const int more = flush_suppressed("203.0.113.9");
  lines = log_lines();
  EXPECT_EQ(count(lines, "protocol error peer=") + suppressed(lines),
            static_cast<std::size_t>(kFlood + more))
      << "some errors were neither logged nor counted";
}

// Stage 3 shares one service between worker threads: the limiter must hold under
// concurrency (run this under TSan) and still lose no error from the count.
TEST_F(ErrorLogTest, AFloodFromManyThreadsIsBoundedToo) {
  constexpr int kThreads = 8;
  constexpr int kEach = 1'250;
  service();  // built before the threads start
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < kEach; ++i) exchange("203.0.113.10", "GARBAGE\r\n\r\n");
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto lines = log_lines();
  const double rate = config_.error_log_rate;
  EXPECT_LE(lines.size(), static_cast<std::size_t>(2 * (rate + rate * (seconds + 1))))
      << "after " << seconds << " s";
  const int more = flush_suppressed("203.0.113.10");
  lines = log_lines();
  EXPECT_EQ(count(lines, "protocol error peer=") + suppressed(lines),
            static_cast<std::size_t>(kThreads * kEach + more));
}

}  // namespace
}  // namespace serverlab::http
