// The stage 1 echo suite's main cases over TLS: echo-server with --tls-cert/--tls-key
// (and --tls-client-ca/--tls-verify-client for mutual TLS), against a TLS client made
// here from common's TlsSession/TlsStream and against `echo-client --tls`. The
// certificates are made fresh by tools/make-test-certs.sh in the build tree when the
// suite starts. Loopback only; every wait is bounded.
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server_process.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/tls/context.hpp"
#include "serverlab/tls/session.hpp"
#include "serverlab/tls/stream.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::IoResult;
using serverlab::testing::ProgramResult;
using serverlab::testing::ServerProcess;
using serverlab::testing::run_program;
namespace tls = serverlab::tls;

const std::string kCerts = ECHO_TLS_CERT_DIR;
std::string cert(const std::string& name) { return kCerts + "/" + name; }

std::string server_bin() {
  return serverlab::testing::server_binary("SERVERLAB_ECHO_SERVER", ECHO_SERVER_DEFAULT_BIN);
}
std::string client_bin() {
  return serverlab::testing::client_binary("SERVERLAB_ECHO_CLIENT", ECHO_CLIENT_DEFAULT_BIN);
}

class EchoTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ProgramResult made = run_program({"/bin/bash", MAKE_TEST_CERTS, kCerts}, "", 60s);
    ASSERT_EQ(made.status, 0) << made.err;
  }

  static ServerProcess start(std::vector<std::string> extra) {
    std::vector<std::string> argv{server_bin(), "--port", "0", "--log-level", "warn",
                                  "--tls-cert", cert("server.pem"), "--tls-key", cert("server.key")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return ServerProcess(argv);
  }
};

// A TLS connection to the server, made with common's client side.
struct Client {
  explicit Client(const ServerProcess& server, const std::string& client_cert = "")
      : ctx(make_ctx(client_cert)), fd(server.connect()), session(ctx, "127.0.0.1"),
        stream(fd.get(), session) {}
  static tls::TlsContext make_ctx(const std::string& client_cert) {
    tls::ClientOptions options;
    options.ca_file = cert("ca.pem");
    if (!client_cert.empty()) {
      options.cert_file = cert(client_cert + ".pem");
      options.key_file = cert(client_cert + ".key");
    }
    options.alpn.clear();
    return tls::TlsContext::client(options);
  }
  // Sends `bytes` and reads `reply_size` bytes back ("" with the failure on error).
  std::string exchange(std::string_view bytes, std::size_t reply_size) {
    if (!stream.write_n(bytes).is_ok()) return "<write failed>";
    std::string reply(reply_size, '\0');
    IoResult r = stream.read_n(reply.data(), reply_size);
    return r.is_ok() ? reply : "<read failed: " + session.error() + ">";
  }
  tls::TlsContext ctx;
  Fd fd;
  tls::TlsSession session;
  tls::TlsStream stream;
};

std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
  return s;
}

TEST_F(EchoTls, RawEchoesEveryByteValueAndAMebibyteInBothModes) {
  for (const char* mode : {"iterative", "thread"}) {
    ServerProcess server = start({"--concurrency", mode});
    Client c(server);
    ASSERT_TRUE(c.stream.handshake(5000)) << c.session.error();
    EXPECT_EQ(c.exchange(all_bytes(), 256), all_bytes()) << mode;
    std::string big;
    for (int i = 0; i < (1 << 20); ++i) big += static_cast<char>((i * 7) & 0xff);
    std::string back;
    for (std::size_t at = 0; at < big.size(); at += 65536)  // lock step: no deadlock
      back += c.exchange(std::string_view(big).substr(at, 65536), 65536);
    EXPECT_TRUE(back == big) << mode << ": 1 MiB came back different";
    c.stream.close();
    EXPECT_EQ(server.stop(), 0);
  }
}

