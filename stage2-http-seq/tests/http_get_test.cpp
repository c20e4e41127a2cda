// Tests of http-get (stage 2's client) and of the http_fetch library under it.
//
// Most tests run the real binary against a ScriptServer: a few lines of test code on
// 127.0.0.1 port 0, in a thread, that answers each request with whatever bytes the test
// scripts -- slow, truncated, malformed, redirecting -- and records what it received.
// The rest run it against our own server, http-seq --keep-alive. Every failure case
// checks the exit status and the one line on stderr.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http_fetch.hpp"
#include "serverlab/socket.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::ProgramResult;
using serverlab::testing::run_program;
using serverlab::testing::ServerProcess;
using serverlab::testing::TempDir;
using Clock = std::chrono::steady_clock;

std::string http_get_binary() {
  return serverlab::testing::binary_from_env("HTTP_GET_BIN", HTTP_GET_DEFAULT_BIN);
}

// Runs http-get with `args`; a generous watchdog turns a hang into a failure.
ProgramResult http_get(std::vector<std::string> args) {
  args.insert(args.begin(), http_get_binary());
  return run_program(args, "", 30s);
}

// The single line http-get printed on stderr (fails the test if there is not exactly one).
std::string one_line(const std::string& err) {
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "stderr: " << err;
  return err.substr(0, err.find('\n'));
}

// ---------------------------------------------------------------- ScriptServer

// A scripted HTTP server on 127.0.0.1:0. It serves one connection at a time; for each
// request (head plus Content-Length body) it calls the handler with the socket and
// the request's text and index (0, 1, ...). The handler writes whatever it likes and
// returns false to close the connection. Stops (and joins) in its destructor.
class ScriptServer {
 public:
  using Handler = std::function<bool(int fd, const std::string& request, int index)>;

