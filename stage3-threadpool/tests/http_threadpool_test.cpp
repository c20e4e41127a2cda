// Black-box tests of http-threadpool: the stage 3 behaviours the shared
// conformance suite does not own. Slow clients not blocking others while threads
// are free; whole access-log lines under concurrent load; fairness between
// keep-alive clients when they outnumber the threads; --overload reject (503 +
// Retry-After); graceful shutdown with a response in flight and a connection in
// the queue; the stage 3 gauges, flags and signals. Each test starts the real
// binary on 127.0.0.1 port 0.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>

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
using serverlab::testing::connect_while_out_of_fds;
using serverlab::testing::OutOfFdsReport;
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

// One thread, a keep-alive timeout of a minute: if an idle keep-alive connection
// kept its worker, the second client would wait that minute. It parks instead
// (back to the acceptor's poll set), and stays open for its next request.
TEST_F(HttpThreadpool, IdleKeepAliveClientParksAndFreesTheWorker) {
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
  EXPECT_EQ(second->header("Connection"), "keep-alive") << second->wire();

  ASSERT_TRUE(a.send(get("/a.txt")));  // the parked connection is served again
  auto again = a.read_response(false, 20s);
  ASSERT_TRUE(again) << "the parked connection was not served again: " << a.error();
  EXPECT_EQ(again->status, 200) << again->wire();
  EXPECT_EQ(again->header("Connection"), "keep-alive") << again->wire();
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
// client B waits in the queue. A's connection never idles long enough to park by
// itself, so fairness asks it to park between two of its requests: B is served
// while A keeps going, and A never sees a close or a Connection: close (a request
// A has sent must never be met by a close: most clients, wrk among them, count
// that as an error and do not retry).
TEST_F(HttpThreadpool, BusyKeepAliveClientParksForAQueuedClientWithoutAClose) {
  auto server =
      start({"--threads", "1", "--keepalive-timeout", "60", "--max-keepalive-requests", "1000000"});
  HttpClient a = HttpClient::connect(*server);
  ASSERT_TRUE(a.send(get("/a.txt")));
  auto first = a.read_response();
  ASSERT_TRUE(first) << a.error();
  ASSERT_EQ(first->header("Connection"), "keep-alive") << first->wire();

  HttpClient b = HttpClient::connect(*server);  // queued behind A: the only worker is A's
  ASSERT_TRUE(b.send(get("/a.txt")));

  auto b_answered = [&] {
    pollfd p{b.fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  };
  auto until = std::chrono::steady_clock::now() + 10s;
  int sent = 0;
  while (!b_answered() && std::chrono::steady_clock::now() < until && sent < 100'000) {
    ++sent;
    ASSERT_TRUE(a.send(get("/a.txt"))) << "request " << sent;
    auto r = a.read_response();
    ASSERT_TRUE(r) << "request " << sent << " on the busy connection got no response ("
                   << (a.saw_reset() ? "reset" : "EOF or timeout") << "): " << a.error();
    ASSERT_EQ(r->status, 200) << r->wire();
    ASSERT_EQ(r->header("Connection"), "keep-alive") << "request " << sent << ": " << r->wire();
  }
  ASSERT_TRUE(b_answered()) << "A kept the only worker for 10 s (" << sent
                            << " requests) while B waited";
  auto second = b.read_response(false, 10s);
  ASSERT_TRUE(second) << "the queued client was not served: " << b.error();
  EXPECT_EQ(second->status, 200) << second->wire();
  ASSERT_TRUE(a.send(get("/a.txt")));  // and A goes on, on the same connection
  auto more = a.read_response(false, 10s);
  ASSERT_TRUE(more) << a.error();
  EXPECT_EQ(more->status, 200) << more->wire();
  EXPECT_EQ(server->stop(), 0);
}

// Three clients stall in the middle of their request heads; a fourth client is
// answered at once. A server that serves one connection at a time (stage 2)
// fails this.
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

// Two threads held by downloads their clients do not read, one connection
// queued: the next client is answered 503 with Retry-After by the acceptor and
// closed. (Half-sent heads no longer hold a worker: the acceptor waits for them.)
TEST_F(HttpThreadpool, RejectOverloadAnswers503WithRetryAfter) {
  constexpr std::size_t kBig = 32u << 20;  // larger than any socket buffer pair
  root_.write("big.bin", std::string(kBig, 'x'));
  auto server = start({"--threads", "2", "--queue", "1", "--overload", "reject"});
  std::vector<HttpClient> holders;
  for (int i = 0; i < 2; ++i) {  // each holds a worker, blocked in send
    holders.push_back(HttpClient::connect(*server));
    ASSERT_TRUE(holders.back().send(get("/big.bin")));
    auto head = holders.back().read_head(10s);
    ASSERT_TRUE(head) << "holder " << i << ": " << holders.back().error();
    ASSERT_EQ(head->status, 200) << head->wire();
  }
  HttpClient queued = HttpClient::connect(*server);  // fills the queue of one
  ASSERT_TRUE(queued.send(get("/a.txt")));
  std::this_thread::sleep_for(300ms);  // order, not speed: let the acceptor queue it first

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

  holders.clear();  // the held workers see a reset, and the queued client gets its turn
  auto ok = queued.read_response(false, 10s);
  ASSERT_TRUE(ok) << queued.error();
  EXPECT_EQ(ok->status, 200) << ok->wire();
  EXPECT_EQ(server->stop(), 0);
}

// Slowloris: three times --threads clients send their heads a byte at a time
// and never finish. They hold no worker (the acceptor waits for their heads), so
// a normal client is served at once; without that, it would wait for the
// header timeout (a minute here). No timing is asserted: the watchdog turns a
// starved client into a named failure.
TEST_F(HttpThreadpool, NormalClientIsServedWhileSlowClientsHangMidHead) {
  constexpr int kThreads = 4;
  auto server = start({"--threads", std::to_string(kThreads), "--header-timeout", "60"});
  std::vector<HttpClient> slow;
  const std::string head = get("/a.txt");
  for (int i = 0; i < 3 * kThreads; ++i) {
    slow.push_back(HttpClient::connect(*server));
    ASSERT_TRUE(slow.back().send(head.substr(0, 1)));
  }
  for (std::size_t byte = 1; byte < 4; ++byte) {  // a few more drips each
    for (HttpClient& c : slow) ASSERT_TRUE(c.send(head.substr(byte, 1)));
  }
  HttpClient normal = HttpClient::connect(*server);
  ASSERT_TRUE(normal.send(get("/a.txt")));
  auto r = normal.read_response(false, 20s);
  ASSERT_TRUE(r) << "a normal client starved behind " << slow.size()
                 << " slow heads: " << normal.error();
  EXPECT_EQ(r->status, 200) << r->wire();

  for (std::size_t i = 0; i < slow.size(); ++i) {  // the slow ones are still served in the end
    ASSERT_TRUE(slow[i].send(head.substr(4)));
    auto s = slow[i].read_response(false, 20s);
    ASSERT_TRUE(s) << "slow client " << i << ": " << slow[i].error();
    EXPECT_EQ(s->status, 200) << s->wire();
  }
  EXPECT_EQ(server->stop(), 0);
}

// A head that never completes is answered 408 by the acceptor at the header
// timeout, like any stage; a connection that never speaks is closed quietly.
TEST_F(HttpThreadpool, UnfinishedHeadGets408AtTheHeaderTimeout) {
  auto server = start({"--threads", "2", "--header-timeout", "1"});
  HttpClient partial = HttpClient::connect(*server);
  ASSERT_TRUE(partial.send("GET /a.txt HTTP/1.1\r\nHo"));
  HttpClient silent = HttpClient::connect(*server);
  auto r = partial.read_response(false, 10s);
  ASSERT_TRUE(r) << partial.error();
  EXPECT_EQ(r->status, 408) << r->wire();
  EXPECT_TRUE(partial.closed_by_peer(5s));
  EXPECT_TRUE(silent.closed_by_peer(10s)) << "a silent connection outlived the header timeout";
  EXPECT_EQ(silent.extra_bytes(), "");
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

// Out of descriptors (EMFILE), a client waiting in the backlog keeps the listener
// readable: a loop that only logs and retries spins at full speed and floods the
// log, and the client hangs. The spare-descriptor trick accepts it and closes it
// at once instead; once descriptors are free again, clients are served.
TEST_F(HttpThreadpool, SurvivesRunningOutOfFileDescriptors) {
  auto server = start({"--log-level", "warn"});
  {  // Served while there is room (this also warms UBSan's type cache, which needs a pipe).
    HttpClient warm = HttpClient::connect(*server);
    ASSERT_TRUE(warm.send(get("/a.txt")));
    ASSERT_TRUE(warm.read_response(false, 10s)) << warm.error();
  }
  const OutOfFdsReport shed = connect_while_out_of_fds(*server, server->fd_count() + 2, 8,
                                                       get("/-/health"));  // room for two
  ASSERT_TRUE(shed.error.empty()) << shed.error;
  for (const std::string& problem : shed.problems) ADD_FAILURE() << problem;
  EXPECT_GE(shed.refused, 1) << "precondition: the server ran out of descriptors";
  EXPECT_GE(shed.served, 1) << "server stderr:\n" << server->stderr_text();

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
