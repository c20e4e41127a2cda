// Black-box tests of HTTPS on every HTTP stage: one binary, registered once per
// stage with that stage's server ($TLS_SERVER_BIN) and flags ($TLS_SERVER_ARGS).
//
// What they check (issue 12): curl over HTTPS (a small file and 1 MiB, so a body
// bigger than one TLS record and than the socket buffers); plain HTTP to the TLS
// port gets the 400; garbage is dropped; a client that stalls mid-handshake is
// dropped by the timeout while another client is served; a reset mid-handshake
// costs nothing; mutual TLS (require: no certificate, another CA's and an expired
// one refused, a good one served with its subject in the access log; optional:
// a client without one served); session resumption with a ticket; ALPN
// http/1.1; the counters in /-/metrics.
//
// Certificates come from tools/make-test-certs.sh, made once per process in a
// temporary directory. Servers bind 127.0.0.1:0 with --header-timeout 1 (which
// is also the handshake's timeout). curl is Debian's (/usr/bin/curl).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "serverlab/tls/context.hpp"
#include "serverlab/tls/session.hpp"
#include "serverlab/tls/stream.hpp"
#include "temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::ProgramResult;
using serverlab::testing::ServerProcess;
using serverlab::testing::TempDir;
namespace tls = serverlab::tls;

// The certificates (ca.pem, server-chain.pem, client.pem, stranger.pem, ...).
const std::string& certs() {
  static TempDir dir("tls-servers-certs");
  static const bool made = [] {
    std::string cmd = std::string(SERVERLAB_SOURCE_DIR) + "/tools/make-test-certs.sh '" +
                      dir.path() + "' >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
    return true;
  }();
  (void)made;
  return dir.path();
}
std::string cert(const std::string& name) { return certs() + "/" + name; }

// A client trusting the test CA, without a certificate of its own.
tls::ClientOptions client_options() {
  tls::ClientOptions o;
  o.ca_file = cert("ca.pem");
  return o;
}

// Bytes that differ from position to position, so a dropped or repeated record shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The access log's text once it holds `text`, or what it holds after 10 s: a file log
// is buffered and written within --access-log-flush (1 s) of a request.
std::string wait_for_text(const std::string& path, const std::string& text) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  std::string got = read_file(path);
  while (got.find(text) == std::string::npos && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
    got = read_file(path);
  }
  return got;
}

class TlsServer : public ::testing::Test {
 protected:
  TlsServer() : root_("tls-servers-root") {
    root_.write("a.txt", "alpha\n");
    root_.write("big.bin", pattern(1 << 20));
  }

  // Starts the stage's server with the test certificate and `extra` flags.
  void start(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{serverlab::testing::server_binary("TLS_SERVER_BIN", "")};
    for (auto& a : serverlab::testing::env_words("TLS_SERVER_ARGS")) argv.push_back(a);
    for (const char* a : {"--port", "0", "--log-level", "warn", "--header-timeout", "1"})
      argv.emplace_back(a);
    argv.insert(argv.end(), {"--root", root_.path(), "--access-log", log_path(), "--tls-cert",
                             cert("server-chain.pem"), "--tls-key", cert("server.key")});
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ServerProcess>(argv);
  }

