// tls_stream_test.cpp: TlsStream over real descriptors: a socketpair, TCP on
// loopback (for a reset), and the openssl command-line client against a tiny
// echo server built on the layer.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include "serverlab/fd.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/tls/stream.hpp"
#include "tls_test_support.hpp"

namespace {

using namespace serverlab;
using namespace serverlab::tls;
using namespace serverlab::tls::testing;

struct Pair {
  Fd a, b;
};
Pair socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw std::runtime_error("socketpair");
  return {Fd(fds[0]), Fd(fds[1])};
}

// What the echo server saw of one connection.
struct Served {
  bool open = false;
  Failure failure = Failure::None;
  std::string error;
  std::string alpn;
  std::string subject;
  std::string received;
};

// Serves one connection on `fd` (and closes it): handshake, then echoes
// everything until the peer closes, or only the first line if `one_line`.
Served echo_once(Fd fd, const TlsContext& ctx, int handshake_ms, bool one_line = false) {
  Served out;
  TlsSession session(ctx);
  TlsStream tls(fd.get(), session);
  out.open = tls.handshake(handshake_ms);
  out.failure = session.failure();
  out.error = session.error();
  if (!out.open) return out;
  out.alpn = std::string(session.alpn());
  out.subject = session.peer_subject();
  char buf[8192];
  for (;;) {
    IoResult r = tls.read_some(buf, sizeof buf);
    if (!r.is_ok()) break;
    out.received.append(buf, r.bytes);
    if (!tls.write_n(buf, r.bytes).is_ok()) break;
    if (one_line && out.received.find('\n') != std::string::npos) break;
  }
  tls.close();
  return out;
}

// Reads a plain (not TLS) descriptor until EOF.
std::string read_to_eof(int fd) {
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) all.append(buf, static_cast<std::size_t>(n));
  return all;
}

TEST(TlsStream, HandshakeAndEchoOverASocketpair) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  Pair p = socket_pair();
  auto served = std::async(std::launch::async, echo_once, std::move(p.b), std::cref(server_ctx), 10000, false);

  TlsSession session(client_ctx, "127.0.0.1");
  TlsStream tls(p.a.get(), session);
  ASSERT_TRUE(tls.handshake(10000)) << session.error();
  ASSERT_TRUE(tls.write_n("hello\n").is_ok());
  char line[6];
  ASSERT_TRUE(tls.read_n(line, sizeof line).is_ok());
  EXPECT_EQ(std::string(line, sizeof line), "hello\n");

  // More than one record each way: writes are cut into records, reads gather them.
  std::string big(100 * 1000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(tls.write_n(big).is_ok());
  std::string back(big.size(), '\0');
  ASSERT_TRUE(tls.read_n(back.data(), back.size()).is_ok());
  EXPECT_EQ(back, big);

  tls.close();  // the server reads Eof and ends
  Served s = served.get();
  EXPECT_TRUE(s.open);
  EXPECT_EQ(s.received, "hello\n" + big);
  EXPECT_EQ(s.alpn, "http/1.1");
  char after;
  EXPECT_TRUE(tls.read_some(&after, 1).is_eof());  // the server's close_notify
}

TEST(TlsStream, PlainHttpGetsA400InClearText) {
  TlsContext server_ctx = TlsContext::server(server_options());
  Pair p = socket_pair();
  auto served = std::async(std::launch::async, echo_once, std::move(p.b), std::cref(server_ctx), 10000, false);
  ASSERT_TRUE(write_n(p.a.get(), "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").is_ok());
  std::string answer = read_to_eof(p.a.get());  // the server closes after answering
  EXPECT_EQ(answer, kPlainHttpResponse);
  Served s = served.get();
  EXPECT_FALSE(s.open);
  EXPECT_EQ(s.failure, Failure::PlainHttp);
  EXPECT_EQ(server_ctx.counters().failed(Failure::PlainHttp), 1u);
}

TEST(TlsStream, StalledHandshakeTimesOut) {
  TlsContext server_ctx = TlsContext::server(server_options());
  Pair p = socket_pair();  // p.a never says anything
  Served s = echo_once(std::move(p.b), server_ctx, 200);
  EXPECT_FALSE(s.open);
  EXPECT_EQ(s.failure, Failure::Timeout) << s.error;
  EXPECT_EQ(server_ctx.counters().failed(Failure::Timeout), 1u);
}

