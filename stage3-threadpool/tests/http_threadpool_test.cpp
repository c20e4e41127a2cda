// Black-box tests of http-threadpool: the stage 3 behaviours the shared
// conformance suite does not own. Fairness between keep-alive clients when they
// outnumber the threads, --overload reject (503 + Retry-After), graceful
// shutdown with a response in flight and a connection in the queue, the stage 3
// gauges, flags and signals. Each test starts the real binary on 127.0.0.1 port 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "server_process.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::escape_bytes;
using serverlab::testing::send_all;
using serverlab::testing::ServerProcess;
namespace fs = std::filesystem;

std::string server_binary() {
  return serverlab::testing::binary_from_env("HTTP_THREADPOOL_BIN", HTTP_THREADPOOL_DEFAULT_BIN);
}

class DocRoot {
 public:
  DocRoot() {
    char tmpl[] = "/tmp/http-threadpool-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
    write("a.txt", "alpha\n");
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

// Reads responses from one connection; every wait is bounded. Remembers how the
// connection ended: EOF (a clean FIN) or a reset.
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}
  std::optional<HttpResponse> next(std::chrono::milliseconds deadline = 5s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(until)) return std::nullopt;
    }
    HttpResponse r;
    r.head = pending_.substr(0, end + 2);
    pending_.erase(0, end + 4);
    r.status = std::atoi(r.head.substr(9, 3).c_str());
    std::size_t length = std::strtoul(r.header("Content-Length").c_str(), nullptr, 10);
    while (pending_.size() < length) {
      if (!fill(until)) return std::nullopt;
    }
    r.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return r;
  }
  // Reads the head only (for a large body the test reads later).
  std::optional<std::string> head(std::chrono::milliseconds deadline = 5s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(until)) return std::nullopt;
    }
    std::string h = pending_.substr(0, end + 4);
    pending_.erase(0, end + 4);
    return h;
  }
  // Reads until the peer ends the connection; true if it did within the deadline.
  bool closed(std::chrono::milliseconds deadline = 5s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (fill(until)) {
    }
    return eof_ || reset_;
  }
  bool was_reset() const { return reset_; }
  std::string& pending() { return pending_; }
  bool fill(std::chrono::steady_clock::time_point until) {
    if (eof_ || reset_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[64 * 1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n < 0) reset_ = true;
    if (n == 0) eof_ = true;
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

 private:
  int fd_;
  std::string pending_;
  bool eof_ = false;
  bool reset_ = false;
};

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

// Polls `condition` until it holds or the deadline passes (bounded).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds deadline = 5s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
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
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    ::usleep(10'000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -2;
}

// The value of an unlabelled sample in a Prometheus exposition, or nullopt.
std::optional<double> sample(const std::string& text, const std::string& name) {
  std::regex re("(^|\n)" + name + " ([^\n]+)");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nullopt;
  return std::strtod(m[2].str().c_str(), nullptr);
}

class HttpThreadpool : public ::testing::Test {
 protected:
  std::unique_ptr<ServerProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {server_binary(), "--port",      "0",   "--root",
                                     root_.path(),    "--log-level", "warn"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<ServerProcess>(argv);
  }
  DocRoot root_;
};

TEST_F(HttpThreadpool, ServesTwoRequestsOnOneKeepAliveConnection) {
  auto server = start({"--threads", "2"});
  Fd c = server->connect();
  Reader reader(c.get());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(send_all(c.get(), get("/a.txt")));
    auto r = reader.next();
    ASSERT_TRUE(r) << "request " << i << ": " << escape_bytes(reader.pending());
    EXPECT_EQ(r->status, 200) << escape_bytes(r->head);
    EXPECT_EQ(r->header("Connection"), "keep-alive") << escape_bytes(r->head);
    EXPECT_EQ(r->body, "alpha\n");
  }
  EXPECT_EQ(server->stop(), 0);
}