TEST_F(EchoTls, LineFramingEchoesWholeLinesAndRefusesLongOnes) {
  ServerProcess server = start({"--framing", "line", "--max-frame", "64"});
  Client c(server);
  ASSERT_TRUE(c.stream.handshake(5000));
  EXPECT_EQ(c.exchange("one\ntwo\nthr", 8), "one\ntwo\n");  // "thr" waits for its '\n'
  EXPECT_EQ(c.exchange("ee\n", 6), "three\n");
  ASSERT_TRUE(c.stream.write_n(std::string(100, 'x')).is_ok());
  char byte;
  EXPECT_FALSE(c.stream.read_some(&byte, 1).is_ok()) << "an over-long line must close the connection";
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(EchoTls, LengthFramingEchoesFramesIncludingEmptyOnes) {
  ServerProcess server = start({"--framing", "length", "--concurrency", "thread"});
  Client c(server);
  ASSERT_TRUE(c.stream.handshake(5000));
  std::string frames = serverlab::encode_frame("hello") + serverlab::encode_frame("") +
                       serverlab::encode_frame(all_bytes());
  EXPECT_EQ(c.exchange(frames, frames.size()), frames);
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(EchoTls, APlainClientIsRefusedAndTheServerGoesOn) {
  ServerProcess server = start({"--concurrency", "thread"});
  {
    Fd plain = server.connect();
    ASSERT_TRUE(serverlab::testing::send_all(plain.get(), "hello, no TLS here\n"));
    EXPECT_TRUE(serverlab::testing::wait_for_eof(plain.get(), 10s));
  }
  Client c(server);
  ASSERT_TRUE(c.stream.handshake(5000)) << c.session.error();
  EXPECT_EQ(c.exchange("still here", 10), "still here");
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(EchoTls, EchoClientOverTlsInEachFraming) {
  for (const char* framing : {"raw", "line", "length"}) {
    ServerProcess server = start({"--framing", framing});
    ProgramResult r = run_program({client_bin(), "--addr", server.address(), "--framing", framing, "--tls",
                                   "--ca", cert("ca.pem")},
                                  "alpha\nbeta\n", 20s);
    EXPECT_EQ(r.status, 0) << framing << ": " << r.err;
    EXPECT_EQ(r.out, "alpha\nbeta\n") << framing;
    EXPECT_EQ(server.stop(), 0);
  }
}

TEST_F(EchoTls, EchoClientRefusesAServerItCannotVerify) {
  ServerProcess server = start({});
  ProgramResult r = run_program({client_bin(), "--addr", server.address(), "--tls", "--ca", cert("other-ca.pem")},
                                "x\n", 20s);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("echo-client: TLS handshake with " + server.address() + " failed: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(EchoTls, MutualTlsRequiresAClientCertificate) {
  ServerProcess server = start({"--tls-client-ca", cert("ca.pem"), "--tls-verify-client", "require",
                                "--concurrency", "thread"});
  std::vector<std::string> argv{client_bin(), "--addr", server.address(), "--tls", "--ca", cert("ca.pem")};
  ProgramResult without = run_program(argv, "x\n", 20s);
  EXPECT_EQ(without.status, 1) << without.out;
  EXPECT_EQ(without.err.rfind("echo-client: ", 0), 0u) << without.err;
  argv.insert(argv.end(), {"--cert", cert("client.pem"), "--key", cert("client.key")});
  ProgramResult with = run_program(argv, "x\n", 20s);
  EXPECT_EQ(with.status, 0) << with.err;
  EXPECT_EQ(with.out, "x\n");
  argv.end()[-3] = cert("stranger.pem");
  argv.end()[-1] = cert("stranger.key");
  EXPECT_EQ(run_program(argv, "x\n", 20s).status, 1) << "a certificate from another CA must be refused";
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(EchoTls, BadTlsFlagsExitTwoAndBadFilesExitOne) {
  using serverlab::testing::run_to_exit;
  EXPECT_EQ(run_to_exit({server_bin(), "--tls-cert", cert("server.pem")}), 2);  // no --tls-key
  EXPECT_EQ(run_to_exit({server_bin(), "--udp", "--tls-cert", cert("server.pem"), "--tls-key", cert("server.key")}), 2);
  EXPECT_EQ(run_to_exit({server_bin(), "--port", "0", "--tls-cert", cert("server.pem"), "--tls-key", cert("wrong.key")}), 1);
  EXPECT_EQ(run_to_exit({client_bin(), "--ca", cert("ca.pem")}), 2);  // --ca without --tls
  EXPECT_EQ(run_to_exit({client_bin(), "--tls", "--cert", cert("client.pem")}), 2);  // no --key
}

TEST_F(EchoTls, SigtermLetsAnIdleTlsClientGoAtOnce) {
  ServerProcess server = start({"--concurrency", "thread"});
  Client c(server);
  ASSERT_TRUE(c.stream.handshake(5000));
  EXPECT_EQ(c.exchange("hi", 2), "hi");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s) << "the idle client was not let go at once";
}

}  // namespace
