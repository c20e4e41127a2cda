// Connection behaviour: persistent connections, pipelining, bodies discarded
// between requests, Expect: 100-continue, HTTP/1.0, requests that arrive in
// fragments, --max-keepalive-requests, and the header / keep-alive timeouts.
//
// A server may answer `Connection: close` to everything (stage 2 without
// --keep-alive): tests that need a persistent connection find that out from
// the first response and skip with a message saying so.

#include <csignal>
#include <thread>

#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

constexpr const char* kNoKeepAlive =
    "the server answers Connection: close (persistent connections are off in this "
    "configuration; run with --keep-alive to exercise this)";

class Connections : public HttpTest {
 protected:
  explicit Connections(Variant v = Variant::kDefault) : HttpTest(v) {}

  // Whether the server keeps HTTP/1.1 connections open (probed on its own connection).
  bool keeps_alive() {
    HttpResponse r = get("/hello.txt");
    return r.status == 200 && !r.closes();
  }
};

TEST_F(Connections, TwoRequestsShareOneConnection) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("GET", "/hello.txt")));
  auto a = c.read_response();
  ASSERT_TRUE(a) << c.error();
  EXPECT_EQ(a->status, 200) << a->wire();
  if (a->closes()) GTEST_SKIP() << kNoKeepAlive;
  ASSERT_TRUE(c.send(request("GET", "/sub/page.txt")));
  auto b = c.read_response();
  ASSERT_TRUE(b) << "second request on a kept-alive connection: " << c.error();
  EXPECT_EQ(b->status, 200) << b->wire();
  EXPECT_EQ(b->body, kSubPage);
}

TEST_F(Connections, KeptAliveResponseSaysKeepAliveOrNothingAboutClosing) {
  HttpResponse r = get("/hello.txt");
  if (r.closes()) GTEST_SKIP() << kNoKeepAlive;
  auto conn = r.header("Connection").value_or("");
  EXPECT_TRUE(iequals(conn, "keep-alive")) << "Connection: " << conn;
}

TEST_F(Connections, A404DoesNotEndAKeptAliveConnection) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("GET", "/no-such-file")));
  auto a = c.read_response();
  ASSERT_TRUE(a) << c.error();
  EXPECT_EQ(a->status, 404) << a->wire();
  if (a->closes()) {
    if (!keeps_alive()) GTEST_SKIP() << kNoKeepAlive;
    FAIL() << "a 404 closed a persistent connection\n" << a->wire();
  }
  ASSERT_TRUE(c.send(request("GET", "/hello.txt")));
  auto b = c.read_response();
  ASSERT_TRUE(b) << c.error();
  EXPECT_EQ(b->status, 200) << b->wire();
}

TEST_F(Connections, BodyOfARefusedMethodIsNotParsedAsTheNextRequest) {
  // 405 with a body: the server either skips the body and goes on, or closes.
  std::string body = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  HttpClient c = connect();
  ASSERT_TRUE(c.send(
      request("POST", "/hello.txt", "Content-Length: " + std::to_string(body.size()) + "\r\n") +
      body + request("GET", "/sub/page.txt")));
  auto a = c.read_response();
  ASSERT_TRUE(a) << c.error();
  EXPECT_EQ(a->status, 405) << a->wire();
  if (a->closes()) {
    EXPECT_TRUE(closes_after(c));
    return;
  }
  auto b = c.read_response();
  ASSERT_TRUE(b) << c.error();
  EXPECT_EQ(b->status, 200) << "the POST body was answered as a request\n" << b->wire();
  EXPECT_EQ(b->body, kSubPage);
}

TEST_F(Connections, StopsCleanlyOnSigtermWithAnIdleConnectionOpen) {
  auto own = start_private_server(Variant::kDefault);
  HttpClient c = HttpClient::connect(*own);
  ASSERT_TRUE(c.send(request("GET", "/hello.txt")));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
  // The connection now idles (kept alive, or closing): SIGTERM must still end
  // the server promptly and cleanly.
  EXPECT_EQ(own->stop(SIGTERM, 5s), 0) << own->stderr_text();
  EXPECT_TRUE(c.closed_by_peer(2s));
}

TEST_F(Connections, ConnectionCloseFromTheClientIsHonoured) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("GET", "/hello.txt", "Connection: close\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->closes()) << r->wire();
  EXPECT_TRUE(closes_after(c));
}

struct Expected {
  int status;
  std::string_view body;  // compared when not empty
  bool head;
};

