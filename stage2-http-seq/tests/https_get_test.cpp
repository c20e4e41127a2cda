// http-get over HTTPS: the real binary against a small TLS server in the test (a thread
// that serves keep-alive responses through common's TlsStream), with certificates made
// by tools/make-test-certs.sh in the build tree when the suite starts. Loopback only;
// every wait is bounded.
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http_fetch.hpp"
#include "server_process.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/tls/context.hpp"
#include "serverlab/tls/session.hpp"
#include "serverlab/tls/stream.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::ProgramResult;
using serverlab::testing::run_program;
namespace tls = serverlab::tls;

const std::string kCerts = HTTPS_CERT_DIR;
std::string cert(const std::string& name) { return kCerts + "/" + name; }

ProgramResult http_get(std::vector<std::string> args) {
  args.insert(args.begin(), serverlab::testing::binary_from_env("HTTP_GET_BIN", HTTP_GET_DEFAULT_BIN));
  return run_program(args, "", 30s);
}

// An HTTPS server on 127.0.0.1:0 in a thread. Each connection: handshake, then for each
// request head it reads, "200 OK" with body "hello N from connection C" (keep-alive),
// until the client closes. Serves one connection at a time; stops in its destructor.
class TlsServer {
 public:
  TlsServer()
      : ctx_(tls::TlsContext::server(options())), listener_(serverlab::listen_tcp("127.0.0.1", 0)) {
    port_ = serverlab::local_address(listener_.get()).port();
    thread_ = std::thread([this] { run(); });
  }
  ~TlsServer() {
    stop_ = true;
    thread_.join();
  }
  std::string url(const std::string& path) const { return "https://127.0.0.1:" + std::to_string(port_) + path; }
  int connections() const { return connections_; }

 private:
  static tls::ServerOptions options() {
    tls::ServerOptions o;
    o.cert_file = cert("server.pem");
    o.key_file = cert("server.key");
    return o;
  }
  void run() {
    while (!stop_) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      Fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      timeval tv{5, 0};  // a client that stalls cannot hang the test
      ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      serve(conn.get(), ++connections_);
    }
  }
  void serve(int fd, int c) {
    tls::TlsSession session(ctx_);
    tls::TlsStream stream(fd, session);
    if (!stream.handshake(5000)) return;
    std::string in;
    char buf[4096];
    for (int n = 1;;) {
      while (in.find("\r\n\r\n") == std::string::npos) {
        serverlab::IoResult r = stream.read_some(buf, sizeof buf);
        if (!r.is_ok()) return;
        in.append(buf, r.bytes);
      }
      in.erase(0, in.find("\r\n\r\n") + 4);
      std::string body = "hello " + std::to_string(n++) + " from connection " + std::to_string(c) + "\n";
      std::string response = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      if (!stream.write_n(response).is_ok()) return;
    }
  }

  tls::TlsContext ctx_;
  Fd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

class HttpsGet : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ProgramResult made = run_program({"/bin/bash", MAKE_TEST_CERTS, kCerts}, "", 60s);
    ASSERT_EQ(made.status, 0) << made.err;
  }
};

TEST_F(HttpsGet, FetchesOverTlsAndReusesTheConnection) {
  TlsServer server;
  ProgramResult r = http_get({"--cacert", cert("ca.pem"), "-v", server.url("/a"), server.url("/b")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello 1 from connection 1\nhello 2 from connection 1\n");
  EXPECT_NE(r.err.find("* TLS: TLSv1.3 with 127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("* reusing the connection"), std::string::npos) << r.err;
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(HttpsGet, VerifiesTheServerByDefault) {
  TlsServer server;
  ProgramResult r = http_get({server.url("/")});  // the system's CAs do not know the test CA
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("TLS handshake with 127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("certificate verify failed"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = http_get({"--cacert", cert("other-ca.pem"), server.url("/")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("certificate verify failed"), std::string::npos) << r.err;
  r = http_get({"--cacert", kCerts + "/missing.pem", server.url("/")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("missing.pem"), std::string::npos) << r.err;
}

TEST_F(HttpsGet, APlainServerOnAnHttpsUrlIsAHandshakeFailure) {
  Fd listener = serverlab::listen_tcp("127.0.0.1", 0);
  const auto port = serverlab::local_address(listener.get()).port();
  std::thread plain([&] {  // answers in clear text, as an http:// server would
    pollfd p{listener.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return;
    Fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    serverlab::testing::send_all(conn.get(), "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  });
  ProgramResult r = http_get({"--cacert", cert("ca.pem"), "--tries", "1",
                              "https://127.0.0.1:" + std::to_string(port) + "/"});
  plain.join();
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("TLS handshake with 127.0.0.1:"), std::string::npos) << r.err;
}

TEST(HttpsUrl, ParsesAndResolves) {
  std::string error;
  auto url = serverlab::fetch::parse_url("https://example.test/x?y", &error);
  ASSERT_TRUE(url) << error;
  EXPECT_TRUE(url->https);
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->to_string(), "https://example.test/x?y");
  auto moved = serverlab::fetch::resolve_location(*url, "//other.test:8443/z", &error);
  ASSERT_TRUE(moved) << error;
  EXPECT_EQ(moved->to_string(), "https://other.test:8443/z");
  auto down = serverlab::fetch::resolve_location(*url, "http://example.test/", &error);
  ASSERT_TRUE(down) << error;
  EXPECT_FALSE(down->https);
  EXPECT_EQ(down->to_string(), "http://example.test/");
}

}  // namespace
