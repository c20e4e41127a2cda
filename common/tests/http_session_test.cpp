// HttpSession, driven by hand: bytes in through input()/on_input(), bytes out
// through output()/wrote()/sent_file(), time through on_timeout(). No sockets.
#include "serverlab/http/session.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>


#include "http_test_support.hpp"
#include "serverlab/http/serve.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::http {
namespace {

using test::read_region;
using test::TempDir;

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() {
    root_.write("a.txt", "alpha\n");
    root_.write("b.txt", "bravo\n");
    root_.write("big.bin", std::string(200 * 1024, 'b'));
    config_.root = root_.path();
  }
  HttpService& service() {
    if (!service_) service_ = std::make_unique<HttpService>(config_, &metrics_);
    return *service_;
  }
  static void feed(HttpSession& s, std::string_view bytes) {
    s.input().append(bytes);
    s.on_input();
  }
  // Takes everything the session has to send, `chunk` bytes at a time.
  static std::string drain(HttpSession& s, std::size_t chunk = 1 << 20) {
    std::string wire;
    for (int guard = 0; guard < 1'000'000 && s.want() == HttpSession::Want::Write; ++guard) {
      HttpSession::Output out = s.output();
      if (!out.bytes.empty()) {
        std::size_t n = std::min(chunk, out.bytes.size());
        wire.append(out.bytes.substr(0, n));
        s.wrote(n);
      } else {
        std::uint64_t n = std::min<std::uint64_t>(chunk, out.file_length);
        wire += read_region(out.file_fd, out.file_offset, n);
        s.sent_file(n);
      }
    }
    return wire;
  }
  // The status of every response head on the wire, in order.
  static std::vector<int> statuses(const std::string& wire) {
    std::vector<int> out;
    for (std::size_t at = wire.find("HTTP/1.1 "); at != std::string::npos;
         at = wire.find("HTTP/1.1 ", at + 1))
      out.push_back(std::stoi(wire.substr(at + 9, 3)));
    return out;
  }
  // The wire with the Date header's value blanked (it may tick between two runs).
  static std::string without_date(std::string wire) {
    auto at = wire.find("Date: ");
    if (at != std::string::npos) wire.replace(at + 6, wire.find("\r\n", at) - at - 6, "X");
    return wire;
  }

  TempDir root_;
  HttpConfig config_;
  Metrics metrics_;
  std::unique_ptr<HttpService> service_;
};

const std::string kGetA = "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
const std::string kGetB = "GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n";

TEST_F(SessionTest, AnswersOneRequestAndWaitsForTheNext) {
  HttpSession s(service(), "127.0.0.1");
  EXPECT_EQ(s.want(), HttpSession::Want::Read);
  feed(s, kGetA);
  ASSERT_EQ(s.want(), HttpSession::Want::Write);
  std::string wire = drain(s);
  EXPECT_TRUE(wire.starts_with("HTTP/1.1 200 OK\r\n")) << wire;
  EXPECT_NE(wire.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << wire;
  EXPECT_TRUE(wire.ends_with("\r\n\r\nalpha\n")) << wire;
  EXPECT_EQ(s.want(), HttpSession::Want::Read);
  EXPECT_EQ(s.timer(), HttpSession::Timer::KeepAlive);
  EXPECT_EQ(metrics_.requests(Method::Get, 200), 1u);
}

TEST_F(SessionTest, ByteByByteFeedingGivesTheSameResponse) {
  HttpSession whole(service(), "p");
  feed(whole, kGetA);
  std::string expected = drain(whole);

  HttpSession s(service(), "p");
  for (std::size_t i = 0; i + 1 < kGetA.size(); ++i) {
    feed(s, kGetA.substr(i, 1));
    ASSERT_EQ(s.want(), HttpSession::Want::Read) << "answered before byte " << i + 1;
  }
  feed(s, kGetA.substr(kGetA.size() - 1));
  std::string wire = drain(s);
  // The Date may tick between the two; compare everything else.
  EXPECT_EQ(without_date(wire), without_date(expected));
}

TEST_F(SessionTest, PipelinedRequestsAreAnsweredInOrder) {
  HttpSession s(service(), "p");
  feed(s, kGetB + kGetA + "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n" + kGetB);
  std::string wire = drain(s, 7);  // odd-sized writes, to cross response boundaries
  EXPECT_EQ(statuses(wire), (std::vector<int>{200, 200, 404, 200})) << wire;
  EXPECT_LT(wire.find("bravo"), wire.find("alpha"));
  EXPECT_EQ(s.requests(), 4u);
}

TEST_F(SessionTest, ManyPipelinedRequestsOfLargeFilesStayBoundedAndInOrder) {
  HttpSession s(service(), "p");
  std::string big = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
  std::string batch;
  for (int i = 0; i < 5; ++i) batch += big + kGetA;
  feed(s, batch);
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire).size(), 10u);
  EXPECT_EQ(wire.size() > 5u * 200 * 1024, true);
  EXPECT_EQ(s.want(), HttpSession::Want::Read);
}