TEST_F(Connections, TenPipelinedRequestsAreAnsweredInOrder) {
  std::vector<std::pair<std::string, Expected>> plan;
  for (int round = 0; round < 2; ++round) {
    plan.push_back({request("GET", "/hello.txt"), {200, kHello, false}});
    plan.push_back({request("GET", "/sub/page.txt"), {200, kSubPage, false}});
    plan.push_back({request("GET", "/missing-" + std::to_string(round)), {404, "", false}});
    plan.push_back({request("HEAD", "/sub/page.txt"), {200, "", true}});
    plan.push_back(
        {request("GET", "/hello.txt", "Range: bytes=0-4\r\n"), {206, kHello.substr(0, 5), false}});
  }
  plan.back().first = request("GET", "/hello.txt", "Range: bytes=0-4\r\nConnection: close\r\n");
  std::string all;
  for (const auto& [raw, _] : plan) all += raw;

  HttpClient c = connect();
  ASSERT_TRUE(c.send(all));  // ten requests, one write
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const Expected& want = plan[i].second;
    auto r = c.read_response(want.head);
    ASSERT_TRUE(r) << "response " << i << ": " << c.error();
    if (i == 0 && r->closes()) GTEST_SKIP() << kNoKeepAlive;
    EXPECT_EQ(r->status, want.status) << "response " << i << "\n" << r->wire();
    if (!want.body.empty()) {
      EXPECT_EQ(r->body, want.body) << "response " << i;
    }
  }
  EXPECT_TRUE(closes_after(c));
}

TEST_F(Connections, ChunkedBodyIsDiscardedThenThePipelinedRequestIsServed) {
  std::string first = request("GET", "/hello.txt", "Transfer-Encoding: chunked\r\n") +
                      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  HttpClient c = connect();
  ASSERT_TRUE(c.send(first + request("GET", "/sub/page.txt")));
  auto a = c.read_response();
  ASSERT_TRUE(a) << c.error();
  EXPECT_EQ(a->status, 200) << a->wire();
  if (a->closes()) GTEST_SKIP() << kNoKeepAlive;
  auto b = c.read_response();
  ASSERT_TRUE(b) << "the request after a chunked body: " << c.error();
  EXPECT_EQ(b->status, 200) << b->wire();
  EXPECT_EQ(b->body, kSubPage) << "the chunked body was not skipped exactly";
}

TEST_F(Connections, ContentLengthBodyIsDiscardedThenThePipelinedRequestIsServed) {
  std::string first = request("GET", "/hello.txt", "Content-Length: 27\r\n") +
                      "GET /nope HTTP/1.1\r\nHost:x\r\n";  // 27 bytes that look like a request
  HttpClient c = connect();
  ASSERT_TRUE(c.send(first + request("GET", "/sub/page.txt")));
  auto a = c.read_response();
  ASSERT_TRUE(a) << c.error();
  EXPECT_EQ(a->status, 200) << a->wire();
  if (a->closes()) GTEST_SKIP() << kNoKeepAlive;
  auto b = c.read_response();
  ASSERT_TRUE(b) << c.error();
  EXPECT_EQ(b->status, 200) << "the body was parsed as a request?\n" << b->wire();
  EXPECT_EQ(b->body, kSubPage);
}

TEST_F(Connections, ExpectContinueGets100BeforeTheBody) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request(
      "GET", "/hello.txt", "Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n")));
  auto interim = c.read_response(false, 3s);
  ASSERT_TRUE(interim) << "no 100 Continue while the client waits for it: " << c.error();
  ASSERT_EQ(interim->status, 100) << interim->wire();
  ASSERT_TRUE(c.send("hello"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
  EXPECT_EQ(r->body, kHello);
}

TEST_F(Connections, Http10KeepAliveOnRequestKeepsTheConnection) {
  if (!keeps_alive()) GTEST_SKIP() << kNoKeepAlive;
  HttpClient c = connect();
  ASSERT_TRUE(c.send("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto a = c.read_response();
  ASSERT_TRUE(a) << c.error();
  EXPECT_EQ(a->status, 200) << a->wire();
  EXPECT_FALSE(a->closes()) << a->wire();
  EXPECT_TRUE(iequals(a->header("Connection").value_or(""), "keep-alive"))
      << "an HTTP/1.0 client only keeps the connection if told keep-alive\n"
      << a->wire();
  ASSERT_TRUE(c.send("GET /sub/page.txt HTTP/1.0\r\n\r\n"));
  auto b = c.read_response();
  ASSERT_TRUE(b) << c.error();
  EXPECT_EQ(b->body, kSubPage);
  EXPECT_TRUE(b->closes()) << b->wire();
  EXPECT_TRUE(closes_after(c));
}

TEST_F(Connections, RequestSentOneByteAtATimeIsServed) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send_slowly(request("GET", "/sub/page.txt", "Connection: close\r\n"), 1, 2ms));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
  EXPECT_EQ(r->body, kSubPage);
}

TEST_F(Connections, RequestSplitAcrossTheHeaderTerminatorIsServed) {
  std::string raw = request("GET", "/hello.txt", "Connection: close\r\n");
  HttpClient c = connect();
  // Pieces end inside the final "\r\n\r\n", where a terminator search can go wrong.
  std::string_view v(raw);
  ASSERT_TRUE(c.send_slowly(v.substr(0, v.size() - 3), 4096, 0ms));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(c.send_slowly(v.substr(v.size() - 3), 1, 20ms));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
  EXPECT_EQ(r->body, kHello);
}

TEST_F(Connections, EmptyLineBeforeTheRequestIsTolerated) {
  HttpResponse r = exchange("\r\n" + request("GET", "/hello.txt"));
  EXPECT_EQ(r.status, 200) << r.wire();
}

TEST_F(Connections, ClientThatVanishesMidRequestDoesNotHurtTheServer) {
  {
    HttpClient c = connect();
    ASSERT_TRUE(c.send("GET /hello.txt HTTP/1.1\r\nHo"));
  }  // closed here; TearDown checks the server still serves
  {
    HttpClient c = connect();
    ASSERT_TRUE(c.send(request("GET", "/big.bin")));
    c.reset();  // RST while the server is sending 4 MiB
  }
}

class KeepAliveLimit : public Connections {
 protected:
  KeepAliveLimit() : Connections(Variant::kKeepaliveMax3) {}
};

TEST_F(KeepAliveLimit, ConnectionClosesAfterMaxKeepaliveRequests) {
  HttpClient c = connect();
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(c.send(request("GET", "/hello.txt")));
    auto r = c.read_response();
    ASSERT_TRUE(r) << "request " << i << ": " << c.error();
    EXPECT_EQ(r->status, 200) << r->wire();
    if (i == 1 && r->closes()) GTEST_SKIP() << kNoKeepAlive;
    EXPECT_EQ(r->closes(), i == 3) << "request " << i << " of --max-keepalive-requests 3\n"
                                   << r->wire();
  }
  EXPECT_TRUE(closes_after(c));
}

