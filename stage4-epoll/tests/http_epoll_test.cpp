// Black-box tests of http-epoll: the stage 4 behaviours the shared conformance
// suite does not own. Responses bigger than the socket buffers (the EPOLLOUT
// path), many interleaved connections, 1,000 concurrent connections, a pipeline
// 16 deep, a slowloris dropped on time while others are served, idle connections
// holding no session, --max-connections, running out of descriptors (EMFILE),
// graceful shutdown (with a response in flight, and under load).
// Most run level- and edge-triggered. Each starts the real binary on 127.0.0.1:0.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
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
using serverlab::testing::send_all;
using serverlab::testing::ServerProcess;
using serverlab::testing::TempDir;
using serverlab::testing::wait_for_eof;

std::string server_binary() {
  return serverlab::testing::server_binary("HTTP_EPOLL_BIN", HTTP_EPOLL_DEFAULT_BIN);
}

// A document root holding a.txt ("alpha\n"), removed with everything in it.
struct DocRoot : TempDir {
  DocRoot() : TempDir("http-epoll-test") { write("a.txt", "alpha\n"); }
};

// Bytes that differ from position to position, so a dropped or repeated chunk shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

std::string get(std::string_view path, bool close = false) {
  std::string req = "GET ";
  req += path;
  req += " HTTP/1.1\r\nHost: test\r\n";
  if (close) req += "Connection: close\r\n";
  return req + "\r\n";
}

// Nothing arrives on fd within `wait` (used to show a client is not served yet).
bool silent_for(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) == 0;
}

