// The hot path allocates nothing: once warm, a keep-alive GET of a small cached
// file through HttpSession (parse, route, normalize the path, look the file up,
// format the head, queue head and body, account metrics) makes no call to
// operator new. This file replaces the global operator new to count calls, so it
// is its own test executable.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "allocation_counter.hpp"
#include "http_test_support.hpp"
#include "serverlab/http/session.hpp"
#include "serverlab/metrics.hpp"

namespace serverlab::http {
namespace {

using test::TempDir;

// A path longer than std::string's in-object capacity (15 bytes), so a copy of it
// would have to allocate, and a request with the headers a browser sends.
constexpr std::string_view kPath = "/assets/styles/site-main.css";
const std::string kRequest = std::string("GET ") + std::string(kPath) +
                             " HTTP/1.1\r\nHost: bench.example\r\n"
                             "User-Agent: Mozilla/5.0 (X11; Linux x86_64) serverlab-test\r\n"
                             "Accept: text/css,*/*;q=0.1\r\nAccept-Encoding: gzip, deflate\r\n"
                             "Referer: http://bench.example/index.html\r\n\r\n";

class SessionAllocations : public ::testing::Test {
 protected:
  SessionAllocations() {
    root_.write(std::string(kPath.substr(1)), std::string(4096, 'c'));
    config_.root = root_.path();
    service_ = std::make_unique<HttpService>(config_, &metrics_);
  }

  // One request in, the whole response out (as a driver would send it).
  // Returns the number of response bytes; 0 when something went wrong.
  static std::size_t round_trip(HttpSession& s) {
    s.input().append(kRequest);
    s.on_input();
    std::size_t sent = 0;
    for (int guard = 0; guard < 100 && s.want() == HttpSession::Want::Write; ++guard) {
      HttpSession::Output out = s.output();
      if (!out.bytes.empty()) {
        sent += out.bytes.size();
        s.wrote(out.bytes.size());
      } else {
        sent += out.file_length;
        s.sent_file(out.file_length);
      }
    }
    return s.want() == HttpSession::Want::Read && s.idle() ? sent : 0;
  }

  TempDir root_;
  HttpConfig config_;
  Metrics metrics_;
  std::unique_ptr<HttpService> service_;
};

TEST_F(SessionAllocations, KeepAliveGetOfACachedFileAllocatesNothingOnceWarm) {
  HttpSession s(*service_, "127.0.0.1");
  std::size_t expected = 0;
  for (int i = 0; i < 3; ++i) expected = round_trip(s);  // fills the cache, grows buffers
  ASSERT_GT(expected, 4096u) << "the warm-up request was not answered with the file";

  const long before = test::allocations();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(round_trip(s), expected) << "request " << i;
  }
  EXPECT_EQ(test::allocations() - before, 0)
      << "operator new calls during 100 warm keep-alive requests";
  EXPECT_EQ(s.requests(), 103u);
}

TEST_F(SessionAllocations, ParkingAndResumingASessionBetweenRequestsAllocatesNothing) {
  // What stage 4 does: between requests the connection keeps only the Carry and
  // the session goes back to a pool, to continue this (or another) connection.
  HttpSession s(*service_, HttpSession::Pooled{});
  HttpSession::Carry carry = HttpSession::opening(*service_);
  std::size_t expected = 0;
  for (int i = 0; i < 3; ++i) {
    s.start("192.168.100.200", carry);
    expected = round_trip(s);
    carry = s.carry();
    s.release(64 * 1024);
  }
  ASSERT_GT(expected, 4096u);

  const long before = test::allocations();
  for (int i = 0; i < 100; ++i) {
    s.start("192.168.100.200", carry);
    ASSERT_EQ(round_trip(s), expected) << "request " << i;
    carry = s.carry();
    s.release(64 * 1024);
  }
  EXPECT_EQ(test::allocations() - before, 0)
      << "operator new calls during 100 parked-and-resumed requests";
  EXPECT_EQ(carry.requests, 103u) << "the request count did not travel with the Carry";
  EXPECT_EQ(carry.timer, HttpSession::Timer::KeepAlive);
}

}  // namespace
}  // namespace serverlab::http
