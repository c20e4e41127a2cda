// Black-box tests of http-seq: the stage 2 behaviours the shared conformance
// suite does not own (Connection: close by default, --keep-alive, the access
// log format, flags and signals). Each test starts the real binary on
// 127.0.0.1 port 0 with a temporary document root.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server_process.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::escape_bytes;
using serverlab::testing::send_all;
using serverlab::testing::ServerProcess;
namespace fs = std::filesystem;

std::string server_binary() {
  return serverlab::testing::binary_from_env("HTTP_SEQ_BIN", HTTP_SEQ_DEFAULT_BIN);
}

// A temporary document root with a few known files; removed at the end.
class DocRoot {
 public:
  DocRoot() {
    char tmpl[] = "/tmp/http-seq-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
    write("a.txt", "alpha\n");
    write("b.txt", "bravo bravo\n");
    write("c.txt", "charlie charlie charlie\n");
  }
  ~DocRoot() { fs::remove_all(path_); }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ + "/" + name, std::ios::binary) << content;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct HttpResponse {
  int status = 0;
  std::string head;
  std::string body;
  std::string header(const std::string& name) const {
    std::regex re("\r\n" + name + ": ([^\r]*)\r\n", std::regex::icase);
    std::smatch m;
    return std::regex_search(head, m, re) ? m[1].str() : std::string();
  }
};

// Reads responses one at a time from a connection, keeping bytes that belong
// to the next one (pipelining). Every wait is bounded.
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}
  // `head_request`: the response to HEAD has no body whatever Content-Length says.
  std::optional<HttpResponse> next(std::chrono::milliseconds deadline = 5s,
                                   bool head_request = false) {
    auto until = std::chrono::steady_clock::now() + deadline;
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(until)) return std::nullopt;
    HttpResponse r;
    r.head = pending_.substr(0, end + 2);
    pending_.erase(0, end + 4);
    r.status = std::atoi(r.head.substr(9, 3).c_str());
    std::size_t length =
        head_request ? 0 : std::strtoul(r.header("Content-Length").c_str(), nullptr, 10);
    while (pending_.size() < length)
      if (!fill(until)) return std::nullopt;
    r.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return r;
  }
  bool closed(std::chrono::milliseconds deadline = 5s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (fill(until)) {
    }
    return eof_;
  }
  const std::string& pending() const { return pending_; }

 private:
  bool fill(std::chrono::steady_clock::time_point until) {
    if (eof_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  int fd_;
  std::string pending_;
  bool eof_ = false;
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

// Runs the binary to completion (bounded); returns its exit status.
int run_to_exit(std::vector<std::string> args) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 1000; ++i) {  // 10 s at most
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    ::usleep(10'000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -2;
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
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), get("/a.txt")));
  Reader reader(c.get());
  auto r = reader.next();
  ASSERT_TRUE(r) << escape_bytes(reader.pending());
  EXPECT_EQ(r->status, 200) << escape_bytes(r->head);
  EXPECT_EQ(r->header("Connection"), "close") << escape_bytes(r->head);
  EXPECT_EQ(r->body, "alpha\n");
  EXPECT_TRUE(reader.closed()) << "the server kept the connection open";
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, KeepAliveServesTwoRequestsOnOneConnection) {
  auto server = start({"--keep-alive"});
  Fd c = server->connect();
  Reader reader(c.get());
  ASSERT_TRUE(send_all(c.get(), get("/a.txt")));
  auto first = reader.next();
  ASSERT_TRUE(first) << escape_bytes(reader.pending());
  EXPECT_EQ(first->header("Connection"), "keep-alive") << escape_bytes(first->head);
  ASSERT_TRUE(send_all(c.get(), get("/b.txt")));
  auto second = reader.next();
  ASSERT_TRUE(second) << "no second response on the same connection";
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->body, "bravo bravo\n");
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, KeepAliveAnswersPipelinedRequestsInOrder) {
  auto server = start({"--keep-alive"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), get("/c.txt") + get("/a.txt") + get("/missing") + get("/b.txt")));
  Reader reader(c.get());
  std::vector<std::string> bodies;
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    auto r = reader.next();
    ASSERT_TRUE(r) << "response " << i << " missing; got: " << escape_bytes(reader.pending());
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
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), get("/a.txt") + get("/b.txt")));
  Reader reader(c.get());
  auto r = reader.next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "alpha\n");
  EXPECT_TRUE(reader.closed());
  EXPECT_EQ(reader.pending(), "") << "a second response arrived after Connection: close";
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, AccessLogLinesAreCombinedLogFormat) {
  auto server = start({"--access-log", "-", "--keep-alive"});
  Fd c = server->connect();
  Reader reader(c.get());
  ASSERT_TRUE(send_all(c.get(), get("/a.txt", "Referer: http://ref.example/x\r\nUser-Agent: t\"ua\r\n")));
  ASSERT_TRUE(reader.next());
  ASSERT_TRUE(send_all(c.get(), "HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(reader.next(5s, true));

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
  std::string log_path = root_.path() + "/../" + fs::path(root_.path()).filename().string() + ".log";
  auto server = start({"--access-log", log_path});
  for (int i = 0; i < 3; ++i) {
    Fd c = server->connect();
    ASSERT_TRUE(send_all(c.get(), get("/b.txt")));
    Reader reader(c.get());
    ASSERT_TRUE(reader.next());
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
  Fd c = server->connect();
  Reader reader(c.get());
  ASSERT_TRUE(send_all(c.get(), get("/a.txt")));
  ASSERT_TRUE(reader.next());
  // The server now sits in serve_connection waiting for this idle client.
  EXPECT_EQ(server->stop(SIGTERM, 5s), 0) << "an idle keep-alive client held the server";
  EXPECT_TRUE(reader.closed());
}

TEST_F(HttpSeq, IdleKeepAliveConnectionIsClosedQuietly) {
  auto server = start({"--keep-alive", "--keepalive-timeout", "0.3"});
  Fd c = server->connect();
  Reader reader(c.get());
  ASSERT_TRUE(send_all(c.get(), get("/a.txt")));
  ASSERT_TRUE(reader.next());
  EXPECT_TRUE(reader.closed(5s));
  EXPECT_EQ(reader.pending(), "") << "expected a quiet close, got bytes";
  // And the server goes on to the next client.
  Fd d = server->connect();
  ASSERT_TRUE(send_all(d.get(), get("/b.txt")));
  Reader next(d.get());
  auto r = next.next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, SlowHeadGets408ThenClose) {
  auto server = start({"--header-timeout", "0.5"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), "GET /a.txt HTTP/1.1\r\nHost: x\r\n"));
  Reader reader(c.get());
  auto r = reader.next(5s);
  ASSERT_TRUE(r) << escape_bytes(reader.pending());
  EXPECT_EQ(r->status, 408) << escape_bytes(r->head);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(reader.closed());
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpSeq, ServesTheBundledSiteWithoutRoot) {
  ServerProcess server({server_binary(), "--port", "0", "--log-level", "warn"});
  Fd c = server.connect();
  ASSERT_TRUE(send_all(c.get(), get("/")));
  Reader reader(c.get());
  auto r = reader.next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << escape_bytes(r->head);
  EXPECT_NE(r->body.find("serverlab"), std::string::npos);
  EXPECT_EQ(r->header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
