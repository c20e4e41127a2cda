// proxy_test.cpp: http-proxy in front of our own servers (stage 4 http-epoll,
// stage 2 http-seq) and of backends that misbehave in one way each.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <thread>

#include "proxy_fixture.hpp"
#include "serverlab/socket.hpp"
#include "temp_dir.hpp"

namespace serverlab::proxytest {
namespace {

constexpr std::string_view kHello = "hello through the proxy\n";

// Waits until the peer closes or `self` is stopping (a behaviour must end).
void wait_for_close(int fd, FakeBackend& self) {
  char buf[4096];
  while (!self.stopping()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
  }
}

// Answers one request with `response`, then waits for the proxy to close.
FakeBackend::Behaviour answer_once(std::string response) {
  return [response](int fd, FakeBackend& self) {
    if (FakeBackend::read_head(fd).empty()) return;
    FakeBackend::send_all(fd, response);
    wait_for_close(fd, self);
  };
}

// Echoes each request head back as the body of a 200 (keep-alive).
void echo_heads(int fd, FakeBackend&) {
  for (;;) {
    std::string head = FakeBackend::read_head(fd);
    if (head.empty()) return;
    std::string r = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(head.size()) +
                    "\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=99\r\n"
                    "X-End: to-end\r\n\r\n" + head;
    if (!FakeBackend::send_all(fd, r)) return;
  }
}

class ProxyBasics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new testing::TempDir("proxy-test");
    root_->write("hello.txt", kHello);
  }
  static void TearDownTestSuite() { delete root_; }
  static testing::TempDir* root_;
};
testing::TempDir* ProxyBasics::root_ = nullptr;

TEST_F(ProxyBasics, ServesFromStage4AndStage2InTurn) {
  auto epoll = start_server(epoll_bin(), root_->path());
  auto seq = start_server(seq_bin(), root_->path());
  auto proxy = start_proxy({epoll->address(), seq->address()});
  for (int i = 0; i < 4; ++i) {
    auto r = fetch(*proxy, get_request("/hello.txt"));
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, kHello);
    EXPECT_EQ(r->header("Via"), "1.1 serverlab-proxy");
  }
  std::string m = metrics_text(*proxy);
  const char* family = "serverlab_proxy_upstream_requests_total";
  EXPECT_EQ(metric(m, upstream_sample(family, epoll->address())), 2) << m;
  EXPECT_EQ(metric(m, upstream_sample(family, seq->address())), 2) << m;
  EXPECT_EQ(proxy->stop(), 0) << proxy->stderr_text();
}