// One thread, a keep-alive timeout of a minute: without fairness the second
// client would wait that minute for the first one's idle connection to time out.
TEST_F(HttpThreadpool, IdleKeepAliveClientYieldsTheWorkerToAWaitingClient) {
  auto server = start({"--threads", "1", "--keepalive-timeout", "60"});
  Fd a = server->connect();
  Reader ra(a.get());
  ASSERT_TRUE(send_all(a.get(), get("/a.txt")));
  auto first = ra.next();
  ASSERT_TRUE(first) << escape_bytes(ra.pending());
  ASSERT_EQ(first->header("Connection"), "keep-alive");

  Fd b = server->connect();
  Reader rb(b.get());
  ASSERT_TRUE(send_all(b.get(), get("/a.txt")));
  auto second = rb.next(20s);
  ASSERT_TRUE(second) << "a waiting client was not served while an idle one held the only "
                         "worker; got: "
                      << escape_bytes(rb.pending());
  EXPECT_EQ(second->status, 200);
  EXPECT_TRUE(ra.closed()) << "the idle connection was expected to be closed";
  EXPECT_EQ(ra.pending(), "") << "expected a quiet close, got bytes";
  EXPECT_EQ(server->stop(), 0);
}

// Six keep-alive clients, two threads: every client gets two responses (on its
// connection, or on a new one after the server said Connection: close).
TEST_F(HttpThreadpool, MoreKeepAliveClientsThanThreadsAllGetServed) {
  constexpr int kClients = 6;
  auto server = start({"--threads", "2", "--keepalive-timeout", "60"});
  std::vector<Fd> conns;
  std::vector<std::unique_ptr<Reader>> readers;
  for (int i = 0; i < kClients; ++i) {
    conns.push_back(server->connect());
    readers.push_back(std::make_unique<Reader>(conns.back().get()));
    ASSERT_TRUE(send_all(conns.back().get(), get("/a.txt")));
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kClients; ++i) {
      auto r = readers[static_cast<std::size_t>(i)]->next(20s);
      ASSERT_TRUE(r) << "client " << i << " round " << round << " starved; got: "
                     << escape_bytes(readers[static_cast<std::size_t>(i)]->pending());
      EXPECT_EQ(r->status, 200) << escape_bytes(r->head);
      if (round == 1) continue;
      if (r->header("Connection") == "close") {  // asked to make room: reconnect
        conns[static_cast<std::size_t>(i)] = server->connect();
        readers[static_cast<std::size_t>(i)] =
            std::make_unique<Reader>(conns[static_cast<std::size_t>(i)].get());
      }
      ASSERT_TRUE(send_all(conns[static_cast<std::size_t>(i)].get(), get("/a.txt")));
    }
  }
  EXPECT_EQ(server->stop(), 0);
}

// One thread; client A sends requests back to back (like wrk or a browser) while
// client B waits in the queue. Fairness may end A's connection, but only with a
// response that says Connection: close: a request A has sent must never be met by
// a close (A would see EOF or a reset instead of a response, and most clients,
// wrk among them, count that as an error and do not retry).
TEST_F(HttpThreadpool, YieldingBusyKeepAliveClientEndsWithConnectionCloseNotACutOff) {
  auto server = start({"--threads", "1", "--keepalive-timeout", "60"});
  Fd a = server->connect();
  Reader ra(a.get());
  ASSERT_TRUE(send_all(a.get(), get("/a.txt")));
  auto first = ra.next();
  ASSERT_TRUE(first) << escape_bytes(ra.pending());
  ASSERT_EQ(first->header("Connection"), "keep-alive") << escape_bytes(first->head);

  Fd b = server->connect();  // queued behind A: the only worker is A's
  Reader rb(b.get());
  ASSERT_TRUE(send_all(b.get(), get("/a.txt")));

  bool told_to_close = false;
  auto until = std::chrono::steady_clock::now() + 10s;
  for (int i = 1; i < 100'000 && !told_to_close && std::chrono::steady_clock::now() < until; ++i) {
    ASSERT_TRUE(send_all(a.get(), get("/a.txt"))) << "request " << i;
    auto r = ra.next();
    ASSERT_TRUE(r) << "request " << i << " on the busy connection got no response ("
                   << (ra.was_reset() ? "reset" : "EOF or timeout")
                   << "); bytes: " << escape_bytes(ra.pending());
    ASSERT_EQ(r->status, 200) << escape_bytes(r->head);
    told_to_close = r->header("Connection") == "close";
  }
  EXPECT_TRUE(told_to_close) << "A kept the only worker for 10 s while B waited";
  if (told_to_close) {
    EXPECT_TRUE(ra.closed()) << "Connection: close, but no close followed";
  }
  auto second = rb.next(10s);
  ASSERT_TRUE(second) << "the queued client was not served: " << escape_bytes(rb.pending());
  EXPECT_EQ(second->status, 200) << escape_bytes(second->head);
  EXPECT_EQ(server->stop(), 0);
}

