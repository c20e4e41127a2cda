// Black-box tests of http-threadpool: the stage 3 behaviours the shared
// conformance suite does not own. Slow clients not blocking others while threads
// are free; whole access-log lines under concurrent load; fairness between
// keep-alive clients when they outnumber the threads; --overload reject (503 +
// Retry-After); graceful shutdown with a response in flight and a connection in
// the queue; the stage 3 gauges, flags and signals. Each test starts the real
// binary on 127.0.0.1 port 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::escape_bytes;
using serverlab::testing::HttpClient;
using serverlab::testing::HttpResponse;
using serverlab::testing::run_to_exit;
using serverlab::testing::ServerProcess;
using serverlab::testing::TempDir;

std::string server_binary() {
  return serverlab::testing::server_binary("HTTP_THREADPOOL_BIN", HTTP_THREADPOOL_DEFAULT_BIN);
}

struct DocRoot : TempDir {
  DocRoot() : TempDir("http-threadpool-test") { write("a.txt", "alpha\n"); }
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
  HttpClient c = HttpClient::connect(*server);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send(get("/a.txt")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << "request " << i << ": " << c.error();
    EXPECT_EQ(r->status, 200) << r->wire();
    EXPECT_EQ(r->header("Connection"), "keep-alive") << r->wire();
    EXPECT_EQ(r->body, "alpha\n");
  }
  EXPECT_EQ(server->stop(), 0);
}

// One thread, a keep-alive timeout of a minute: without fairness the second
// client would wait that minute for the first one's idle connection to time out.
TEST_F(HttpThreadpool, IdleKeepAliveClientYieldsTheWorkerToAWaitingClient) {
  auto server = start({"--threads", "1", "--keepalive-timeout", "60"});
  HttpClient a = HttpClient::connect(*server);
  ASSERT_TRUE(a.send(get("/a.txt")));
  auto first = a.read_response();
  ASSERT_TRUE(first) << a.error();
  ASSERT_EQ(first->header("Connection"), "keep-alive") << first->wire();

  HttpClient b = HttpClient::connect(*server);
  ASSERT_TRUE(b.send(get("/a.txt")));
  auto second = b.read_response(false, 20s);
  ASSERT_TRUE(second) << "a waiting client was not served while an idle one held the only "
                         "worker: "
                      << b.error();
  EXPECT_EQ(second->status, 200);
  EXPECT_TRUE(a.closed_by_peer()) << "the idle connection was expected to be closed";
  EXPECT_EQ(a.extra_bytes(), "") << "expected a quiet close, got bytes";
  EXPECT_EQ(server->stop(), 0);
}

// Six keep-alive clients, two threads: every client gets two responses (on its
// connection, or on a new one after the server said Connection: close).
TEST_F(HttpThreadpool, MoreKeepAliveClientsThanThreadsAllGetServed) {
  constexpr std::size_t kClients = 6;
  auto server = start({"--threads", "2", "--keepalive-timeout", "60"});
  std::vector<HttpClient> clients;
  for (std::size_t i = 0; i < kClients; ++i) {
    clients.push_back(HttpClient::connect(*server));
    ASSERT_TRUE(clients.back().send(get("/a.txt")));
  }
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < kClients; ++i) {
      auto r = clients[i].read_response(false, 20s);
      ASSERT_TRUE(r) << "client " << i << " round " << round << " starved: " << clients[i].error();
      EXPECT_EQ(r->status, 200) << r->wire();
      if (round == 1) continue;
      if (r->header("Connection") == "close") {  // asked to make room: reconnect
        clients[i] = HttpClient::connect(*server);
      }
      ASSERT_TRUE(clients[i].send(get("/a.txt")));
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
  HttpClient a = HttpClient::connect(*server);
  ASSERT_TRUE(a.send(get("/a.txt")));
  auto first = a.read_response();
  ASSERT_TRUE(first) << a.error();
  ASSERT_EQ(first->header("Connection"), "keep-alive") << first->wire();

  HttpClient b = HttpClient::connect(*server);  // queued behind A: the only worker is A's
  ASSERT_TRUE(b.send(get("/a.txt")));

  bool told_to_close = false;
  auto until = std::chrono::steady_clock::now() + 10s;
  for (int i = 1; i < 100'000 && !told_to_close && std::chrono::steady_clock::now() < until; ++i) {
    ASSERT_TRUE(a.send(get("/a.txt"))) << "request " << i;
    auto r = a.read_response();
    ASSERT_TRUE(r) << "request " << i << " on the busy connection got no response ("
                   << (a.saw_reset() ? "reset" : "EOF or timeout") << "): " << a.error();
    ASSERT_EQ(r->status, 200) << r->wire();
    told_to_close = r->header("Connection") == "close";
  }
  EXPECT_TRUE(told_to_close) << "A kept the only worker for 10 s while B waited";
  if (told_to_close) {
    EXPECT_TRUE(a.closed_by_peer()) << "Connection: close, but no close followed";
  }
  auto second = b.read_response(false, 10s);
  ASSERT_TRUE(second) << "the queued client was not served: " << b.error();
  EXPECT_EQ(second->status, 200) << second->wire();
  EXPECT_EQ(server->stop(), 0);
}