  // Every test ends with a clean stop: exit 0 (a sanitizer's report at exit fails it too).
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
    }
  }

  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::string log_path() const { return root_.path("../" + log_name_); }

  // curl --cacert ca.pem [args] URL; status 0 means the transfer worked.
  ProgramResult curl(const std::string& path, const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv{"/usr/bin/curl", "-sS",         "--max-time", "10",
                                  "--cacert",      cert("ca.pem")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(url(path));
    return serverlab::testing::run_program(argv, "", 15s);
  }

  // A counter from /-/metrics (-1 when it cannot be read).
  long metric(const std::string& name) {
    ProgramResult r = curl("/-/metrics");
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(name + " ", 0) == 0) return std::stol(line.substr(name.size() + 1));
    }
    return -1;
  }
  // Waits (bounded) until the counter reaches at least `at_least`; returns its last value.
  long metric_reaches(const std::string& name, long at_least) {
    long v = -1;
    for (int i = 0; i < 30 && (v = metric(name)) < at_least; ++i)
      std::this_thread::sleep_for(100ms);
    return v;
  }

  // The first bytes a real client sends: a ClientHello.
  static std::string client_hello() {
    static const tls::TlsContext context = tls::TlsContext::client(client_options());
    tls::TlsSession s(context, "127.0.0.1");
    s.advance();
    return s.take_output();
  }

  TempDir root_;
  std::string log_name_ = "access-" + std::to_string(::getpid()) + ".log";
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TlsServer, CurlGetsSmallAndLargeFilesOverHttps) {
  start();
  ProgramResult small = curl("/a.txt");
  ASSERT_EQ(small.status, 0) << small.err;
  EXPECT_EQ(small.out, "alpha\n");
  ProgramResult big = curl("/big.bin");  // 64 records, more than the socket buffers hold
  ASSERT_EQ(big.status, 0) << big.err;
  EXPECT_TRUE(big.out == pattern(1 << 20))
      << "the 1 MiB body differs (" << big.out.size() << " bytes came)";
  EXPECT_GE(metric("serverlab_tls_handshakes_total"), 2);
}

TEST_F(TlsServer, PlainHttpOnTheTlsPortGetsA400InClearText) {
  start();
  Fd fd = server_->connect();
  ASSERT_TRUE(serverlab::testing::send_all(fd.get(), "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string answer = serverlab::testing::recv_until_eof(fd.get(), 5s);
  EXPECT_EQ(answer, tls::kPlainHttpResponse) << serverlab::testing::escape_bytes(answer);
  EXPECT_EQ(curl("/a.txt").out, "alpha\n");
  EXPECT_GE(metric("serverlab_tls_handshake_failures_plain_http_total"), 1);
}

TEST_F(TlsServer, GarbageIsDroppedAndTheServerGoesOn) {
  start();
  Fd fd = server_->connect();
  ASSERT_TRUE(serverlab::testing::send_all(
      fd.get(), std::string("\x16\x03\x01\x00\x08", 5) + "garbage!garbage!"));
  EXPECT_TRUE(serverlab::testing::wait_for_eof(fd.get(), 5s)) << "garbage kept the connection";
  EXPECT_EQ(curl("/a.txt").out, "alpha\n");
  long failed = metric("serverlab_tls_handshake_failures_not_tls_total") +
                metric("serverlab_tls_handshake_failures_protocol_total");
  EXPECT_GE(failed, 1);
}

TEST_F(TlsServer, StalledHandshakeIsDroppedByTheTimeoutWhileOthersAreServed) {
  start();
  Fd stalled = server_->connect();
  const std::string hello = client_hello();
  ASSERT_TRUE(serverlab::testing::send_all(stalled.get(), hello.substr(0, hello.size() / 2)));
  // Another client is served meanwhile (a sequential server serves it once the
  // stalled one is dropped, about a second later: still well inside curl's 10 s).
  ProgramResult other = curl("/a.txt");
  EXPECT_EQ(other.status, 0) << other.err;
  EXPECT_EQ(other.out, "alpha\n");
  EXPECT_TRUE(serverlab::testing::wait_for_eof(stalled.get(), 5s))
      << "a handshake stalled half-way was not dropped (--header-timeout 1)";
  EXPECT_GE(metric_reaches("serverlab_tls_handshake_failures_timeout_total", 1), 1);
}

TEST_F(TlsServer, ResetMidHandshakeCostsNothing) {
  start();
  // Each client sends its ClientHello, waits for the server's first flight (so
  // the server is mid-handshake, waiting for the client's Finished), then resets.
  for (int i = 0; i < 3; ++i) {
    Fd fd = server_->connect();
    ASSERT_TRUE(serverlab::testing::send_all(fd.get(), client_hello()));
    ASSERT_FALSE(serverlab::testing::recv_exact(fd.get(), 1, 5s).empty()) << "no ServerHello";
    serverlab::testing::reset_connection(fd);
  }
  EXPECT_EQ(curl("/a.txt").out, "alpha\n");
  EXPECT_GE(metric_reaches("serverlab_tls_handshake_failures_peer_closed_total", 3), 3);
  EXPECT_TRUE(server_->running());
}

TEST_F(TlsServer, MutualTlsRequireRefusesMissingForeignAndExpiredCertificates) {
  start({"--tls-client-ca", cert("ca.pem"), "--tls-verify-client", "require"});
  EXPECT_NE(curl("/a.txt").status, 0) << "served without a client certificate";
  EXPECT_NE(curl("/a.txt", {"--cert", cert("stranger.pem"), "--key", cert("stranger.key")}).status,
            0)
      << "served a certificate from another CA";
  EXPECT_NE(curl("/a.txt", {"--cert", cert("expired.pem"), "--key", cert("expired.key")}).status, 0)
      << "served an expired certificate";
  const std::vector<std::string> good{"--cert", cert("client.pem"), "--key", cert("client.key")};
  ProgramResult ok = curl("/a.txt", good);
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, "alpha\n");
  // The subject, escaped to one field, in the access log's user position.
  const std::string user = " - O=serverlab\\x20test,CN=serverlab\\x20test\\x20client [";
  const std::string log = wait_for_text(log_path(), user);
  EXPECT_NE(log.find(user), std::string::npos)
      << log;
  ProgramResult m = curl("/-/metrics", good);
  EXPECT_NE(m.out.find("serverlab_tls_handshake_failures_peer_certificate_total "),
            std::string::npos);
  EXPECT_EQ(m.out.find("serverlab_tls_handshake_failures_peer_certificate_total 0"),
            std::string::npos)
      << "the refused certificates were not counted";
  ::unlink(log_path().c_str());
}

TEST_F(TlsServer, MutualTlsOptionalLetsAClientWithoutCertificateIn) {
  start({"--tls-client-ca", cert("ca.pem"), "--tls-verify-client", "optional"});
  ProgramResult r = curl("/a.txt");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "alpha\n");
  EXPECT_NE(curl("/a.txt", {"--cert", cert("stranger.pem"), "--key", cert("stranger.key")}).status,
            0)
      << "optional still refuses a bad certificate";
  EXPECT_NE(wait_for_text(log_path(), "127.0.0.1 - - [").find("127.0.0.1 - - ["),
            std::string::npos);
  ::unlink(log_path().c_str());
}