class Timeouts : public Connections {
 protected:
  Timeouts() : Connections(Variant::kShortTimeouts) {}
};

TEST_F(Timeouts, HalfARequestGets408ThenClose) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send("GET /hello.txt HTTP/1.1\r\nHost: x\r\n"));  // no empty line
  auto r = c.read_response(false, 5s);
  ASSERT_TRUE(r) << "no 408 within 5 s of a 1 s --header-timeout: " << c.error();
  EXPECT_EQ(r->status, 408) << r->wire();
  EXPECT_TRUE(r->closes()) << r->wire();
  for (const char* name : {"Date", "Server", "Content-Length"}) {
    EXPECT_TRUE(r->has(name)) << name << "\n" << r->wire();
  }
  EXPECT_TRUE(closes_after(c));
}

TEST_F(Timeouts, SlowDripOfHeaderBytesStillTimesOut) {
  // A slowloris client sends one byte every 200 ms: each read succeeds, but the
  // head is never complete; the header timeout is for the whole head.
  HttpClient c = connect();
  ASSERT_TRUE(c.send("GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  bool answered = false;
  for (int i = 0; i < 25 && !answered; ++i) {  // at most 5 s
    if (!c.send("a")) break;                   // the server may already have closed
    answered = c.wait_readable(200ms);
  }
  ASSERT_TRUE(answered) << "no answer after 5 s of a head that never ends (1 s timeout)";
  auto r = c.read_response(false, 1s);
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 408) << r->wire();
}

TEST_F(Timeouts, HalfASecondRequestOnAKeptAliveConnectionGets408) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("GET", "/hello.txt")));
  auto a = c.read_response();
  ASSERT_TRUE(a) << c.error();
  if (a->closes()) GTEST_SKIP() << kNoKeepAlive;
  ASSERT_TRUE(c.send("GET /hello.txt HTTP/1.1\r\nHo"));
  auto r = c.read_response(false, 5s);
  ASSERT_TRUE(r) << "a started request head must time out with 408: " << c.error();
  EXPECT_EQ(r->status, 408) << r->wire();
  EXPECT_TRUE(closes_after(c));
}

TEST_F(Timeouts, IdleKeptAliveConnectionIsClosedQuietly) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("GET", "/hello.txt")));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  if (r->closes()) GTEST_SKIP() << kNoKeepAlive;
  EXPECT_TRUE(c.closed_by_peer(5s)) << "idle connection still open 5 s into a 1 s "
                                       "--keepalive-timeout";
  EXPECT_EQ(c.extra_bytes(), "") << "an idle keep-alive close sends nothing (no 408)";
}

TEST_F(Timeouts, ConnectionThatSendsNothingIsClosed) {
  HttpClient c = connect();
  EXPECT_TRUE(c.closed_by_peer(5s)) << "a silent connection is still open after 5 s";
  EXPECT_TRUE(c.extra_bytes().empty() || c.extra_bytes().starts_with("HTTP/1.1 408"))
      << testing::escape_bytes(c.extra_bytes());
}

TEST_F(Timeouts, RequestWithinTheTimeoutIsServed) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send("GET /hello.txt HTTP/1.1\r\n"));
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(c.send("Host: x\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
}

}  // namespace
}  // namespace serverlab::conformance