// Three clients stall in the middle of their request heads, each holding a
// worker; with a fourth thread free, a fourth client is answered at once. A
// server that serves one connection at a time (stage 2) fails this.
TEST_F(HttpThreadpool, SlowClientsDoNotBlockOthersWhileThreadsAreFree) {
  auto server = start({"--threads", "4", "--header-timeout", "30"});
  std::vector<HttpClient> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(HttpClient::connect(*server));
    ASSERT_TRUE(slow.back().send("GET /a.txt HTTP/1.1\r\nHost:"));
  }
  HttpClient fast = HttpClient::connect(*server);
  ASSERT_TRUE(fast.send(get("/a.txt")));
  auto r = fast.read_response(false, 3s);
  ASSERT_TRUE(r) << "a client was kept waiting behind slow ones with a thread free: "
                 << fast.error();
  EXPECT_EQ(r->status, 200) << r->wire();

  for (std::size_t i = 0; i < slow.size(); ++i) {  // the slow ones finish and are served too
    ASSERT_TRUE(slow[i].send(" t\r\n\r\n"));
    auto s = slow[i].read_response();
    ASSERT_TRUE(s) << "slow client " << i << ": " << slow[i].error();
    EXPECT_EQ(s->status, 200) << s->wire();
  }
  EXPECT_EQ(server->stop(), 0);
}

// Four keep-alive clients on four workers (so no fairness yield), each sending
// 200 pipelined requests, so that the workers log back to back: the access log
// must hold exactly one whole Combined Log Format line per request. Lines written
// in more than one piece, or without the logger's care, tear or interleave here.
TEST_F(HttpThreadpool, AccessLogLinesStayWholeUnderConcurrentLoad) {
  constexpr int kClients = 4;
  constexpr int kRequests = 200;
  TempDir logs("http-threadpool-log");
  const std::string log_path = logs.path("access.log");
  auto server = start({"--threads", "4", "--access-log", log_path});

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      HttpClient client = HttpClient::connect(*server);
      std::string burst;
      for (int n = 0; n < kRequests; ++n) {
        burst += "GET /a.txt?c=" + std::to_string(c) + "&n=" + std::to_string(n) +
                 " HTTP/1.1\r\nHost: t\r\n\r\n";
      }
      if (!client.send(burst)) {
        failures += kRequests;
        return;
      }
      for (int n = 0; n < kRequests; ++n) {
        auto r = client.read_response();
        if (!r || r->status != 200) {
          failures += kRequests - n;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0) << "requests failed under load";
  ASSERT_EQ(server->stop(), 0);  // the log is flushed by the time the server exits

  std::ifstream in(log_path);
  ASSERT_TRUE(in) << "no access log at " << log_path;
  const std::regex line_re(
      R"re(127\.0\.0\.1 - - \[[^\]]+\] "GET /a\.txt\?c=(\d+)&n=(\d+) HTTP/1\.1" 200 6 "-" "-")re");
  std::set<std::pair<int, int>> seen;
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, line_re))
        << "torn or malformed line " << lines << ": " << escape_bytes(line);
    EXPECT_TRUE(seen.emplace(std::stoi(m[1]), std::stoi(m[2])).second) << "logged twice: " << line;
  }
  EXPECT_EQ(lines, kClients * kRequests);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kClients * kRequests));
}