TEST_F(SessionTest, ShrinkingBuffersWhileIdleKeepsServing) {
  HttpSession s(service(), "p");
  std::string batch;
  for (int i = 0; i < 200; ++i) batch += kGetA;  // grows both buffers well past their start
  feed(s, batch);
  EXPECT_EQ(statuses(drain(s)).size(), 200u);
  s.shrink_buffers();
  EXPECT_LE(s.input().capacity(), Buffer::kPrepend + Buffer::kInitialSize);
  feed(s, kGetB);
  EXPECT_TRUE(drain(s).ends_with("bravo\n"));
}

TEST_F(SessionTest, ParseErrorAnswersTheStatusThenCloses) {
  HttpSession s(service(), "p");
  feed(s, "GET /a.txt HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n" + kGetB);
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{400})) << wire;
  EXPECT_NE(wire.find("Connection: close"), std::string::npos);
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
  EXPECT_TRUE(s.linger());
  EXPECT_EQ(metrics_.errors("parse"), 1u);
}

TEST_F(SessionTest, ChunkedBodyIsDiscardedAndTheNextRequestServed) {
  HttpSession s(service(), "p");
  feed(s,
       "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n" +
           kGetB);
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{405, 200})) << wire;
  EXPECT_TRUE(wire.ends_with("bravo\n"));
  EXPECT_EQ(s.want(), HttpSession::Want::Read);
}

TEST_F(SessionTest, BodyOverTheLimitIs413AndClose) {
  config_.max_body = 8;
  HttpSession s(service(), "p");
  feed(s, "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
          "20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n");
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{413})) << wire;
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, ExpectContinueGets100BeforeTheBodyIsRead) {
  HttpSession s(service(), "p");
  feed(s, "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  std::string interim = drain(s);
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(s.want(), HttpSession::Want::Read);
  feed(s, "body");
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{200})) << wire;
  EXPECT_TRUE(wire.ends_with("alpha\n"));
}

TEST_F(SessionTest, RefusedExpectContinueIsAnsweredWithoutReadingTheBody) {
  HttpSession s(service(), "p");
  feed(s, "PUT /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n");
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{405})) << wire;
  EXPECT_EQ(wire.find("100 Continue"), std::string::npos);
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, HeaderTimeoutWithAPartialHeadIs408ThenClose) {
  HttpSession s(service(), "p");
  feed(s, "GET /a.txt HTTP/1.1\r\nHo");
  EXPECT_EQ(s.timer(), HttpSession::Timer::Header);
  s.on_timeout();
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{408})) << wire;
  EXPECT_NE(wire.find("Connection: close"), std::string::npos);
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, IdleKeepAliveTimeoutClosesQuietly) {
  HttpSession s(service(), "p");
  feed(s, kGetA);
  drain(s);
  EXPECT_EQ(s.timer(), HttpSession::Timer::KeepAlive);
  s.on_timeout();
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
  EXPECT_TRUE(s.output().empty());
}

