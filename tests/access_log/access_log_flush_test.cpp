// The buffered access log seen from outside (tests/access_log/CMakeLists.txt runs
// it once per HTTP stage, stages 2-5):
//
//   - a clean stop (SIGTERM, and SIGINT) leaves every response's line in the
//     file, even with a flush interval far longer than the test: the buffers are
//     written on the way out (stage 5: by every worker);
//   - a server that goes quiet writes its buffered lines within the flush
//     interval (1 s by default), with no further request to push them out: the
//     stage's loop timer, acceptor timeout or end of connection flushes them.
//     The wait is a bounded poll (a watchdog, not a timing).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"

namespace serverlab::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string server_path() { return server_binary("SERVERLAB_ACCESS_LOG_TEST_BIN", ""); }

// Extra server flags for this stage (stage 5: two workers).
std::vector<std::string> stage_args() { return env_words("SERVERLAB_ACCESS_LOG_TEST_ARGS"); }

int count_lines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find("\"GET /hello.txt?n=") != std::string::npos;
  return n;
}

class AccessLogFlush : public ::testing::Test {
 protected:
  void SetUp() override { dir_.write("www/hello.txt", "hello\n"); }

  std::unique_ptr<ServerProcess> start(std::vector<std::string> more) {
    std::vector<std::string> argv{server_path(), "--port", "0", "--bind", "127.0.0.1",
                                  "--root", dir_.path("www"), "--access-log", log_};
    for (auto& a : stage_args()) argv.push_back(a);
    for (auto& a : more) argv.push_back(a);
    return std::make_unique<ServerProcess>(argv);
  }

  // `count` GETs, each on its own connection (stage 2 serves one at a time).
  static void send_requests(const ServerProcess& server, int count) {
    for (int n = 0; n < count; ++n) {
      HttpClient c = HttpClient::connect(server);
      ASSERT_TRUE(c.send("GET /hello.txt?n=" + std::to_string(n) +
                         " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
      auto r = c.read_response();
      ASSERT_TRUE(r) << c.error();
      ASSERT_EQ(r->status, 200);
    }
  }

  void stop_keeps_every_line(int signo) {
    auto server = start({"--access-log-flush", "3600"});  // only the exit writes them
    send_requests(*server, 100);
    EXPECT_EQ(server->stop(signo), 0) << server->stderr_text();
    EXPECT_EQ(count_lines(log_), 100) << "lines lost at exit";
  }

  TempDir dir_{"serverlab-access-log-flush"};
  std::string log_ = dir_.path("access.log");
};

TEST_F(AccessLogFlush, SigtermLeavesEveryLineInTheFile) { stop_keeps_every_line(SIGTERM); }

TEST_F(AccessLogFlush, SigintLeavesEveryLineInTheFile) { stop_keeps_every_line(SIGINT); }

TEST_F(AccessLogFlush, AQuietServerWritesItsLinesWithinTheFlushInterval) {
  auto server = start({"--access-log-flush", "0.2"});
  send_requests(*server, 10);
  const auto until = Clock::now() + std::chrono::seconds(15);
  while (count_lines(log_) < 10 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(count_lines(log_), 10) << "buffered lines never reached the file while running";
  EXPECT_EQ(server->stop(), 0);
  EXPECT_EQ(count_lines(log_), 10) << "a line written twice";
}

}  // namespace
}  // namespace serverlab::testing