// A client that sends half a ClientHello and then resets the TCP connection
// (SO_LINGER 0) costs one failed handshake; the next client is served.
TEST(TlsStream, ResetMidHandshakeCostsNothing) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  Fd listener = listen_tcp("127.0.0.1", 0);
  const std::uint16_t port = local_address(listener.get()).port();
  auto server = std::async(std::launch::async, [&] {
    Served first = echo_once(Fd(::accept(listener.get(), nullptr, nullptr)), server_ctx, 10000);
    Served second = echo_once(Fd(::accept(listener.get(), nullptr, nullptr)), server_ctx, 10000);
    return std::make_pair(first, second);
  });

  TlsSession hello_maker(client_ctx, "127.0.0.1");
  hello_maker.advance();
  std::string hello = hello_maker.take_output();
  {
    Fd rude = connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(write_n(rude.get(), hello.substr(0, hello.size() / 2)).is_ok());
    linger reset{1, 0};
    ::setsockopt(rude.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }  // closing with linger 0 sends RST
  Fd polite = connect_tcp("127.0.0.1", port);
  TlsSession session(client_ctx, "127.0.0.1");
  TlsStream tls(polite.get(), session);
  ASSERT_TRUE(tls.handshake(10000)) << session.error();
  ASSERT_TRUE(tls.write_n("still here\n").is_ok());
  tls.close();
  auto [first, second] = server.get();
  EXPECT_FALSE(first.open);
  EXPECT_EQ(first.failure, Failure::PeerClosed) << first.error;
  EXPECT_TRUE(second.open) << second.error;
  EXPECT_EQ(second.received, "still here\n");
  EXPECT_EQ(server_ctx.counters().handshakes.load(), 1u);
}

// One step of an event-loop driver, as stage 4 would run it on a readiness
// event: receive what the non-blocking socket has, advance, send the output.
// Returns the poll events the session wants next.
short step(int fd, TlsSession& s, std::string& plaintext) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) s.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    if (n == 0) s.feed_eof();
    if (n <= 0) break;
  }
  if (s.state() == TlsSession::State::Handshaking) s.advance();
  if (s.state() == TlsSession::State::Open) plaintext += read_all(s);
  while (s.wants_write()) {
    std::size_t n = s.take_output(buf, sizeof buf);
    EXPECT_EQ(::send(fd, buf, n, MSG_NOSIGNAL), static_cast<ssize_t>(n));  // small: fits the buffer
  }
  return static_cast<short>((s.wants_read() ? POLLIN : 0) | (s.wants_write() ? POLLOUT : 0));
}

// Both ends non-blocking in one thread, each waiting only for what its
// session's wants_read()/wants_write() ask: the interest set alone carries
// the handshake and the data through.
TEST(TlsStream, NonBlockingDriverFollowsTheInterestSet) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  Pair p = socket_pair();
  set_nonblocking(p.a.get());
  set_nonblocking(p.b.get());
  TlsSession client(client_ctx, "127.0.0.1");
  TlsSession server(server_ctx);
  std::string at_client, at_server;
  pollfd fds[2] = {{p.a.get(), step(p.a.get(), client, at_client), 0},
                   {p.b.get(), step(p.b.get(), server, at_server), 0}};
  bool sent = false;
  for (int round = 0; round < 100 && at_client != "pong"; ++round) {
    ASSERT_GT(::poll(fds, 2, 5000), 0) << "no progress: both sides wait (round " << round << ")";
    if (fds[0].revents) fds[0].events = step(p.a.get(), client, at_client);
    if (fds[1].revents) fds[1].events = step(p.b.get(), server, at_server);
    if (!sent && client.state() == TlsSession::State::Open) {
      client.write("ping");
      fds[0].events = step(p.a.get(), client, at_client);
      sent = true;
    }
    if (at_server == "ping") {
      server.write("pong");
      at_server.clear();
      fds[1].events = step(p.b.get(), server, at_server);
    }
  }
  EXPECT_EQ(client.state(), TlsSession::State::Open) << client.error();
  EXPECT_EQ(server.state(), TlsSession::State::Open) << server.error();
  EXPECT_EQ(at_client, "pong");
}

// The real thing: `openssl s_client`, with a client certificate, ALPN and
// hostname verification, against an echo server built on TlsStream.
TEST(TlsStream, OpensslClientCompletesAHandshake) {
  TlsContext server_ctx = TlsContext::server(mtls_options(VerifyClient::Require));
  Fd listener = listen_tcp("127.0.0.1", 0);
  const std::uint16_t port = local_address(listener.get()).port();
  auto served = std::async(std::launch::async, [&] {
    return echo_once(Fd(::accept(listener.get(), nullptr, nullptr)), server_ctx, 10000, true);
  });
  // -quiet implies -ign_eof: s_client waits for the server to close, so
  // everything echoed is in its output. `timeout` turns a hang into a failure.
  std::string cmd = "printf 'ping\\n' | timeout 20 openssl s_client -brief -quiet -connect 127.0.0.1:" +
                    std::to_string(port) + " -verify_return_error -verify_ip 127.0.0.1 -CAfile " +
                    cert("ca.pem") + " -cert " + cert("client.pem") + " -key " + cert("client.key") +
                    " -alpn http/1.1 2>&1";
  std::FILE* out = ::popen(cmd.c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string text;
  char buf[512];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, out)) text.append(buf, n);
  int status = ::pclose(out);
  Served s = served.get();
  EXPECT_EQ(status, 0) << text;
  EXPECT_NE(text.find("Verification: OK"), std::string::npos) << text;
  EXPECT_NE(text.find("ping\n"), std::string::npos) << text;
  ASSERT_TRUE(s.open) << s.error;
  EXPECT_EQ(s.received, "ping\n");
  EXPECT_EQ(s.alpn, "http/1.1");
  EXPECT_NE(s.subject.find("CN=serverlab test client"), std::string::npos) << s.subject;
}

}  // namespace