TEST_F(ProxyBasics, KeepAliveReusesOnePooledBackendConnection) {
  FakeBackend echo(echo_heads);
  auto proxy = start_proxy({echo.address()});
  HttpClient c = HttpClient::connect(*proxy);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send(get_request("/n")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(echo.connections(), 1) << "every request should reuse the pooled connection";
}

TEST_F(ProxyBasics, HopByHopFieldsStayOnTheirHopAndForwardingFieldsAreAdded) {
  FakeBackend echo(echo_heads);
  auto proxy = start_proxy({echo.address()});
  auto r = fetch(*proxy, get_request("/h",
                                     "Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"
                                     "Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\n"
                                     "Proxy-Authorization: Basic eA==\r\nTrailer: X-T\r\n"
                                     "X-Forwarded-For: 192.0.2.9\r\nVia: 1.1 edge\r\nX-Kept: yes\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const std::string& seen = r->body;  // the head the backend received
  for (const char* gone : {"X-Secret", "Keep-Alive", "TE:", "Upgrade", "Proxy-Authorization",
                           "Trailer", "Connection"}) {
    EXPECT_EQ(seen.find(gone), std::string::npos) << gone << " reached the backend:\n" << seen;
  }
  EXPECT_NE(seen.find("\r\nX-Kept: yes\r\n"), std::string::npos) << seen;
  EXPECT_NE(seen.find("\r\nHost: proxy.test\r\n"), std::string::npos) << seen;
  EXPECT_NE(seen.find("\r\nX-Forwarded-For: 192.0.2.9, 127.0.0.1\r\n"), std::string::npos) << seen;
  EXPECT_NE(seen.find("\r\nX-Forwarded-Proto: http\r\n"), std::string::npos) << seen;
  EXPECT_NE(seen.find("\r\nForwarded: for=127.0.0.1;proto=http;host=\"proxy.test\"\r\n"),
            std::string::npos) << seen;
  EXPECT_NE(seen.find("\r\nVia: 1.1 edge, 1.1 serverlab-proxy\r\n"), std::string::npos) << seen;
  // And on the way back: the backend's hop-by-hop fields are dropped too.
  EXPECT_FALSE(r->has("X-Hop")) << r->wire();
  EXPECT_FALSE(r->has("Keep-Alive")) << r->wire();
  EXPECT_EQ(r->header("X-End"), "to-end");
}

// The backend reads a chunked body to its end and answers with what it got.
void echo_chunked_body(int fd, FakeBackend&) {
  std::string head = FakeBackend::read_head(fd);
  std::string body;
  char buf[4096];
  while (body.find("0\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    body.append(buf, static_cast<std::size_t>(n));
  }
  std::string all = head + body;
  FakeBackend::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(all.size()) +
                                "\r\n\r\n" + all);
}

TEST_F(ProxyBasics, ChunkedRequestBodyIsForwardedWithOneFramingField) {
  FakeBackend backend(echo_chunked_body);
  auto proxy = start_proxy({backend.address()});
  HttpClient c = HttpClient::connect(*proxy);
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n"));
  std::this_thread::sleep_for(50ms);  // the rest arrives later: the proxy streams
  ASSERT_TRUE(c.send("6\r\n world\r\n0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("Content-Length"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), std::string::npos)
      << r->body;
}

TEST_F(ProxyBasics, AmbiguousFramingIsRefusedAndNeverReachesABackend) {
  FakeBackend backend(echo_heads);
  auto proxy = start_proxy({backend.address()});
  HttpClient c = HttpClient::connect(*proxy);
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(c.closed_by_peer(2s)) << "the connection must close after a framing error";
  EXPECT_EQ(backend.connections(), 0);
}

TEST_F(ProxyBasics, NoHealthyBackendGives503AfterTheFailuresThatTookItOut) {
  std::uint16_t dead_port = 0;
  {
    Fd s = listen_tcp("127.0.0.1", 0);  // a port nobody listens on once this closes
    dead_port = local_address(s.get()).port();
  }
  auto proxy = start_proxy({"127.0.0.1:" + std::to_string(dead_port)},
                           {"--fail-threshold", "2", "--fail-cooldown", "30"});
  EXPECT_EQ(fetch(*proxy, get_request("/"))->status, 502);
  EXPECT_EQ(fetch(*proxy, get_request("/"))->status, 502);
  EXPECT_EQ(fetch(*proxy, get_request("/"))->status, 503);
  std::string m = metrics_text(*proxy);
  EXPECT_EQ(metric(m, upstream_sample("serverlab_proxy_upstream_healthy",
                                      "127.0.0.1:" + std::to_string(dead_port))), 0) << m;
}

TEST_F(ProxyBasics, IdempotentRequestIsRetriedOnAnotherBackend) {
  FakeBackend refuses([](int, FakeBackend&) {});  // accepts, then closes at once
  auto good = start_server(epoll_bin(), root_->path());
  auto proxy = start_proxy({refuses.address(), good->address()}, {"--retries", "1"});
  for (int i = 0; i < 4; ++i) {
    auto r = fetch(*proxy, get_request("/hello.txt"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "request " << i;
  }
  // A POST is not retried: its answer is the failure.
  auto post = fetch(*proxy, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  (void)post;  // 502 if it went to the bad backend, 405 from the good one
  std::string m = metrics_text(*proxy);
  EXPECT_GE(metric(m, upstream_sample("serverlab_proxy_upstream_retries_total", refuses.address())),
            1) << m;
}

// ---------------------------------------------------------------- misbehaving backends

struct Misbehaviour {
  const char* name;
  FakeBackend::Behaviour behaviour;
  std::vector<std::string> flags;
  int status;  // what the client gets; 0: a head, then the connection ends early
};

class Misbehaving : public ::testing::TestWithParam<Misbehaviour> {};

TEST_P(Misbehaving, ClientGetsTheRightAnswerAndTheProxyKeepsServing) {
  const Misbehaviour& m = GetParam();
  FakeBackend backend(m.behaviour);
  std::vector<std::string> flags = m.flags;
  flags.insert(flags.end(), {"--fail-threshold", "100"});
  auto proxy = start_proxy({backend.address()}, flags);
  HttpClient c = HttpClient::connect(*proxy);
  ASSERT_TRUE(c.send(get_request("/bad")));
  if (m.status != 0) {
    auto r = c.read_response(false, 8s);
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, m.status) << r->wire();
  } else {
    auto head = c.read_head(8s);
    ASSERT_TRUE(head) << c.error();
    EXPECT_EQ(head->status, 200);
    EXPECT_TRUE(c.closed_by_peer(8s)) << "a cut response must end the client connection";
    EXPECT_LT(c.extra_bytes().size(), 100000u);
  }
  // Still serving: the metrics page answers and counted the failure.
  std::string text = metrics_text(*proxy);
  EXPECT_GT(metric(text, "serverlab_requests_total{method=\"GET\",status=\"200\"}") +
                metric(text, "serverlab_connections_total"), 0) << text;
  EXPECT_EQ(proxy->stop(), 0) << proxy->stderr_text();
}

FakeBackend::Behaviour never_answers() {
  return [](int fd, FakeBackend& self) {
    FakeBackend::read_head(fd);
    wait_for_close(fd, self);
  };
}

FakeBackend::Behaviour resets_mid_response() {
  return [](int fd, FakeBackend&) {
    if (FakeBackend::read_head(fd).empty()) return;
    FakeBackend::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" +
                                  std::string(1000, 'x'));
    std::this_thread::sleep_for(100ms);
    Fd owned(::dup(fd));
    testing::reset_connection(owned);  // RST
  };
}

FakeBackend::Behaviour slow(std::chrono::milliseconds delay) {
  return [delay](int fd, FakeBackend& self) {
    if (FakeBackend::read_head(fd).empty()) return;
    std::this_thread::sleep_for(delay);
    FakeBackend::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
    wait_for_close(fd, self);
  };
}

INSTANTIATE_TEST_SUITE_P(
    Backends, Misbehaving,
    ::testing::Values(
        Misbehaviour{"GarbageStatusLine", answer_once("HTTP/1.1 OK 200\r\n\r\n"), {}, 502},
        Misbehaviour{"NotHttpAtAll", answer_once("SSH-2.0-OpenSSH\r\n\r\n"), {}, 502},
        Misbehaviour{"HugeHeaders",
                     answer_once("HTTP/1.1 200 OK\r\nX-Big: " + std::string(64 * 1024, 'a') +
                                 "\r\nContent-Length: 0\r\n\r\n"),
                     {}, 502},
        Misbehaviour{"NeverAnswers", never_answers(), {"--read-timeout", "0.5"}, 504},
        Misbehaviour{"SlowButWithinTheTimeout", slow(300ms), {"--read-timeout", "3"}, 200},
        Misbehaviour{"ResetsMidResponse", resets_mid_response(), {}, 0},
        Misbehaviour{"ShortOfItsContentLength",
                     [](int fd, FakeBackend&) {  // then closes: the body ends 99,991 bytes early
                       if (FakeBackend::read_head(fd).empty()) return;
                       FakeBackend::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nonly this");
                     },
                     {}, 0},
        Misbehaviour{"ClosesBeforeAnswering", [](int fd, FakeBackend&) { FakeBackend::read_head(fd); },
                     {"--retries", "0"}, 502}),
    [](const ::testing::TestParamInfo<Misbehaviour>& param_info) { return param_info.param.name; });

TEST(ProxyShutdown, SigtermFinishesTheExchangeInFlight) {
  FakeBackend backend(slow(500ms));
  auto proxy = start_proxy({backend.address()});
  HttpClient c = HttpClient::connect(*proxy);
  ASSERT_TRUE(c.send(get_request("/slow")));
  std::this_thread::sleep_for(100ms);  // the request is at the backend now
  proxy->signal(SIGTERM);
  auto r = c.read_response(false, 5s);
  ASSERT_TRUE(r) << "the in-flight request was dropped: " << c.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow");
  EXPECT_TRUE(r->closes()) << "a draining proxy says Connection: close";
  EXPECT_EQ(proxy->wait(5s), 0) << proxy->stderr_text();
}

TEST(ProxyFlags, BadFlagsExitTwo) {
  EXPECT_EQ(testing::run_to_exit({proxy_bin(), "--port", "0"}), 2) << "no --upstream";
  EXPECT_EQ(testing::run_to_exit({proxy_bin(), "--upstream", "nohost"}), 2);
  EXPECT_EQ(testing::run_to_exit({proxy_bin(), "--upstream", "127.0.0.1:1,weight=0"}), 2);
  EXPECT_EQ(testing::run_to_exit({proxy_bin(), "--upstream", "127.0.0.1:1", "--balance", "x"}), 2);
}

// ---------------------------------------------------------------- [[upstream]] / [[route]]

// Which backend answered (echo_heads' body is the head it got) and the Host it saw.
struct Seen {
  int status = 0;
  std::string head;
};
Seen through(const ServerProcess& proxy, std::string_view host, std::string_view path) {
  auto r = fetch(proxy, "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
  if (!r) return {};
  return {r->status, r->body};
}

TEST(ProxyRoutes, HostAndLongestPrefixChooseTheGroup) {
  std::atomic<int> api_hits{0};
  std::atomic<int> web_hits{0};
  auto counting = [](std::atomic<int>& hits) {
    return [&hits](int fd, FakeBackend& self) {
      ++hits;
      echo_heads(fd, self);
    };
  };
  FakeBackend api1(counting(api_hits));
  FakeBackend api2(counting(api_hits));
  FakeBackend web(counting(web_hits));
  testing::TempDir dir("proxy-routes");
  const std::string config = dir.write("proxy.toml",
      "[[upstream]]\nname = \"api\"\nservers = [\"" + api1.address() + "\", \"" + api2.address() +
      "\"]\n\n[[upstream]]\nname = \"web\"\nserver = \"" + web.address() + "\"\n\n"
      "[[route]]\nhost = \"api.test\"\npath = \"/v1/\"\nupstream = \"api\"\n"
      "host_header = \"rewrite:internal.api\"\n\n"
      "[[route]]\npath = \"/site/\"\nupstream = \"web\"\n");
  auto proxy = start_proxy({}, {"--config", config, "--pool-size", "0"});

  // The Host's route, rewritten Host.
  Seen a = through(*proxy, "API.test:8080", "/v1/users");
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.head.find("\r\nHost: internal.api\r\n"), std::string::npos) << a.head;
  // The client's own Host still travels, in Forwarded.
  EXPECT_NE(a.head.find(";host=\"API.test:8080\""), std::string::npos) << a.head;
  // Same Host, a path outside /v1/: the any-host route, Host kept.
  Seen b = through(*proxy, "api.test", "/site/index.html");
  EXPECT_EQ(b.status, 200);
  EXPECT_NE(b.head.find("\r\nHost: api.test\r\n"), std::string::npos) << b.head;
  // No route: 404 from the proxy, no backend asked.
  Seen c = through(*proxy, "api.test", "/elsewhere");
  EXPECT_EQ(c.status, 404);
  EXPECT_EQ(through(*proxy, "api.test", "/v1/again").status, 200);
  EXPECT_EQ(api_hits.load(), 2) << "both /v1/ requests, and only those, reach the api group";
  EXPECT_EQ(web_hits.load(), 1);
  EXPECT_EQ(proxy->stop(), 0) << proxy->stderr_text();
}

TEST(ProxyRoutes, UpstreamFlagsReplaceTheFileTables) {
  FakeBackend from_file(echo_heads);
  FakeBackend from_flag(echo_heads);
  testing::TempDir dir("proxy-routes");
  const std::string config = dir.write("proxy.toml",
      "[[upstream]]\nname = \"a\"\nserver = \"" + from_file.address() + "\"\n"
      "[[route]]\npath = \"/only/\"\nupstream = \"a\"\n");
  auto proxy = start_proxy({from_flag.address()}, {"--config", config});
  EXPECT_EQ(through(*proxy, "x", "/anything").status, 200) << "--upstream routes everything";
  EXPECT_EQ(from_flag.connections(), 1);
  EXPECT_EQ(from_file.connections(), 0);
  EXPECT_EQ(proxy->stop(), 0);
  EXPECT_NE(proxy->stderr_text().find("--upstream replaces the [[upstream]] and [[route]] tables"),
            std::string::npos) << proxy->stderr_text();
}

TEST(ProxyRoutes, ConfigErrorsExitTwoWithFileLineColumn) {
  testing::TempDir dir("proxy-routes");
  const std::string config = dir.write("bad.toml",
      "[[upstream]]\nname = \"api\"\nserver = \"127.0.0.1:1\"\n\n[[route]]\nupstream = \"apl\"\n");
  testing::ProgramResult r = testing::run_program({proxy_bin(), "--check-config", "--config", config}, "");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(config + ":6:12: [[route]] upstream: no [[upstream]] is named 'apl'"),
            std::string::npos) << r.err;
  // Starting (not only --check-config) refuses it the same way.
  EXPECT_EQ(testing::run_to_exit({proxy_bin(), "--port", "0", "--config", config}), 2);
}

// Answers every request on a connection with 200 "ok", counting them in `hits`.
FakeBackend::Behaviour count_requests(std::atomic<int>& hits) {
  return [&hits](int fd, FakeBackend&) {
    while (!FakeBackend::read_head(fd).empty()) {
      ++hits;
      if (!FakeBackend::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) return;
    }
  };
}

// Waits (at most 10 s) until `done` is true.
bool wait_until(const std::function<bool()>& done) {
  for (int i = 0; i < 1000 && !done(); ++i) std::this_thread::sleep_for(10ms);
  return done();
}

TEST(ProxyReload, SighupSwapsBackendsWithoutFailingARequest) {
  std::atomic<int> old_hits{0};
  std::atomic<int> new_hits{0};
  FakeBackend old_backend(count_requests(old_hits));
  FakeBackend new_backend(count_requests(new_hits));
  testing::TempDir dir("proxy-reload");
  auto file_for = [](const FakeBackend& b) {
    return "[[upstream]]\nname = \"app\"\nservers = [\"" + b.address() +
           "\"]\n\n[[route]]\npath = \"/\"\nupstream = \"app\"\n";
  };
  const std::string config = dir.write("proxy.toml", file_for(old_backend));
  auto proxy = start_proxy({}, {"--config", config, "--log-level", "info"});

  // Bounded load: one client, keep-alive, at most 20000 requests or 30 s.
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::thread load([&] {
    std::optional<HttpClient> c;
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!stop && done < 20000 && std::chrono::steady_clock::now() < until) {
      if (!c) c.emplace(HttpClient::connect(*proxy));
      std::optional<HttpResponse> r;
      if (c->send(get_request("/x"))) r = c->read_response(false, 5s);
      if (!r || r->status != 200 || r->body != "ok") ++failed;
      if (!r || r->closes()) c.reset();
      ++done;
    }
  });
  EXPECT_TRUE(wait_until([&] { return old_hits > 50; })) << "no traffic reaches the first backend";

  dir.write("proxy.toml", file_for(new_backend));
  proxy->signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] { return new_hits > 50; })) << "the new backend gets no traffic";
  const int old_after_reload = old_hits;

  // An invalid file: the running routing stays (the new backend keeps the traffic).
  dir.write("proxy.toml", file_for(old_backend) + "weight = \"x\"\n");
  proxy->signal(SIGHUP);
  const int new_before = new_hits;
  EXPECT_TRUE(wait_until([&] { return new_hits > new_before + 100; }));
  stop = true;
  load.join();

  EXPECT_EQ(failed.load(), 0) << "of " << done.load() << " requests";
  EXPECT_EQ(old_hits.load(), old_after_reload) << "the old backend still gets requests";
  EXPECT_EQ(proxy->stop(), 0);
  const std::string log = proxy->stderr_text();
  EXPECT_NE(log.find("SIGHUP: configuration reloaded"), std::string::npos) << log;
  EXPECT_NE(log.find("SIGHUP: configuration not reloaded, the running one keeps serving: " + config),
            std::string::npos) << log;
}

TEST(ProxyReload, AChangeItCannotApplyIsRefusedWhole) {
  FakeBackend old_backend(answer_once("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold"));
  FakeBackend new_backend(answer_once("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"));
  testing::TempDir dir("proxy-reload");
  auto file_for = [](const FakeBackend& b, const std::string& proxy_section) {
    return proxy_section + "[[upstream]]\nname = \"app\"\nserver = \"" + b.address() + "\"\n";
  };
  const std::string config = dir.write("proxy.toml", file_for(old_backend, ""));
  auto proxy = start_proxy({}, {"--config", config});
  // A new backend and a new read timeout: the timeout is read once at start, so the
  // whole reload is refused and the old backend keeps the traffic.
  dir.write("proxy.toml", file_for(new_backend, "[proxy]\nread-timeout = 7\n\n"));
  proxy->signal(SIGHUP);
  const std::string refused = "--read-timeout 30 -> 7 cannot change while the server runs";
  ASSERT_TRUE(wait_until([&] { return proxy->stderr_text().find(refused) != std::string::npos; }))
      << proxy->stderr_text();
  HttpClient c = HttpClient::connect(*proxy);
  ASSERT_TRUE(c.send(get_request("/x")));
  auto r = c.read_response(false, 5s);
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->body, "old") << "a refused reload changed the backends (half-applied)";
  EXPECT_EQ(proxy->stop(), 0) << proxy->stderr_text();
}