  explicit ScriptServer(Handler handler)
      : handler_(std::move(handler)), listener_(serverlab::listen_tcp("127.0.0.1", 0)) {
    port_ = serverlab::local_address(listener_.get()).port();
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptServer() {
    stop_ = true;
    thread_.join();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_; }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::vector<Clock::time_point> arrivals() const {
    std::lock_guard lock(mutex_);
    return arrivals_;
  }

 private:
  // Waits until fd is readable or the server is stopping; false when stopping.
  bool wait_readable(int fd) const {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void run() {
    while (wait_readable(listener_.get())) {
      Fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      ++connections_;
      serve(conn.get());
    }
  }

  void serve(int fd) {
    std::string pending;
    for (;;) {
      std::size_t end;
      while ((end = pending.find("\r\n\r\n")) == std::string::npos || !has_body(pending, end)) {
        if (!wait_readable(fd)) return;
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        pending.append(buf, static_cast<std::size_t>(n));
      }
      std::size_t length = end + 4 + body_length(pending.substr(0, end));
      std::string request = pending.substr(0, length);
      pending.erase(0, length);
      int index;
      {
        std::lock_guard lock(mutex_);
        index = static_cast<int>(requests_.size());
        requests_.push_back(request);
        arrivals_.push_back(Clock::now());
      }
      if (!handler_(fd, request, index)) return;
    }
  }

  static std::size_t body_length(const std::string& head) {
    auto at = head.find("Content-Length: ");
    return at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
  }
  static bool has_body(const std::string& pending, std::size_t end) {
    return pending.size() >= end + 4 + body_length(pending.substr(0, end));
  }

  Handler handler_;
  Fd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::vector<Clock::time_point> arrivals_;
  std::thread thread_;
};

void send_text(int fd, const std::string& text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

// A complete keep-alive response with a Content-Length body.
std::string ok(const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

std::string request_line(const std::string& request) { return request.substr(0, request.find("\r\n")); }

// ---------------------------------------------------------------- usage

TEST(HttpGetUsage, HelpExitsZeroAndMentionsHttpsLimit) {
  ProgramResult r = http_get({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("URL..."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("https://"), std::string::npos) << r.out;
}

TEST(HttpGetUsage, WrongFlagPrintsUsageAndExitsTwo) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--no-such-flag", "http://127.0.0.1/"},
                                        {"-Z", "http://127.0.0.1/"},
                                        {"--tries", "0", "http://127.0.0.1/"},
                                        {}}) {
    ProgramResult r = http_get(args);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("Usage: http-get"), std::string::npos) << r.err;
  }
}

TEST(HttpGetUsage, BadUrlExitsTwoWithReason) {
  ProgramResult r = http_get({"ftp://127.0.0.1/"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unsupported scheme 'ftp'"), std::string::npos) << r.err;
  r = http_get({"http://127.0.0.1:99999/"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("bad port '99999'"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------- against http-seq

struct HttpSeq {
  TempDir root{"http-get-test"};
  std::unique_ptr<ServerProcess> server;
  HttpSeq() {
    root.write("hello.txt", "hello from http-seq\n");
    root.write("big.bin", std::string(300 * 1024, 'x'));
    server = std::make_unique<ServerProcess>(std::vector<std::string>{
        serverlab::testing::server_binary("HTTP_SEQ_BIN", HTTP_SEQ_DEFAULT_BIN), "--port", "0",
        "--keep-alive", "--root", root.path()});
  }
  std::string url(const std::string& path) const { return "http://" + server->address() + path; }
};

TEST(HttpGetAgainstHttpSeq, FetchesFilesToStdoutAndToAFile) {
  HttpSeq seq;
  ProgramResult r = http_get({seq.url("/hello.txt")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello from http-seq\n");
  EXPECT_EQ(r.err, "");

  std::string file = (seq.root.path("out.bin"));
  r = http_get({"-o", file, seq.url("/big.bin")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "") << "no progress bar when stderr is not a terminal";
  std::ifstream in(file, std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, std::string(300 * 1024, 'x'));
}

TEST(HttpGetAgainstHttpSeq, TwoUrlsShareOneKeepAliveConnection) {
  HttpSeq seq;
  ProgramResult r = http_get({"-v", seq.url("/hello.txt"), seq.url("/hello.txt")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello from http-seq\nhello from http-seq\n");
  EXPECT_NE(r.err.find("* reusing the connection"), std::string::npos) << r.err;
}

TEST(HttpGetAgainstHttpSeq, HeadPrintsTheHeadAndNotFoundFails) {
  HttpSeq seq;
  ProgramResult r = http_get({"-I", seq.url("/hello.txt")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("HTTP/1.1 200 OK\n")) << r.out;
  EXPECT_NE(r.out.find("Content-Length: 20\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("hello from"), std::string::npos) << "HEAD has no body";

  r = http_get({seq.url("/missing.txt")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + seq.url("/missing.txt") + ": server answered 404 Not Found");
}

// ---------------------------------------------------------------- misbehaving servers

TEST(HttpGetFailures, ConnectionRefusedIsRetriedThenOneLine) {
  // A port we just closed: nothing listens there.
  std::uint16_t port;
  {
    Fd probe = serverlab::listen_tcp("127.0.0.1", 0);
    port = serverlab::local_address(probe.get()).port();
  }
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  ProgramResult r = http_get({"-v", "--tries", "2", "--backoff", "0.01", url});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("retry 1 of 1"), std::string::npos) << r.err;
  ProgramResult quiet = http_get({"--tries", "2", "--backoff", "0.01", url});
  EXPECT_EQ(one_line(quiet.err), "http-get: " + url + ": connect to 127.0.0.1:" + std::to_string(port) +
                                     ": Connection refused");
}

TEST(HttpGetFailures, SlowServerHitsTheTotalTimeout) {
  ScriptServer server([](int, const std::string&, int) { return true; });  // never answers
  ProgramResult r = http_get({"--timeout", "0.5", server.url("/slow")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + server.url("/slow") + ": timed out reading the status line");
}

TEST(HttpGetFailures, StallInTheMiddleOfTheBodyHitsTheTotalTimeout) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst");
    return true;  // and then nothing more
  });
  ProgramResult r = http_get({"--timeout", "0.5", server.url("/stall")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + server.url("/stall") + ": timed out reading the body");
}

TEST(HttpGetFailures, ConnectTimeout) {
  // A listener with backlog 0 whose queue is full drops our SYN: connect() never ends.
  serverlab::ListenOptions options;
  options.backlog = 0;
  Fd full = serverlab::listen_tcp("127.0.0.1", 0, options);
  auto address = serverlab::local_address(full.get());
  std::vector<Fd> fillers;
  for (int i = 0; i < 3; ++i) {
    fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ::connect(fillers.back().get(), address.get(), address.length);
  }
  std::string url = "http://" + address.to_string() + "/";
  ProgramResult r = http_get({"--connect-timeout", "0.3", "--tries", "1", url});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + url + ": connect to " + address.to_string() +
                                 ": connection timed out");
}

TEST(HttpGetFailures, TruncatedBody) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    return false;
  });
  ProgramResult r = http_get({server.url("/t")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + server.url("/t") + ": body truncated: got 10 of 100 bytes");
  EXPECT_EQ(r.out, "0123456789") << "what arrived is still written";
}

TEST(HttpGetFailures, BadChunkSize) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n");
    return false;
  });
  ProgramResult r = http_get({server.url("/c")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + server.url("/c") + ": bad chunk size 'zz'");
}

TEST(HttpGetFailures, RedirectLoopStopsAtTheHopLimit) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 5\r\n\r\nmoved");
    return true;
  });
  ProgramResult r = http_get({"--max-redirects", "3", server.url("/loop")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + server.url("/loop") + ": too many redirects (3)");
  EXPECT_EQ(server.requests().size(), 4u) << "the first request plus three hops";
  EXPECT_EQ(r.out, "") << "redirect bodies are dropped";
}

TEST(HttpGetFailures, HugeHeaderIsRefused) {
  ScriptServer one_line_server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 200 OK\r\nX-Big: " + std::string(20000, 'a') + "\r\nContent-Length: 0\r\n\r\n");
    return false;
  });
  ProgramResult r = http_get({one_line_server.url("/h")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + one_line_server.url("/h") + ": head longer than 8192 bytes");

  ScriptServer many_lines([](int fd, const std::string&, int) {
    std::string head = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 2000; ++i) head += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'b') + "\r\n";
    send_text(fd, head + "Content-Length: 0\r\n\r\n");
    return false;
  });
  r = http_get({many_lines.url("/h")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + many_lines.url("/h") + ": response head larger than 65536 bytes");
}

// ---------------------------------------------------------------- retries

TEST(HttpGetRetries, ServiceUnavailableWithRetryAfterThenSuccess) {
  ScriptServer server([](int fd, const std::string&, int index) {
    if (index == 0) send_text(fd, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy");
    else send_text(fd, ok("done\n"));
    return true;
  });
  ProgramResult r = http_get({server.url("/r")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "done\n") << "the 503's body is dropped";
  auto arrivals = server.arrivals();
  ASSERT_EQ(arrivals.size(), 2u);
  // Retry-After: 1 was honoured (the backoff alone would wait about 0.25 s).
  EXPECT_GE(arrivals[1] - arrivals[0], 900ms);
}

TEST(HttpGetRetries, AlwaysBusyIsBoundedByTries) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n");
    return true;
  });
  ProgramResult r = http_get({"--tries", "3", "--backoff", "0.01", server.url("/busy")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + server.url("/busy") + ": server answered 429 Too Many Requests");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(HttpGetRetries, RetryAfterLongerThanWeWaitGivesUpAtOnce) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3600\r\nContent-Length: 5\r\n\r\nlater");
    return true;
  });
  ProgramResult r = http_get({server.url("/later")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line(r.err), "http-get: " + server.url("/later") + ": server answered 503 Service Unavailable");
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(r.out, "later") << "the final answer's body is written, whatever its status";
}

TEST(HttpGetRetries, PostIsNeverRetried) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    return true;
  });
  ProgramResult r = http_get({"-X", "POST", "-d", "x=1", "--backoff", "0.01", server.url("/form")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(server.requests().size(), 1u);
}

// ---------------------------------------------------------------- redirects, bodies, reuse

TEST(HttpGetRedirects, RelativeLocationIsResolved) {
  ScriptServer server([](int fd, const std::string& request, int) {
    if (request_line(request) == "GET /a/b/page HTTP/1.1")
      send_text(fd, "HTTP/1.1 301 Moved Permanently\r\nLocation: ../c?x=1\r\nContent-Length: 0\r\n\r\n");
    else send_text(fd, ok("target\n"));
    return true;
  });
  ProgramResult r = http_get({server.url("/a/b/page")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "target\n");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(request_line(requests[1]), "GET /a/c?x=1 HTTP/1.1");
}

TEST(HttpGetRedirects, SeeOtherTurnsPostIntoGet) {
  ScriptServer server([](int fd, const std::string& request, int) {
    if (request.starts_with("POST "))
      send_text(fd, "HTTP/1.1 303 See Other\r\nLocation: /done\r\nContent-Length: 0\r\n\r\n");
    else send_text(fd, ok("thanks\n"));
    return true;
  });
  ProgramResult r = http_get({"-X", "POST", "-d", "name=ada", server.url("/form")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "thanks\n");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(request_line(requests[0]), "POST /form HTTP/1.1");
  EXPECT_TRUE(requests[0].ends_with("\r\n\r\nname=ada"));
  EXPECT_EQ(request_line(requests[1]), "GET /done HTTP/1.1");
  EXPECT_EQ(requests[1].find("Content-Length"), std::string::npos) << requests[1];
}

TEST(HttpGetBodies, ChunkedWithTrailers) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd,
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
              "6;ext=1\r\nhello \r\n6\r\nworld\n\r\n0\r\nX-Checksum: 42\r\n\r\n");
    return true;
  });
  ProgramResult r = http_get({"-v", server.url("/chunked")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello world\n");
  EXPECT_NE(r.err.find("< (trailer) X-Checksum: 42"), std::string::npos) << r.err;
}

TEST(HttpGetBodies, CloseDelimitedBody) {
  ScriptServer server([](int fd, const std::string&, int) {
    send_text(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end\n");
    return false;
  });
  ProgramResult r = http_get({server.url("/eof")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "until the end\n");
}

TEST(HttpGetReuse, TwoUrlsOneConnection) {
  ScriptServer server([](int fd, const std::string& request, int) {
    send_text(fd, ok(request_line(request) + "\n"));
    return true;
  });
  ProgramResult r = http_get({server.url("/one"), server.url("/two")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "GET /one HTTP/1.1\nGET /two HTTP/1.1\n");
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpGetReuse, APooledConnectionTheServerClosedIsReplaced) {
  // The server closes after each response without saying so (no Connection: close).
  ScriptServer server([](int fd, const std::string& request, int) {
    send_text(fd, ok(request_line(request) + "\n"));
    return false;
  });
  // --tries 1: no ordinary retry may hide a missing replacement.
  ProgramResult r = http_get({"--tries", "1", server.url("/one"), server.url("/two")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "GET /one HTTP/1.1\nGET /two HTTP/1.1\n");
  EXPECT_EQ(server.connections(), 2);
}

// ---------------------------------------------------------------- the library's pure parts

TEST(HttpFetchUrl, ParsesAndResolves) {
  namespace f = serverlab::fetch;
  std::string error;
  auto url = f::parse_url("http://[::1]:8080/a/b?q=1#frag", &error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/a/b?q=1");
  EXPECT_EQ(url->to_string(), "http://[::1]:8080/a/b?q=1");
  EXPECT_FALSE(f::parse_url("ftp://x/", &error));
  EXPECT_FALSE(f::parse_url("http:///path", &error));

  auto base = f::parse_url("http://h/a/b/c?old", &error).value();
  auto at = [&](const char* location) { return f::resolve_location(base, location, &error)->to_string(); };
  EXPECT_EQ(at("d"), "http://h/a/b/d");
  EXPECT_EQ(at("../d"), "http://h/a/d");
  EXPECT_EQ(at("../../../../d"), "http://h/d");
  EXPECT_EQ(at("/x/./y"), "http://h/x/y");
  EXPECT_EQ(at("?new"), "http://h/a/b/c?new");
  EXPECT_EQ(at("//other:81/p"), "http://other:81/p");
  EXPECT_EQ(at("http://third/"), "http://third/");
}

TEST(HttpFetchRetry, DelayDoublesWithJitterAndHonoursRetryAfter) {
  serverlab::fetch::Options options;
  options.backoff = 1.0;
  options.max_backoff = 100.0;
  for (int retry = 1; retry <= 4; ++retry) {
    double d = serverlab::fetch::retry_delay(options, retry, std::nullopt);
    double full = std::pow(2.0, retry - 1);
    EXPECT_GE(d, full * 0.5);
    EXPECT_LE(d, full);
  }
  options.max_backoff = 3.0;
  EXPECT_LE(serverlab::fetch::retry_delay(options, 10, std::nullopt), 3.0);
  EXPECT_EQ(serverlab::fetch::retry_delay(options, 1, "7"), 7.0);
  EXPECT_LE(serverlab::fetch::retry_delay(options, 1, "Thu, 01 Jan 1970 00:00:00 GMT"), 0.0);
}

}  // namespace