class HttpEpoll : public ::testing::TestWithParam<bool> {  // param: edge-triggered
 protected:
  std::vector<std::string> argv(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {server_binary(), "--port",      "0",   "--root",
                                  root_.path(),    "--log-level", "warn"};
    if (GetParam()) a.push_back("--edge-triggered");
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  DocRoot root_;
};

TEST_P(HttpEpoll, ServesAFileLargerThanTheSocketBuffersToASlowReader) {
  const std::string big = pattern(8 << 20);
  root_.write("big.bin", big);
  ServerProcess server(argv());
  HttpClient c = HttpClient::connect(server);
  ASSERT_TRUE(c.send(get("/big.bin")));
  std::this_thread::sleep_for(200ms);  // let the server fill the socket and wait for EPOLLOUT
  auto r = c.read_response(false, 10s);
  ASSERT_TRUE(r) << c.error() << " (bytes received: " << c.extra_bytes().size() << ")";
  EXPECT_TRUE(r->body == big) << "the 8 MiB body arrived changed";
  // The connection is still usable afterwards.
  ASSERT_TRUE(c.send(get("/a.txt")));
  auto again = c.read_response(false, 10s);
  ASSERT_TRUE(again) << c.error();
  EXPECT_EQ(again->body, "alpha\n");
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(HttpEpoll, ManyConnectionsWithPipelinedRequestsAreAllAnswered) {
  ServerProcess server(argv());
  std::vector<HttpClient> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(HttpClient::connect(server));
  for (HttpClient& c : clients) ASSERT_TRUE(c.send(get("/a.txt") + get("/-/health")));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    auto first = clients[i].read_response(false, 10s);
    auto second = clients[i].read_response(false, 10s);
    ASSERT_TRUE(first && second) << "client " << i << ": " << clients[i].error();
    EXPECT_EQ(first->body, "alpha\n") << "client " << i;
    EXPECT_EQ(second->body, "ok\n") << "client " << i;
  }
  EXPECT_EQ(server.stop(), 0);
}

// The value of one metric in a Prometheus text body, or nullopt when it is absent.
std::optional<double> metric(const std::string& body, const std::string& name) {
  const std::string key = "\n" + name + " ";
  std::size_t at = body.find(key);
  if (at == std::string::npos) return std::nullopt;
  return std::atof(body.c_str() + at + key.size());
}

TEST_P(HttpEpoll, IdleAndSilentConnectionsHoldNoSession) {
  ServerProcess server(argv());
  std::vector<HttpClient> idle;  // answered once, now idle between requests
  for (int i = 0; i < 10; ++i) {
    idle.push_back(HttpClient::connect(server));
    ASSERT_TRUE(idle.back().send(get("/a.txt")));
    ASSERT_TRUE(idle.back().read_response(false, 10s)) << idle.back().error();
  }
  std::vector<Fd> silent;  // accepted, never sent a byte
  for (int i = 0; i < 5; ++i) silent.push_back(server.connect());
  std::vector<HttpClient> partial;  // half a request head: these must keep their session
  for (int i = 0; i < 3; ++i) {
    partial.push_back(HttpClient::connect(server));
    ASSERT_TRUE(partial.back().send("GET /a.txt HTTP/1.1\r\nHo"));
  }
  std::this_thread::sleep_for(100ms);  // let the server accept and read them all

  HttpClient scraper = HttpClient::connect(server);
  ASSERT_TRUE(scraper.send(get("/-/metrics")));
  auto r = scraper.read_response(false, 10s);
  ASSERT_TRUE(r) << scraper.error();
  std::optional<double> open = metric(r->body, "serverlab_connections_open");
  std::optional<double> in_use = metric(r->body, "serverlab_epoll_sessions_in_use");
  ASSERT_TRUE(open && in_use) << r->body;
  EXPECT_EQ(*open, 19.0) << "10 idle + 5 silent + 3 partial + the scraper are open";
  // The 3 half-sent requests and the scraping connection are mid-request; the
  // other 15 hold nothing but their Connection record.
  EXPECT_EQ(*in_use, 4.0) << "sessions lent with 15 of 19 connections idle";

  // The idle ones still work, and their partial neighbours finish.
  ASSERT_TRUE(idle.front().send(get("/a.txt")));
  auto again = idle.front().read_response(false, 10s);
  ASSERT_TRUE(again) << idle.front().error();
  EXPECT_EQ(again->body, "alpha\n");
  ASSERT_TRUE(partial.front().send("st: t\r\n\r\n"));
  auto finished = partial.front().read_response(false, 10s);
  ASSERT_TRUE(finished) << partial.front().error();
  EXPECT_EQ(finished->body, "alpha\n");
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(HttpEpoll, KeepAliveTimeoutClosesAnIdleConnectionWithoutASession) {
  ServerProcess server(argv({"--keepalive-timeout", "0.3", "--header-timeout", "0.3"}));
  HttpClient idle = HttpClient::connect(server);
  ASSERT_TRUE(idle.send(get("/a.txt")));
  ASSERT_TRUE(idle.read_response(false, 10s)) << idle.error();
  Fd silent = server.connect();
  EXPECT_TRUE(wait_for_eof(idle.fd(), 5s)) << "an idle keep-alive connection outlived its timeout";
  EXPECT_TRUE(wait_for_eof(silent.get(), 5s)) << "a silent connection outlived the header timeout";
  EXPECT_EQ(server.stop(), 0);
}

// The timer is armed once and left alone while the deadline moves later; each time
// it fires early it must re-arm for the real deadline. Two requests, the second
// one after the first request's timer would have been due: the connection must
// outlive the first deadline and close about --keepalive-timeout after the SECOND
// request. (A header timeout shorter than the keep-alive one, as in the conformance
// suite, only ever moves the timer earlier and cannot show this.)
TEST_P(HttpEpoll, KeepAliveTimeoutCountsFromTheLastRequest) {
  ServerProcess server(argv({"--keepalive-timeout", "1.2", "--header-timeout", "1.2"}));
  HttpClient c = HttpClient::connect(server);
  ASSERT_TRUE(c.send(get("/a.txt")));
  ASSERT_TRUE(c.read_response(false, 10s)) << c.error();
  std::this_thread::sleep_for(600ms);
  ASSERT_TRUE(c.send(get("/a.txt")));
  ASSERT_TRUE(c.read_response(false, 10s)) << "second request: " << c.error();
  // The first request's deadline (and the header timer armed at connect) passes
  // within this window, about 0.6 s from now; the second one's, 1.2 s from now.
  EXPECT_TRUE(silent_for(c.fd(), 800ms))
      << "closed before --keepalive-timeout had passed since the second request";
  EXPECT_TRUE(wait_for_eof(c.fd(), 3s))
      << "the idle connection outlived --keepalive-timeout after its second request "
         "(the timer was not re-armed)";
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(HttpEpoll, MaxKeepAliveRequestsCountsAcrossIdlePeriods) {
  ServerProcess server(argv({"--max-keepalive-requests", "3"}));
  HttpClient c = HttpClient::connect(server);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(c.send(get("/a.txt")));
    auto r = c.read_response(false, 10s);
    ASSERT_TRUE(r) << "request " << i << ": " << c.error();
    // Idle between requests: the session goes back to the pool each time.
    std::this_thread::sleep_for(30ms);
    EXPECT_EQ(r->closes(), i == 3) << "request " << i << ": " << r->wire();
  }
  EXPECT_TRUE(wait_for_eof(c.fd(), 5s));
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(HttpEpoll, MaxConnectionsPausesAcceptingAndResumesWhenOneCloses) {
  ServerProcess server(argv({"--max-connections", "2"}));
  HttpClient a = HttpClient::connect(server);
  HttpClient b = HttpClient::connect(server);
  for (HttpClient* c : {&a, &b}) {
    ASSERT_TRUE(c->send(get("/-/health")));
    ASSERT_TRUE(c->read_response(false, 10s)) << c->error();
  }
  HttpClient waiting = HttpClient::connect(server);  // completes in the kernel's backlog
  ASSERT_TRUE(waiting.send(get("/a.txt")));
  EXPECT_TRUE(silent_for(waiting.fd(), 300ms)) << "a third client was served past the limit";
  a.close();
  auto r = waiting.read_response(false, 10s);
  ASSERT_TRUE(r) << "not served after a slot freed: " << waiting.error();
  EXPECT_EQ(r->body, "alpha\n");
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(HttpEpoll, GracefulShutdownFinishesTheResponseInFlight) {
  const std::string big = pattern(8 << 20);
  root_.write("big.bin", big);
  ServerProcess server(argv({"--shutdown-timeout", "10"}));
  HttpClient idle = HttpClient::connect(server);
  ASSERT_TRUE(idle.send(get("/-/health")));
  ASSERT_TRUE(idle.read_response(false, 10s)) << idle.error();
  HttpClient slow = HttpClient::connect(server);
  ASSERT_TRUE(slow.send(get("/big.bin")));
  std::this_thread::sleep_for(200ms);  // the response is now stuck in flight
  server.signal(SIGTERM);
  EXPECT_TRUE(wait_for_eof(idle.fd(), 5s)) << "the idle keep-alive connection was not closed";
  auto r = slow.read_response(false, 10s);
  ASSERT_TRUE(r) << slow.error() << " (bytes received: " << slow.extra_bytes().size() << ")";
  EXPECT_TRUE(r->body == big);
  EXPECT_TRUE(wait_for_eof(slow.fd(), 5s));
  EXPECT_EQ(server.wait(10s), std::optional<int>(0));
}

TEST_P(HttpEpoll, ShutdownTimeoutClosesAClientThatStopsReading) {
  root_.write("big.bin", pattern(32 << 20));
  ServerProcess server(argv({"--shutdown-timeout", "0.5"}));
  Fd stuck = server.connect();
  ASSERT_TRUE(send_all(stuck.get(), get("/big.bin")));
  std::this_thread::sleep_for(200ms);
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(5s), std::optional<int>(0)) << "a client that never reads held the server";
}

// Raises this process's soft descriptor limit to `want` (or the hard limit), so that
// it and the server it starts (which inherits the limit) can hold many connections.
// Returns the soft limit now in force.
rlim_t raise_fd_limit(rlim_t want) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < want) {
    lim.rlim_cur = std::min(want, lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

// 1,000 clients connected at once, each with a request in flight: one thread
// answers them all.
TEST_P(HttpEpoll, ThousandConcurrentConnectionsAreAllServed) {
  constexpr std::size_t kClients = 1000;
  if (raise_fd_limit(2 * kClients + 64) < 2 * kClients + 64) {
    GTEST_SKIP() << "needs " << 2 * kClients + 64 << " descriptors (ulimit -n)";
  }
  ServerProcess server(argv());
  std::vector<HttpClient> clients;
  clients.reserve(kClients);
  for (std::size_t i = 0; i < kClients; ++i) clients.push_back(HttpClient::connect(server));
  for (HttpClient& c : clients) ASSERT_TRUE(c.send(get("/a.txt")));
  for (std::size_t i = 0; i < kClients; ++i) {
    auto r = clients[i].read_response(false, 10s);
    ASSERT_TRUE(r) << "client " << i << ": " << clients[i].error();
    ASSERT_EQ(r->status, 200) << "client " << i << ": " << r->wire();
    ASSERT_EQ(r->body, "alpha\n") << "client " << i;
  }
  EXPECT_EQ(server.stop(), 0);
}

// Sixteen requests for sixteen different files in one write, on four connections
// at once: the answers come back complete and in request order.
TEST_P(HttpEpoll, SixteenPipelinedRequestsAreAnsweredInOrder) {
  constexpr int kDepth = 16;
  for (int i = 0; i < kDepth; ++i) {
    root_.write("f" + std::to_string(i) + ".txt", "file " + std::to_string(i) + "\n");
  }
  ServerProcess server(argv());
  std::vector<HttpClient> clients;
  for (int c = 0; c < 4; ++c) {
    clients.push_back(HttpClient::connect(server));
    std::string burst;
    for (int i = 0; i < kDepth; ++i) burst += get("/f" + std::to_string(i) + ".txt");
    ASSERT_TRUE(clients.back().send(burst));
  }
  for (std::size_t c = 0; c < clients.size(); ++c) {
    for (int i = 0; i < kDepth; ++i) {
      auto r = clients[c].read_response();
      ASSERT_TRUE(r) << "connection " << c << " response " << i << ": " << clients[c].error();
      EXPECT_EQ(r->status, 200) << r->wire();
      EXPECT_EQ(r->body, "file " + std::to_string(i) + "\n") << "connection " << c;
    }
  }
  EXPECT_EQ(server.stop(), 0);
}

// A slowloris client drips one byte of its head every 100 ms. Meanwhile other
// clients are answered at once, and the slow one gets its 408 once the 1 s header
// timeout has run out (well before the 4 s this test allows).
TEST_P(HttpEpoll, SlowlorisIsDroppedOnTimeWhileOthersAreServed) {
  ServerProcess server(argv({"--header-timeout", "1"}));
  HttpClient slow = HttpClient::connect(server);
  ASSERT_TRUE(slow.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Slow: "));
  const auto start = std::chrono::steady_clock::now();
  int served = 0;
  bool dropped = false;
  for (int i = 0; i < 40 && !dropped; ++i) {  // at most 40 x 100 ms
    if (!slow.send("a")) break;               // already closed by the server
    HttpClient other = HttpClient::connect(server);
    ASSERT_TRUE(other.send(get("/a.txt", true)));
    auto r = other.read_response(false, 1s);
    ASSERT_TRUE(r) << "a client was not served while a slowloris dripped: " << other.error();
    EXPECT_EQ(r->status, 200) << r->wire();
    ++served;
    pollfd p{slow.fd(), POLLIN, 0};
    dropped = ::poll(&p, 1, 100) > 0;
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  auto r = slow.read_response(false, 2s);
  ASSERT_TRUE(r) << "the slowloris was not answered: " << slow.error();
  EXPECT_EQ(r->status, 408) << r->wire();
  slow.shutdown_write();  // ends the server's lingering close on it at once
  EXPECT_TRUE(slow.closed_by_peer(3s));
  EXPECT_GE(waited, 900ms) << "dropped before its header timeout";
  EXPECT_LT(waited, 4s) << "not dropped on time";
  EXPECT_GE(served, 5) << "others were not served meanwhile";
  EXPECT_EQ(server.stop(), 0);
}

// Eight keep-alive clients send requests back to back; SIGTERM arrives in the
// middle. The server exits 0 and no client gets half a response. (A request sent
// just as the server closes an idle connection gets no response at all, and maybe
// a reset: the keep-alive race every HTTP/1.1 server has, which clients handle by
// retrying. Those are counted, not failed.)
TEST_P(HttpEpoll, ShutdownUnderLoadExitsZeroAndCutsNoResponse) {
  const std::string mid = pattern(4 << 20);  // more than the socket buffers: in flight a while
  root_.write("mid.bin", mid);
  ServerProcess server(argv({"--shutdown-timeout", "5"}));
  std::atomic<bool> go_on{true};
  std::atomic<int> answered{0};
  std::atomic<int> cut{0};
  std::atomic<int> unanswered{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 8; ++t) {
    load.emplace_back([&] {
      HttpClient c = HttpClient::connect(server);
      const auto until = std::chrono::steady_clock::now() + 10s;
      while (go_on && std::chrono::steady_clock::now() < until) {
        if (!c.send(get("/mid.bin"))) return;  // closed by the server between requests
        auto r = c.read_response(false, 5s);
        if (!r) {
          if (!c.extra_bytes().empty())
            ++cut;  // part of a response, then the end
          else
            ++unanswered;
          return;
        }
        if (r->status != 200 || r->body != mid) ++cut;
        ++answered;
        if (r->closes()) return;
      }
    });
  }
  for (int i = 0; i < 2000 && answered < 16; ++i) std::this_thread::sleep_for(5ms);  // <= 10 s
  EXPECT_GE(answered.load(), 16) << "the load never got going";
  server.signal(SIGTERM);
  const auto status = server.wait(10s);
  go_on = false;
  for (auto& t : load) t.join();
  EXPECT_EQ(status, std::optional<int>(0));
  EXPECT_EQ(cut.load(), 0) << "responses cut off during shutdown";
  EXPECT_LE(unanswered.load(), 8);
}

INSTANTIATE_TEST_SUITE_P(Triggering, HttpEpoll, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "EdgeTriggered" : "LevelTriggered";
                         });

TEST(HttpEpollLimits, SurvivesRunningOutOfFileDescriptors) {
  DocRoot root;
  ServerProcess server(
      {server_binary(), "--port", "0", "--root", root.path(), "--log-level", "error"});
  {  // Served while there is room. (This also warms UBSan's type cache: its slow
     // path needs a pipe, so it cannot run in a process that is out of descriptors.)
    HttpClient warm = HttpClient::connect(server);
    ASSERT_TRUE(warm.send(get("/a.txt", true)));
    ASSERT_TRUE(warm.read_response(false, 10s)) << warm.error();
  }
  // Room for two connections only; every client is answered or closed, none left hanging.
  const OutOfFdsReport shed =
      connect_while_out_of_fds(server, server.fd_count() + 2, 8, get("/-/health", true));
  ASSERT_TRUE(shed.error.empty()) << shed.error;
  for (const std::string& problem : shed.problems) ADD_FAILURE() << problem;
  EXPECT_GE(shed.served, 1) << "server stderr:\n" << server.stderr_text();
  EXPECT_GE(shed.refused, 1) << "precondition: the server ran out of descriptors";

  HttpClient after = HttpClient::connect(server);
  ASSERT_TRUE(after.send(get("/a.txt")));
  auto r = after.read_response(false, 10s);
  ASSERT_TRUE(r) << "not serving after descriptors were available again: " << after.error()
                 << "\nserver stderr:\n"
                 << server.stderr_text();
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