TEST_F(HttpThreadpool, MetricsShowWorkerAndQueueGauges) {
  auto server = start({"--threads", "3"});
  Fd c = server->connect();
  Reader reader(c.get());
  ASSERT_TRUE(send_all(c.get(), get("/-/metrics")));
  auto r = reader.next();
  ASSERT_TRUE(r) << escape_bytes(reader.pending());
  EXPECT_EQ(r->status, 200) << escape_bytes(r->head);
  EXPECT_EQ(sample(r->body, "serverlab_workers"), 3.0) << r->body;
  EXPECT_EQ(sample(r->body, "serverlab_workers_busy"), 1.0) << r->body;  // the one answering
  EXPECT_EQ(sample(r->body, "serverlab_queue_depth"), 0.0) << r->body;
  EXPECT_NE(r->body.find("# TYPE serverlab_queue_depth gauge"), std::string::npos) << r->body;
  EXPECT_EQ(server->stop(), 0);
}

// Two threads held by half-sent request heads, one connection queued: the next
// client is answered 503 with Retry-After by the acceptor and closed.
TEST_F(HttpThreadpool, RejectOverloadAnswers503WithRetryAfter) {
  auto server =
      start({"--threads", "2", "--queue", "1", "--overload", "reject", "--header-timeout", "30"});
  Fd a = server->connect();
  ASSERT_TRUE(send_all(a.get(), "GET /a.txt HTTP/1.1\r\nHost:"));  // holds worker 1
  // Until a worker has taken `a` off the queue of one, a second client may be
  // rejected: retry the scrape (bounded) until it is served and shows both busy.
  Fd m;
  std::optional<HttpResponse> metrics;
  for (int attempt = 0; attempt < 100; ++attempt) {
    m = server->connect();
    ASSERT_TRUE(send_all(m.get(), get("/-/metrics")));
    Reader rm(m.get());
    metrics = rm.next();
    ASSERT_TRUE(metrics) << escape_bytes(rm.pending());
    if (metrics->status == 200) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(metrics->status, 200) << escape_bytes(metrics->head);
  ASSERT_EQ(sample(metrics->body, "serverlab_workers_busy"), 2.0)
      << "the half-sent request is not held by a worker:\n"
      << metrics->body;
  ASSERT_TRUE(send_all(m.get(), "GET /a.txt HTTP/1.1\r\nHost:"));  // holds worker 2

  Fd queued = server->connect();  // fills the queue of one
  Fd rejected = server->connect();
  ASSERT_TRUE(send_all(rejected.get(), get("/a.txt")));
  Reader rr(rejected.get());
  auto r = rr.next();
  ASSERT_TRUE(r) << escape_bytes(rr.pending());
  EXPECT_EQ(r->status, 503) << escape_bytes(r->head);
  EXPECT_FALSE(r->header("Retry-After").empty()) << escape_bytes(r->head);
  EXPECT_EQ(r->header("Connection"), "close") << escape_bytes(r->head);
  EXPECT_EQ(r->header("Server"), "serverlab") << escape_bytes(r->head);
  EXPECT_TRUE(rr.closed());
  EXPECT_FALSE(rr.was_reset()) << "the 503 connection was reset instead of closed";

  // The held clients are still served when they finish their heads.
  ASSERT_TRUE(send_all(a.get(), " t\r\n\r\n"));
  Reader ra(a.get());
  auto ok = ra.next();
  ASSERT_TRUE(ok) << escape_bytes(ra.pending());
  EXPECT_EQ(ok->status, 200) << escape_bytes(ok->head);
  m.reset();  // the other held worker sees EOF, so the stop below is quick
  EXPECT_EQ(server->stop(), 0);
}

// A response in flight is finished after SIGTERM; a connection waiting in the
// queue is closed (FIN, no response, no reset); the server exits 0.
TEST_F(HttpThreadpool, ShutdownFinishesInFlightResponseAndClosesQueuedConnection) {
  constexpr std::size_t kBig = 32u << 20;  // larger than any socket buffer pair
  root_.write("big.bin", std::string(kBig, 'x'));
  auto server = start({"--threads", "1", "--shutdown-timeout", "20"});
  Fd a = server->connect();
  ASSERT_TRUE(send_all(a.get(), get("/big.bin")));
  Reader ra(a.get());
  auto head = ra.head();
  ASSERT_TRUE(head) << escape_bytes(ra.pending());
  ASSERT_NE(head->find("Content-Length: " + std::to_string(kBig)), std::string::npos)
      << escape_bytes(*head);

  int fds_before = server->fd_count();
  Fd b = server->connect();
  ASSERT_TRUE(send_all(b.get(), get("/a.txt")));
  ASSERT_TRUE(eventually([&] { return server->fd_count() > fds_before; }))
      << "the server never accepted the second connection";

  server->signal(SIGTERM);
  auto until = std::chrono::steady_clock::now() + 30s;
  while (ra.pending().size() < kBig && ra.fill(until)) {
  }
  EXPECT_EQ(ra.pending().size(), kBig) << "the response in flight was cut short";

  Reader rb(b.get());
  EXPECT_TRUE(rb.closed(10s)) << "the queued connection was not closed";
  EXPECT_EQ(rb.pending(), "") << "a queued connection was served during shutdown";
  EXPECT_FALSE(rb.was_reset()) << "the queued connection was reset, not closed";
  b.reset();  // ends the server's lingering close on it at once
  auto status = server->wait(15s);
  ASSERT_TRUE(status.has_value()) << "the server did not exit after SIGTERM";
  EXPECT_EQ(*status, 0);
}

TEST_F(HttpThreadpool, StopsPromptlyWithMoreIdleKeepAliveClientsThanThreads) {
  auto server = start({"--threads", "2", "--keepalive-timeout", "60"});
  std::vector<Fd> conns;
  for (int i = 0; i < 3; ++i) {
    conns.push_back(server->connect());
    ASSERT_TRUE(send_all(conns.back().get(), get("/a.txt")));
  }
  Reader r0(conns[0].get());
  ASSERT_TRUE(r0.next());
  EXPECT_EQ(server->stop(SIGINT, 10s), 0);
}

TEST_F(HttpThreadpool, HelpExitsZeroAndBadFlagsExitTwo) {
  EXPECT_EQ(run_to_exit({server_binary(), "--help"}), 0);
  EXPECT_EQ(run_to_exit({server_binary(), "--no-such-flag"}), 2);
  EXPECT_EQ(run_to_exit({server_binary(), "--threads", "0"}), 2);
  EXPECT_EQ(run_to_exit({server_binary(), "--overload", "maybe"}), 2);
}

TEST_F(HttpThreadpool, SigtermAndSigintExitZero) {
  EXPECT_EQ(start()->stop(SIGTERM), 0);
  EXPECT_EQ(start()->stop(SIGINT), 0);
}

}  // namespace