TEST(ProxyReload, AnExchangeUnderWayFinishesOnItsBackend) {
  // The old backend answers after 500 ms: the reload lands while the request is there.
  FakeBackend old_backend([](int fd, FakeBackend& self) {
    if (FakeBackend::read_head(fd).empty()) return;
    std::this_thread::sleep_for(500ms);
    FakeBackend::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold");
    wait_for_close(fd, self);
  });
  FakeBackend new_backend(answer_once("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"));
  testing::TempDir dir("proxy-reload");
  auto file_for = [](const FakeBackend& b) {
    return "[[upstream]]\nname = \"app\"\nserver = \"" + b.address() + "\"\n";
  };
  const std::string config = dir.write("proxy.toml", file_for(old_backend));
  auto proxy = start_proxy({}, {"--config", config});
  HttpClient c = HttpClient::connect(*proxy);
  ASSERT_TRUE(c.send(get_request("/slow")));
  // Once the old backend has its connection, the request was given to it.
  ASSERT_TRUE(wait_until([&] { return old_backend.connections() >= 1; }));
  dir.write("proxy.toml", file_for(new_backend));
  proxy->signal(SIGHUP);
  auto r = c.read_response(false, 5s);
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->body, "old") << "the exchange under way stays on its backend";
  ASSERT_TRUE(c.send(get_request("/next")));
  r = c.read_response(false, 5s);
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->body, "new") << "the next request on the same connection uses the new routing";
  EXPECT_EQ(proxy->stop(), 0) << proxy->stderr_text();
}

TEST(ProxyRoutes, TheSampleConfigurationPasses) {
  testing::ProgramResult r = testing::run_program(
      {proxy_bin(), "--check-config", "--config", SERVERLAB_SOURCE_DIR "/examples/proxy.toml"}, "");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE((r.out + r.err).find("configuration OK"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace serverlab::proxytest