TEST_F(HttpThreadpool, MetricsShowWorkerAndQueueGauges) {
  auto server = start({"--threads", "3"});
  HttpClient c = HttpClient::connect(*server);
  ASSERT_TRUE(c.send(get("/-/metrics")));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
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
  HttpClient a = HttpClient::connect(*server);
  ASSERT_TRUE(a.send("GET /a.txt HTTP/1.1\r\nHost:"));  // holds worker 1
  // Until a worker has taken `a` off the queue of one, a second client may be
  // rejected: retry the scrape (bounded) until it is served and shows both busy.
  std::optional<HttpClient> m;
  std::optional<HttpResponse> metrics;
  for (int attempt = 0; attempt < 100; ++attempt) {
    m.emplace(HttpClient::connect(*server));
    ASSERT_TRUE(m->send(get("/-/metrics")));
    metrics = m->read_response();
    ASSERT_TRUE(metrics) << m->error();
    if (metrics->status == 200) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(metrics->status, 200) << metrics->wire();
  ASSERT_EQ(sample(metrics->body, "serverlab_workers_busy"), 2.0)
      << "the half-sent request is not held by a worker:\n"
      << metrics->body;
  ASSERT_TRUE(m->send("GET /a.txt HTTP/1.1\r\nHost:"));  // holds worker 2

  Fd queued = server->connect();  // fills the queue of one
  HttpClient rejected = HttpClient::connect(*server);
  ASSERT_TRUE(rejected.send(get("/a.txt")));
  auto r = rejected.read_response();
  ASSERT_TRUE(r) << rejected.error();
  EXPECT_EQ(r->status, 503) << r->wire();
  auto retry_after = r->header("Retry-After");
  EXPECT_TRUE(retry_after && !retry_after->empty()) << r->wire();
  EXPECT_EQ(r->header("Connection"), "close") << r->wire();
  EXPECT_EQ(r->header("Server"), "serverlab") << r->wire();
  EXPECT_TRUE(rejected.closed_by_peer());
  EXPECT_FALSE(rejected.saw_reset()) << "the 503 connection was reset instead of closed";

  // The held clients are still served when they finish their heads.
  ASSERT_TRUE(a.send(" t\r\n\r\n"));
  auto ok = a.read_response();
  ASSERT_TRUE(ok) << a.error();
  EXPECT_EQ(ok->status, 200) << ok->wire();
  m->close();  // the other held worker sees EOF, so the stop below is quick
  EXPECT_EQ(server->stop(), 0);
}

// A response in flight is finished after SIGTERM; a connection waiting in the
// queue is closed (FIN, no response, no reset); the server exits 0.
TEST_F(HttpThreadpool, ShutdownFinishesInFlightResponseAndClosesQueuedConnection) {
  constexpr std::size_t kBig = 32u << 20;  // larger than any socket buffer pair
  root_.write("big.bin", std::string(kBig, 'x'));
  auto server = start({"--threads", "1", "--shutdown-timeout", "20"});
  HttpClient a = HttpClient::connect(*server);
  ASSERT_TRUE(a.send(get("/big.bin")));
  auto head = a.read_head();
  ASSERT_TRUE(head) << a.error();
  ASSERT_EQ(head->header("Content-Length"), std::to_string(kBig)) << head->wire();

  int fds_before = server->fd_count();
  HttpClient b = HttpClient::connect(*server);
  ASSERT_TRUE(b.send(get("/a.txt")));
  ASSERT_TRUE(eventually([&] { return server->fd_count() > fds_before; }))
      << "the server never accepted the second connection";

  server->signal(SIGTERM);
  a.wait_for_bytes(kBig, 30s);
  EXPECT_EQ(a.extra_bytes().size(), kBig) << "the response in flight was cut short: " << a.error();

  EXPECT_TRUE(b.closed_by_peer(10s)) << "the queued connection was not closed";
  EXPECT_EQ(b.extra_bytes(), "") << "a queued connection was served during shutdown";
  EXPECT_FALSE(b.saw_reset()) << "the queued connection was reset, not closed";
  b.close();  // ends the server's lingering close on it at once
  auto status = server->wait(15s);
  ASSERT_TRUE(status.has_value()) << "the server did not exit after SIGTERM";
  EXPECT_EQ(*status, 0);
}

TEST_F(HttpThreadpool, StopsPromptlyWithMoreIdleKeepAliveClientsThanThreads) {
  auto server = start({"--threads", "2", "--keepalive-timeout", "60"});
  std::vector<HttpClient> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(HttpClient::connect(*server));
    ASSERT_TRUE(clients.back().send(get("/a.txt")));
  }
  ASSERT_TRUE(clients[0].read_response()) << clients[0].error();
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