TEST_F(SessionTest, DeadlinesFollowTheConfiguredTimeouts) {
  config_.header_timeout = 100;
  config_.keepalive_timeout = 1;
  HttpSession s(service(), "p");
  auto now = HttpSession::Clock::now();
  EXPECT_GT(s.deadline(), now + std::chrono::seconds(50));
  feed(s, kGetA);
  drain(s);
  EXPECT_LT(s.deadline(), HttpSession::Clock::now() + std::chrono::seconds(2));
}

TEST_F(SessionTest, MaxKeepaliveRequestsEndsTheConnection) {
  config_.max_keepalive_requests = 2;
  HttpSession s(service(), "p");
  feed(s, kGetA + kGetA + kGetA);
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{200, 200})) << wire;
  EXPECT_NE(wire.rfind("Connection: close"), std::string::npos);
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, APooledSessionContinuesAConnectionFromItsCarry) {
  config_.max_keepalive_requests = 3;
  HttpSession first(service(), "p");
  feed(first, kGetA);
  drain(first);
  feed(first, kGetB);
  drain(first);
  ASSERT_TRUE(first.idle());
  const HttpSession::Carry carry = first.carry();
  EXPECT_EQ(carry.requests, 2u);
  EXPECT_EQ(carry.timer, HttpSession::Timer::KeepAlive);
  EXPECT_EQ(carry.deadline, first.deadline());

  // Another session object takes the connection over: the third request is the last.
  HttpSession other(service(), HttpSession::Pooled{});
  other.start("p", carry);
  EXPECT_TRUE(other.idle());
  EXPECT_EQ(other.deadline(), carry.deadline);
  EXPECT_EQ(other.timer(), HttpSession::Timer::KeepAlive);
  feed(other, kGetA);
  std::string wire = drain(other);
  EXPECT_EQ(statuses(wire), (std::vector<int>{200})) << wire;
  EXPECT_NE(wire.find("Connection: close"), std::string::npos) << wire;
  EXPECT_EQ(other.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, StartForgetsTheConnectionTheSessionServedBefore) {
  HttpSession s(service(), HttpSession::Pooled{});
  s.start("a", HttpSession::opening(service()));
  feed(s, "GET /a.txt HTTP/1.1\r\nHo");  // half a head, then that connection is gone
  s.on_eof();
  s.start("b", HttpSession::opening(service()));
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.want(), HttpSession::Want::Read);
  EXPECT_EQ(s.requests(), 0u);
  feed(s, kGetB);
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{200})) << wire;
  EXPECT_NE(wire.find("bravo"), std::string::npos) << wire;
}

TEST_F(SessionTest, ReleaseDropsQueuedOutputAndFileReferences) {
  config_.file_cache_entries = 0;  // no cache: the session holds the only reference
  HttpSession s(service(), HttpSession::Pooled{});
  s.start("p", HttpSession::opening(service()));
  feed(s, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");  // 200 KiB: a file region
  ASSERT_EQ(s.want(), HttpSession::Want::Write);
  HttpSession::Output out = s.output();
  s.wrote(out.bytes.size());
  out = s.output();
  ASSERT_GT(out.file_length, 0u);
  const int fd = out.file_fd;
  ASSERT_GE(::fcntl(fd, F_GETFD), 0);
  s.release(64 * 1024);
  EXPECT_TRUE(s.output().empty());
  EXPECT_EQ(s.want(), HttpSession::Want::Read);
  // A pooled session must not keep a file open: its descriptor is closed now.
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the released session still holds the file";
  EXPECT_EQ(metrics_.connections_open(), 0) << "pooled sessions must not count connections";
}

TEST_F(SessionTest, KeepAliveOffAnswersConnectionClose) {
  config_.keep_alive = false;
  HttpSession s(service(), "p");
  feed(s, kGetA + kGetB);
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{200})) << wire;
  EXPECT_NE(wire.find("Connection: close"), std::string::npos);
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, Http10ClosesUnlessAskedToKeepAlive) {
  HttpSession s(service(), "p");
  feed(s, "GET /a.txt HTTP/1.0\r\n\r\n");
  EXPECT_NE(drain(s).find("Connection: close"), std::string::npos);
  EXPECT_EQ(s.want(), HttpSession::Want::Close);

  HttpSession k(service(), "p");
  feed(k, "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_NE(drain(k).find("Connection: keep-alive"), std::string::npos);
  EXPECT_EQ(k.want(), HttpSession::Want::Read);
}

TEST_F(SessionTest, PeerEofStillAnswersBufferedRequests) {
  HttpSession s(service(), "p");
  s.input().append(kGetA + kGetB);
  s.on_eof();
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{200, 200}));
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, ShutdownClosesAnIdleConnectionAtOnce) {
  HttpSession s(service(), "p");
  feed(s, kGetA);
  drain(s);
  s.shutdown();
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, ShutdownMidRequestFinishesItWithConnectionClose) {
  HttpSession s(service(), "p");
  feed(s, "GET /a.txt HTTP/1.1\r\n");
  s.shutdown();
  EXPECT_EQ(s.want(), HttpSession::Want::Read);
  feed(s, "Host: t\r\n\r\n");
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{200}));
  EXPECT_NE(wire.find("Connection: close"), std::string::npos);
  EXPECT_EQ(s.want(), HttpSession::Want::Close);
}

