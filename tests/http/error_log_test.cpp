// The error log (stderr): a request refused with a protocol error (400, 413,
// 431, ...) leaves one record naming the peer and the reason, and a flood of
// them leaves a bounded number of records (--error-log-rate per second and per
// process, plus "suppressed K similar messages" lines). Each test starts its own
// server with --log-level info, so the records it counts are its own.
#include <chrono>
#include <regex>
#include <thread>

#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

using Clock = std::chrono::steady_clock;

// The stderr lines that record a protocol error.
std::vector<std::string> protocol_error_lines(const std::string& log) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < log.size()) {
    std::size_t end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(at, end - at);
    if (line.find("protocol error") != std::string::npos &&
        line.find("similar messages") == std::string::npos)
      out.push_back(line);
    at = end + 1;
  }
  return out;
}

// The stderr lines that say how many records were suppressed.
std::size_t suppressed_lines(const std::string& log) {
  std::size_t n = 0;
  for (std::size_t at = log.find("similar messages"); at != std::string::npos;
       at = log.find("similar messages", at + 1))
    ++n;
  return n;
}

// Sends `raw` on a fresh connection and reads the answer; its status (0: none).
int send_bad(const testing::ServerProcess& server, std::string_view raw) {
  HttpClient c = HttpClient::connect(server);
  if (!c.send(raw)) return 0;
  auto r = c.read_response(false, 5s);
  return r ? r->status : 0;
}

// Polls the server's stderr until `want` protocol-error lines are there (or 5 s).
std::string wait_for_lines(const testing::ServerProcess& server, std::size_t want) {
  const auto deadline = Clock::now() + 5s;
  std::string log = server.stderr_text();
  while (protocol_error_lines(log).size() < want && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    log = server.stderr_text();
  }
  return log;
}

constexpr std::string_view kBadHead = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n";

TEST(ErrorLog, AMalformedRequestLeavesOneLineNamingPeerAndReason) {
  auto server = start_private_server(Variant::kErrorLog);
  ASSERT_EQ(send_bad(*server, kBadHead), 400);
  std::string log = wait_for_lines(*server, 1);
  std::this_thread::sleep_for(100ms);  // a second record, if one were coming, lands now
  auto lines = protocol_error_lines(server->stderr_text());
  ASSERT_EQ(lines.size(), 1u) << "stderr:\n" << server->stderr_text();
  EXPECT_NE(lines[0].find("127.0.0.1"), std::string::npos) << "no peer address: " << lines[0];
  EXPECT_NE(lines[0].find("400"), std::string::npos) << "no status: " << lines[0];
  EXPECT_NE(lines[0].find("reason"), std::string::npos) << "no reason: " << lines[0];
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

TEST(ErrorLog, LimitsAreLoggedWithTheirReason) {
  auto server = start_private_server(Variant::kErrorLog);
  std::string long_line = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send_bad(*server, long_line), 414);
  ASSERT_EQ(send_bad(*server, request("GET", "/", "Content-Length: 99999999\r\n")), 413);
  auto lines = protocol_error_lines(wait_for_lines(*server, 2));
  ASSERT_EQ(lines.size(), 2u) << server->stderr_text();
  EXPECT_NE(lines[0].find("414"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("max-request-line"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("413"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("max-body"), std::string::npos) << lines[1];
  EXPECT_LT(lines[0].size(), 1000u) << "the record quotes all 9000 bytes of the request line";
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

// 10,000 bad requests, one connection each. Without a limit that is 10,000
// records; with it, at most 2 x (burst + rate x seconds) per process. The bound
// allows up to 4 server processes (stage 5's workers each have their own limit).
TEST(ErrorLog, AFloodOfBadRequestsLeavesABoundedNumberOfLines) {
  constexpr int kFlood = 10'000;
  constexpr int kProcesses = 4;
  auto server = start_private_server(Variant::kErrorLog);
  const auto start = Clock::now();
  int answered = 0;
  for (int i = 0; i < kFlood && Clock::now() - start < 120s; ++i) {
    answered += send_bad(*server, "GARBAGE\r\n\r\n") == 400 ? 1 : 0;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(answered, kFlood) << "every bad request gets its 400 (in " << seconds << " s)";
  std::this_thread::sleep_for(100ms);
  const std::string log = server->stderr_text();
  const std::size_t logged = protocol_error_lines(log).size() + suppressed_lines(log);
  const double per_process = kErrorLogRate + kErrorLogRate * (seconds + 1);
  const auto bound = static_cast<std::size_t>(2 * kProcesses * per_process);
  EXPECT_GE(protocol_error_lines(log).size(), 1u) << "the flood's start must be logged";
  EXPECT_LE(logged, bound) << kFlood << " bad requests in " << seconds << " s left " << logged
                           << " error-log lines";
  EXPECT_EQ(server->stop(), 0) << log;
}

}  // namespace
}  // namespace serverlab::conformance