// Two connections with our own client: the second offers the first's ticket.
TEST_F(TlsServer, SessionIsResumedWithATicketAndAlpnIsHttp11) {
  start();
  const tls::TlsContext context = tls::TlsContext::client(client_options());
  tls::Ticket ticket;
  for (int round = 0; round < 2; ++round) {
    Fd fd = server_->connect();
    tls::TlsSession session(context, "127.0.0.1", ticket);
    tls::TlsStream stream(fd.get(), session);
    ASSERT_TRUE(stream.handshake(5000)) << session.error();
    EXPECT_EQ(session.alpn(), "http/1.1");
    EXPECT_EQ(session.resumed(), round == 1) << "round " << round;
    ASSERT_TRUE(
        stream.write_n("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").is_ok());
    std::string response;
    char buf[4096];
    for (;;) {  // until the server closes; the ticket comes with the first records
      serverlab::IoResult r = stream.read_some(buf, sizeof buf);
      if (!r.is_ok()) break;
      response.append(buf, r.bytes);
    }
    EXPECT_NE(response.find("\r\n\r\nalpha\n"), std::string::npos) << response;
    ticket = session.ticket();
    ASSERT_TRUE(ticket) << "no ticket after round " << round;
  }
  EXPECT_GE(metric("serverlab_tls_resumptions_total"), 1);
}

}  // namespace