TEST_F(SessionTest, LargeFileBodyComesAsAFileRegionAfterTheHead) {
  HttpSession s(service(), "p");
  feed(s, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
  HttpSession::Output head = s.output();
  ASSERT_FALSE(head.bytes.empty());
  EXPECT_TRUE(head.bytes.ends_with("\r\n\r\n")) << "the head is sent alone, then sendfile";
  EXPECT_GE(head.file_fd, 0);
  EXPECT_EQ(head.file_length, 200u * 1024);
  std::string wire = drain(s, 4096);
  EXPECT_EQ(wire.size(), head.bytes.size() + 200u * 1024);
}

TEST_F(SessionTest, HeadRequestSendsNoBody) {
  HttpSession s(service(), "p");
  feed(s, "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string wire = drain(s);
  EXPECT_NE(wire.find("Content-Length: 204800\r\n"), std::string::npos) << wire;
  EXPECT_TRUE(wire.ends_with("\r\n\r\n")) << wire;
}

TEST_F(SessionTest, AdminHealthAndMetricsRoutes) {
  HttpSession s(service(), "p");
  feed(s, "GET /-/health HTTP/1.1\r\nHost: t\r\n\r\nGET /-/metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string wire = drain(s);
  EXPECT_EQ(statuses(wire), (std::vector<int>{200, 200})) << wire;
  EXPECT_NE(wire.find("\r\n\r\nok\n"), std::string::npos);
  EXPECT_NE(wire.find("# TYPE serverlab_requests_total counter"), std::string::npos);
}

TEST_F(SessionTest, AdminOffMakesDashPathsOrdinaryFiles) {
  root_.write("-/health", "a file");
  config_.admin = "off";
  HttpSession s(service(), "p");
  feed(s, "GET /-/health HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(drain(s).ends_with("\r\n\r\na file"));
}

// ---- head scanning: a head dripped a byte at a time is parsed once per line.

// A GET head of about `size` bytes made of `lines` header lines (plus Host).
std::string head_of(std::size_t size, std::size_t lines) {
  std::string head = "GET /a.txt HTTP/1.1\r\nHost: t\r\n";
  const std::size_t each = (size - head.size() - 2) / lines;
  for (std::size_t i = 0; i < lines; ++i) {
    std::string name = "X-Pad-" + std::to_string(i) + ": ";
    head += name + std::string(each - name.size() - 2, 'p') + "\r\n";
  }
  return head + "\r\n";
}

// How many times the session parsed a head fed to it one byte per read; fails
// the test unless the head is answered 200 after its last byte and not before.
std::uint64_t parses_of_dripped_head(HttpSession& s, const std::string& head) {
  for (std::size_t i = 0; i + 1 < head.size(); ++i) {
    s.input().append(head.substr(i, 1));
    s.on_input();
    if (s.want() != HttpSession::Want::Read) {
      ADD_FAILURE() << "answered before byte " << i + 1 << " of " << head.size();
      return 0;
    }
  }
  s.input().append(head.substr(head.size() - 1));
  s.on_input();
  EXPECT_EQ(s.want(), HttpSession::Want::Write);
  return s.head_parses();
}

TEST_F(SessionTest, ADrippedHeadIsParsedOncePerLineNotOncePerByte) {
  config_.max_header_bytes = 64 * 1024;
  for (std::size_t kib : {4, 16, 48}) {
    const std::string head = head_of(kib * 1024, 8);
    HttpSession s(service(), "p");
    const std::uint64_t parses = parses_of_dripped_head(s, head);
    const auto lines = static_cast<std::uint64_t>(std::count(head.begin(), head.end(), '\n'));
    // One parse on the first byte, then one per line end: linear in the head's
    // length (re-parsing after every byte would be head.size() parses).
    EXPECT_LE(parses, lines + 1) << kib << " KiB head of " << lines << " lines";
    EXPECT_GE(parses, 2u);
    EXPECT_EQ(statuses(drain(s)), (std::vector<int>{200})) << kib << " KiB";
  }
}

TEST_F(SessionTest, ADrippedBadLineIsAnsweredWhenItsLineEnds) {
  const std::string line = "GET /a.txt HTTP/2.0\r\n";
  HttpSession s(service(), "p");
  for (std::size_t i = 0; i + 1 < line.size(); ++i) feed(s, line.substr(i, 1));
  EXPECT_EQ(s.want(), HttpSession::Want::Read);  // waits for the LF, not for a blank line
  feed(s, "\n");
  EXPECT_EQ(statuses(drain(s)), (std::vector<int>{505}));
}

TEST_F(SessionTest, ADrippedLongRequestLineGets414AtTheLimitNotLater) {
  config_.max_request_line = 64;
  HttpSession s(service(), "p");
  const std::string line = "GET /" + std::string(200, 'a');
  std::size_t answered_at = 0;
  for (std::size_t i = 0; i < line.size() && answered_at == 0; ++i) {
    feed(s, line.substr(i, 1));
    if (s.want() != HttpSession::Want::Read) answered_at = i + 1;
  }
  EXPECT_EQ(answered_at, 64u + 2u);  // the parser's window: the line and its CRLF
  EXPECT_EQ(statuses(drain(s)), (std::vector<int>{414}));
}

TEST_F(SessionTest, ADrippedHugeHeaderSectionGets431AtTheLimit) {
  config_.max_header_bytes = 256;
  HttpSession s(service(), "p");
  const std::string head = "GET /a.txt HTTP/1.1\r\nX: " + std::string(1000, 'v');
  std::size_t answered_at = 0;
  for (std::size_t i = 0; i < head.size() && answered_at == 0; ++i) {
    feed(s, head.substr(i, 1));
    if (s.want() != HttpSession::Want::Read) answered_at = i + 1;
  }
  EXPECT_EQ(answered_at, std::string("GET /a.txt HTTP/1.1\r\n").size() + 256);
  EXPECT_EQ(statuses(drain(s)), (std::vector<int>{431}));
}

}  // namespace
}  // namespace serverlab::http

// ---- serve_connection, the blocking driver, over a socketpair.

namespace serverlab::http {
namespace {

class ServeConnectionTest : public SessionTest {
 protected:
  // Runs serve_connection on one end of a socketpair in a thread; returns the other end.
  Fd start() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw SysError("socketpair");
    ConnectionOptions options;
    options.peer = "local";
    options.stop_fd = stop_.get();
    worker_ = std::thread([this, fd = sv[0], options] {
      (void)serve_connection(Fd(fd), service(), options);
    });
    return Fd(sv[1]);
  }
  // What the peer has sent so far (waits up to 5 s for the first bytes).
  static std::string read_available(int fd) {
    std::string out;
    char buf[65536];
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return out;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  static std::string read_all(int fd) {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Makes stop_ readable, as a pending SIGTERM makes a server's signalfd readable.
  void request_stop() {
    const std::uint64_t one = 1;
    ASSERT_EQ(::write(stop_.get(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
  }
  void TearDown() override {
    request_stop();
    if (worker_.joinable()) worker_.join();
  }
  Fd stop_{::eventfd(0, EFD_CLOEXEC)};
  std::thread worker_;
};

TEST_F(ServeConnectionTest, ServesAFileThenClosesOnConnectionClose) {
  service();
  Fd c = start();
  std::string req = "GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::write(c.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string wire = read_all(c.get());  // EOF comes from the server's close
  ASSERT_TRUE(wire.starts_with("HTTP/1.1 200 OK\r\n")) << wire.substr(0, 200);
  EXPECT_EQ(wire.size() - (wire.find("\r\n\r\n") + 4), 200u * 1024);
}

TEST_F(ServeConnectionTest, SendsFileBytesBeyondFourGibibytes) {
  // A sparse 5 GiB file: only the last bytes are real.
  const std::uint64_t size = 5ULL << 30;
  {
    Fd f(::open(root_.path("huge.bin").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(f);
    ASSERT_EQ(::ftruncate(f.get(), static_cast<off_t>(size)), 0);
    ASSERT_EQ(::pwrite(f.get(), "TAIL", 4, static_cast<off_t>(size - 4)), 4);
  }
  service();
  Fd c = start();
  std::string req =
      "GET /huge.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=5368709116-\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::write(c.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string wire = read_all(c.get());
  EXPECT_NE(wire.find("Content-Range: bytes 5368709116-5368709119/5368709120\r\n"),
            std::string::npos)
      << wire;
  EXPECT_TRUE(wire.ends_with("\r\n\r\nTAIL")) << wire;
}

TEST_F(ServeConnectionTest, StopFdClosesAnIdleKeepAliveConnection) {
  config_.keepalive_timeout = 60;
  service();
  Fd c = start();
  ASSERT_EQ(::write(c.get(), kGetA.data(), kGetA.size()), static_cast<ssize_t>(kGetA.size()));
  char buf[4096];
  ASSERT_GT(::read(c.get(), buf, sizeof buf), 0);
  request_stop();
  worker_.join();  // returns at once, not after the 60 s keep-alive timeout
  EXPECT_EQ(::read(c.get(), buf, sizeof buf), 0);
}

// Parking: an idle connection comes back to the caller, open, with its carry, and
// a second call answers the request the caller read for it (preread).
TEST_F(ServeConnectionTest, ParksWhenIdleAndResumesFromTheCarryAndPrereadBytes) {
  config_.keepalive_timeout = 60;
  service();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd client(sv[1]);
  ConnectionOptions options;
  options.peer = "local";
  options.park_idle = 0;  // park at the first idle moment
  std::optional<ParkedConnection> parked;
  std::thread first([&] { parked = serve_connection(Fd(sv[0]), service(), options); });
  ASSERT_EQ(::write(client.get(), kGetA.data(), kGetA.size()), static_cast<ssize_t>(kGetA.size()));
  first.join();  // returns once idle, not after the 60 s keep-alive timeout
  ASSERT_TRUE(parked.has_value()) << "the idle connection was closed instead of parked";
  EXPECT_TRUE(parked->fd) << "a parked connection must come back open";
  EXPECT_EQ(parked->carry.requests, 1u);
  EXPECT_EQ(parked->carry.timer, HttpSession::Timer::KeepAlive);
  EXPECT_EQ(parked->peer, "local");
  std::string wire = read_available(client.get());
  EXPECT_TRUE(wire.starts_with("HTTP/1.1 200 OK\r\n")) << wire;

  const std::string next = "GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ConnectionOptions again;
  again.resume = parked->carry;
  again.peer = parked->peer;
  again.preread = next;  // as stage 3's acceptor hands it over: read already
  auto closed = serve_connection(std::move(parked->fd), service(), again);
  EXPECT_FALSE(closed.has_value()) << "Connection: close must close, not park";
  std::string rest = read_all(client.get());
  EXPECT_TRUE(rest.starts_with("HTTP/1.1 200 OK\r\n")) << rest;
  EXPECT_NE(rest.find("Connection: close"), std::string::npos) << rest;
}

}  // namespace
}  // namespace serverlab::http
