// Black-box tests of http-seq: the stage 2 behaviours the shared conformance
// suite does not own (Connection: close by default, --keep-alive, the access
// log format, flags and signals). Each test starts the real binary on
// 127.0.0.1 port 0 with a temporary document root.
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::testing::escape_bytes;
using serverlab::testing::HttpClient;
using serverlab::testing::connect_while_out_of_fds;
using serverlab::testing::lowest_free_fd;
using serverlab::testing::OutOfFdsReport;
using serverlab::testing::run_to_exit;
using serverlab::testing::ServerProcess;
using serverlab::testing::TempDir;
namespace fs = std::filesystem;

std::string server_binary() {
  return serverlab::testing::server_binary("HTTP_SEQ_BIN", HTTP_SEQ_DEFAULT_BIN);
}

// A temporary document root with a few known files; removed at the end.
struct DocRoot : TempDir {
  DocRoot() : TempDir("http-seq-test") {
    write("a.txt", "alpha\n");
    write("b.txt", "bravo bravo\n");
    write("c.txt", "charlie charlie charlie\n");
  }
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

class HttpSeq : public ::testing::Test {
 protected:
  std::unique_ptr<ServerProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {server_binary(), "--port",      "0",
                                     "--root",        root_.path(), "--log-level", "warn"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<ServerProcess>(argv);
  }
  DocRoot root_;
};

TEST_F(HttpSeq, AnswersConnectionCloseAndClosesByDefault) {
  auto server = start();
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send(get("/a.txt")));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
  EXPECT_EQ(r->header("Connection"), "close") << r->wire();
  EXPECT_EQ(r->body, "alpha\n");
  EXPECT_TRUE(c.closed_by_peer()) << "the server kept the connection open";
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, KeepAliveServesTwoRequestsOnOneConnection) {
  auto server = start({"--keep-alive"});
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send(get("/a.txt")));
  auto first = c.read_response();
  ASSERT_TRUE(first) << c.error();
  EXPECT_EQ(first->header("Connection"), "keep-alive") << first->wire();
  ASSERT_TRUE(c.send(get("/b.txt")));
  auto second = c.read_response();
  ASSERT_TRUE(second) << "no second response on the same connection: " << c.error();
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->body, "bravo bravo\n");
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, KeepAliveAnswersPipelinedRequestsInOrder) {
  auto server = start({"--keep-alive"});
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send(get("/c.txt") + get("/a.txt") + get("/missing") + get("/b.txt")));
  std::vector<std::string> bodies;
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    auto r = c.read_response();
    ASSERT_TRUE(r) << "response " << i << " missing: " << c.error()
                   << "; unread: " << escape_bytes(c.extra_bytes());
    statuses.push_back(r->status);
    bodies.push_back(r->body);
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 404, 200}));
  EXPECT_EQ(bodies[0], "charlie charlie charlie\n");
  EXPECT_EQ(bodies[1], "alpha\n");
  EXPECT_EQ(bodies[3], "bravo bravo\n");
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, WithoutKeepAliveOnlyTheFirstPipelinedRequestIsAnswered) {
  auto server = start();
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send(get("/a.txt") + get("/b.txt")));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->body, "alpha\n");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(c.extra_bytes(), "") << "a second response arrived after Connection: close";
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, AccessLogLinesAreCombinedLogFormat) {
  auto server = start({"--access-log", "-", "--keep-alive"});
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send(get("/a.txt", "Referer: http://ref.example/x\r\nUser-Agent: t\"ua\r\n")));
  ASSERT_TRUE(c.read_response()) << c.error();
  ASSERT_TRUE(c.send("HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.read_response(/*head_request=*/true)) << c.error();

  auto first = server->read_stdout_line();
  auto second = server->read_stdout_line();
  ASSERT_TRUE(first && second) << "expected two access-log lines on stdout";
  // host ident authuser [date] "request" status bytes "referer" "user-agent"
  const std::string date = R"(\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\])";
  std::regex line1("^127\\.0\\.0\\.1 - - " + date +
                   R"( "GET /a\.txt HTTP/1\.1" 200 6 "http://ref\.example/x" "t\\"ua"$)");
  std::regex line2("^127\\.0\\.0\\.1 - - " + date + R"( "HEAD /missing HTTP/1\.1" 404 - "-" "-"$)");
  EXPECT_TRUE(std::regex_match(*first, line1)) << escape_bytes(*first);
  EXPECT_TRUE(std::regex_match(*second, line2)) << escape_bytes(*second);
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, AccessLogToAFileAppendsOneLinePerResponse) {
  std::string log_path =
      root_.path() + "/../" + fs::path(root_.path()).filename().string() + ".log";
  auto server = start({"--access-log", log_path});
  for (int i = 0; i < 3; ++i) {
    HttpClient c = HttpClient::connect(*server);
    ASSERT_TRUE(c.send(get("/b.txt")));
    ASSERT_TRUE(c.read_response()) << c.error();
  }
  EXPECT_EQ(server->stop(), 0);
  std::ifstream in(log_path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_NE(line.find("\"GET /b.txt HTTP/1.1\" 200 12 "), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 3);
  fs::remove(log_path);
}

TEST_F(HttpSeq, HelpExitsZeroAndBadFlagExitsTwo) {
  EXPECT_EQ(run_to_exit({server_binary(), "--help"}), 0);
  EXPECT_EQ(run_to_exit({server_binary(), "--no-such-flag"}), 2);
  EXPECT_EQ(run_to_exit({server_binary(), "--autoindex", "maybe"}), 2);
}

TEST_F(HttpSeq, SigtermAndSigintExitZero) {
  EXPECT_EQ(start()->stop(SIGTERM), 0);
  EXPECT_EQ(start()->stop(SIGINT), 0);
}

TEST_F(HttpSeq, StopsPromptlyWhileAKeepAliveClientIsIdle) {
  auto server = start({"--keep-alive", "--keepalive-timeout", "60"});
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send(get("/a.txt")));
  ASSERT_TRUE(c.read_response()) << c.error();
  // The server now sits in serve_connection waiting for this idle client.
  EXPECT_EQ(server->stop(SIGTERM, 5s), 0) << "an idle keep-alive client held the server";
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HttpSeq, IdleKeepAliveConnectionIsClosedQuietly) {
  auto server = start({"--keep-alive", "--keepalive-timeout", "0.3"});
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send(get("/a.txt")));
  ASSERT_TRUE(c.read_response()) << c.error();
  EXPECT_TRUE(c.closed_by_peer(5s));
  EXPECT_EQ(c.extra_bytes(), "") << "expected a quiet close, got bytes";
  // And the server goes on to the next client.
  HttpClient d = HttpClient::connect(*server);
  ASSERT_TRUE(d.send(get("/b.txt")));
  auto r = d.read_response();
  ASSERT_TRUE(r) << d.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, SlowHeadGets408ThenClose) {
  auto server = start({"--header-timeout", "0.5"});
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n"));
  auto r = c.read_response(false, 5s);
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 408) << r->wire();
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, ServesTheBundledSiteWithoutRoot) {
  ServerProcess server({server_binary(), "--port", "0", "--log-level", "warn"});
  HttpClient c = HttpClient::connect(server);
  ASSERT_TRUE(c.send(get("/")));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
  EXPECT_NE(r->body.find("serverlab"), std::string::npos);
  EXPECT_EQ(r->header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(server.stop(), 0);
}

// Out of descriptors (EMFILE), a client waiting in the backlog keeps the listener
// readable: a loop that only logs and retries spins at full speed and floods the
// log, and the client hangs. The spare-descriptor trick accepts it and closes it
// at once instead; once descriptors are free again, clients are served.
TEST_F(HttpSeq, SurvivesRunningOutOfFileDescriptors) {
  auto server = start({"--log-level", "warn"});
  {  // Served while there is room (this also warms UBSan's type cache, which needs a pipe).
    HttpClient warm = HttpClient::connect(*server);
    ASSERT_TRUE(warm.send(get("/a.txt")));
    ASSERT_TRUE(warm.read_response(false, 10s)) << warm.error();
    ASSERT_TRUE(warm.closed_by_peer()) << "its descriptor must be free before we count";
  }
  const OutOfFdsReport shed = connect_while_out_of_fds(
      *server, lowest_free_fd(server->pid()), 8, get("/-/health"));  // room for none
  ASSERT_TRUE(shed.error.empty()) << shed.error;
  for (const std::string& problem : shed.problems) ADD_FAILURE() << problem;
  EXPECT_GE(shed.refused, 1) << "precondition: the server ran out of descriptors";

  HttpClient after = HttpClient::connect(*server);
  ASSERT_TRUE(after.send(get("/a.txt")));
  auto r = after.read_response(false, 10s);
  ASSERT_TRUE(r) << "not serving after descriptors were available again: " << after.error();
  EXPECT_EQ(r->status, 200) << r->wire();
  EXPECT_EQ(server->stop(), 0);
  const std::string log = server->stderr_text();
  std::size_t lines = 0;
  for (std::size_t at = log.find("descriptors"); at != std::string::npos;
       at = log.find("descriptors", at + 1)) {
    ++lines;
  }
  EXPECT_LE(lines, 20u) << "the accept loop spun on EMFILE (" << lines << " log lines)";
}

}  // namespace
