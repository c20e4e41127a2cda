// tls_session_test.cpp: TlsSession with no socket: a client session and a
// server session talk through pump(), or through bytes moved by hand to pin
// down the session's own buffers (partial reads, records split across feeds,
// output sent in parts while more is written).
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <string>

#include "serverlab/tls/context.hpp"
#include "serverlab/tls/session.hpp"
#include "tls_test_support.hpp"

namespace {

using namespace serverlab::tls;
using namespace serverlab::tls::testing;
using State = TlsSession::State;

TEST(TlsSession, HandshakeThenDataBothWays) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "127.0.0.1");
  EXPECT_TRUE(server.wants_read());  // a server waits for the ClientHello
  pump(client, server);
  ASSERT_EQ(client.state(), State::Open) << client.error();
  ASSERT_EQ(server.state(), State::Open) << server.error();
  EXPECT_EQ(server.version(), "TLSv1.3");
  EXPECT_FALSE(server.resumed());
  EXPECT_EQ(server.peer_subject(), "");  // no client certificate asked for

  ASSERT_EQ(client.write("ping\n").status, TlsSession::Io::Status::Ok);
  EXPECT_TRUE(client.wants_write());
  server.feed(client.take_output());
  EXPECT_FALSE(client.wants_write());
  EXPECT_EQ(read_all(server), "ping\n");
  EXPECT_TRUE(server.wants_read());
  server.write("pong\n");
  client.feed(server.take_output());
  EXPECT_EQ(read_all(client), "pong\n");

  client.close();  // close_notify reaches the server as a clean Closed
  server.feed(client.take_output());
  char buf[16];
  EXPECT_EQ(server.read(buf, sizeof buf).status, TlsSession::Io::Status::Closed);
  EXPECT_EQ(server_ctx.counters().handshakes.load(), 1u);
}

// Two open sessions, for the buffer tests below.
struct OpenPair {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  TlsSession server{server_ctx};
  TlsSession client{client_ctx, "127.0.0.1"};
  OpenPair() {
    pump(client, server);
    EXPECT_EQ(client.state(), State::Open) << client.error();
    EXPECT_EQ(server.state(), State::Open) << server.error();
    (void)read_all(client);  // the TLS 1.3 tickets that follow the handshake
  }
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

// One record fed a byte at a time: nothing to read until its last byte, then
// all of it; and a read into a small buffer takes the plaintext in parts.
TEST(TlsSessionBuffers, RecordSplitAcrossFeedsAndReadInParts) {
  OpenPair p;
  ASSERT_EQ(p.client.write("hello, split record").status, TlsSession::Io::Status::Ok);
  const std::string record = p.client.take_output();
  ASSERT_GT(record.size(), 20u);
  char buf[4];
  for (std::size_t i = 0; i + 1 < record.size(); ++i) {
    p.server.feed(record.substr(i, 1));
    ASSERT_EQ(p.server.read(buf, sizeof buf).status, TlsSession::Io::Status::WantRead) << i;
  }
  p.server.feed(record.substr(record.size() - 1));
  std::string got;
  for (;;) {
    TlsSession::Io io = p.server.read(buf, sizeof buf);
    if (io.status != TlsSession::Io::Status::Ok) break;
    EXPECT_LE(io.bytes, sizeof buf);
    got.append(buf, io.bytes);
  }
  EXPECT_EQ(got, "hello, split record");
  EXPECT_EQ(p.server.state(), State::Open) << p.server.error();
}

// Records fed in pieces that cut them anywhere (a piece may end one record and
// start the next): the plaintext comes out whole and in order.
TEST(TlsSessionBuffers, ManyRecordsFedInOddPieces) {
  OpenPair p;
  const std::string message = pattern(100 * 1024);  // several 16 KiB records
  ASSERT_EQ(p.client.write(message).status, TlsSession::Io::Status::Ok);
  const std::string wire = p.client.take_output();
  std::string got;
  for (std::size_t at = 0; at < wire.size(); at += 1000) {
    p.server.feed(std::string_view(wire).substr(at, 1000));
    got += read_all(p.server);
  }
  EXPECT_EQ(got.size(), message.size());
  EXPECT_TRUE(got == message);
  EXPECT_EQ(p.server.state(), State::Open) << p.server.error();
}

// Whole records OpenSSL has not read yet stay in place when more is fed:
// each feed below is read from only once (one record), so the next feed lands
// behind unread records.
TEST(TlsSessionBuffers, UnreadRecordsStayWhenMoreIsFed) {
  OpenPair p;
  const std::string message = pattern(120 * 1024);
  ASSERT_EQ(p.client.write(message).status, TlsSession::Io::Status::Ok);
  const std::string wire = p.client.take_output();
  std::string got;
  char buf[100];
  for (std::size_t at = 0; at < wire.size(); at += 40000) {
    p.server.feed(std::string_view(wire).substr(at, 40000));
    TlsSession::Io io = p.server.read(buf, sizeof buf);
    ASSERT_EQ(io.status, TlsSession::Io::Status::Ok) << p.server.error();
    got.append(buf, io.bytes);
  }
  got += read_all(p.server);
  EXPECT_EQ(got.size(), message.size());
  EXPECT_TRUE(got == message);
  EXPECT_EQ(p.server.state(), State::Open) << p.server.error();
}

// The output is sent in parts, as a socket that takes only some of it would,
// while more is written behind it: the pending bytes stay in place and in
// order, pending_output() counts what is left, and the buffer grows past its
// first size without losing anything.
TEST(TlsSessionBuffers, OutputSentInPartsWhileMoreIsWritten) {
  OpenPair p;
  const std::string first = pattern(20 * 1024);
  const std::string second = pattern(300 * 1024).substr(5);
  ASSERT_EQ(p.server.write(first).status, TlsSession::Io::Status::Ok);
  const std::size_t first_wire = p.server.pending_output();
  ASSERT_GT(first_wire, first.size());

  std::string wire;  // what "the socket" took, in order
  const std::string_view head = p.server.peek_output();
  wire.append(head.substr(0, 777));
  p.server.consume_output(777);
  EXPECT_EQ(p.server.pending_output(), first_wire - 777);
  EXPECT_EQ(p.server.peek_output().size(), first_wire - 777);

  ASSERT_EQ(p.server.write(second).status, TlsSession::Io::Status::Ok);  // grows the buffer
  EXPECT_GT(p.server.pending_output(), first_wire - 777 + second.size());
  while (p.server.pending_output() > 0) {
    const std::string_view out = p.server.peek_output();
    const std::size_t n = std::min<std::size_t>(out.size(), 4093);
    wire.append(out.substr(0, n));
    p.server.consume_output(n);
  }
  EXPECT_FALSE(p.server.wants_write());
  EXPECT_EQ(p.server.peek_output(), "");

  p.client.feed(wire);
  const std::string got = read_all(p.client);
  EXPECT_EQ(got.size(), first.size() + second.size());
  EXPECT_TRUE(got == first + second);
  EXPECT_EQ(p.client.state(), State::Open) << p.client.error();
}

// take_output(dst, n) copies and drops at most n bytes; trim() keeps pending
// bytes, frees the buffers once they are empty, and the session goes on.
TEST(TlsSessionBuffers, TakeOutputInPartsAndTrim) {
  OpenPair p;
  ASSERT_EQ(p.server.write("first").status, TlsSession::Io::Status::Ok);
  const std::string all(p.server.peek_output());
  char part[10];
  ASSERT_EQ(p.server.take_output(part, sizeof part), sizeof part);
  EXPECT_EQ(std::string(part, sizeof part), all.substr(0, sizeof part));
  p.server.trim();  // output pending: nothing may be dropped
  EXPECT_EQ(p.server.pending_output(), all.size() - sizeof part);
  std::string wire(part, sizeof part);
  wire += p.server.take_output();
  EXPECT_EQ(wire, all);
  p.server.trim();
  p.client.feed(wire);
  EXPECT_EQ(read_all(p.client), "first");

  ASSERT_EQ(p.server.write("second").status, TlsSession::Io::Status::Ok);
  p.client.feed(p.server.take_output());
  EXPECT_EQ(read_all(p.client), "second");
  ASSERT_EQ(p.client.write("back").status, TlsSession::Io::Status::Ok);
  p.server.feed(p.client.take_output());
  EXPECT_EQ(read_all(p.server), "back");
}

TEST(TlsSession, ServerNameMustMatchTheCertificate) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "example.com");
  pump(client, server);
  EXPECT_EQ(client.state(), State::Failed);
  EXPECT_EQ(client.failure(), Failure::PeerCertificate) << client.error();
  EXPECT_NE(client.error().find("certificate verify failed"), std::string::npos) << client.error();

  TlsSession by_name(client_ctx, "localhost");  // the SAN has both
  TlsSession server2(server_ctx);
  pump(by_name, server2);
  EXPECT_EQ(by_name.state(), State::Open) << by_name.error();
}

TEST(TlsSession, AlpnPicksHttp11) {
  TlsContext server_ctx = TlsContext::server(server_options());
  ClientOptions co = client_options();
  co.alpn = {"h2", "http/1.1"};
  TlsContext client_ctx = TlsContext::client(co);
  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "127.0.0.1");
  pump(client, server);
  ASSERT_EQ(server.state(), State::Open) << server.error();
  EXPECT_EQ(server.alpn(), "http/1.1");
  EXPECT_EQ(client.alpn(), "http/1.1");
}

TEST(TlsSession, NoAlpnOfferedMeansNoneNegotiated) {
  TlsContext server_ctx = TlsContext::server(server_options());
  ClientOptions co = client_options();
  co.alpn.clear();
  TlsContext client_ctx = TlsContext::client(co);
  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "127.0.0.1");
  pump(client, server);
  ASSERT_EQ(server.state(), State::Open) << server.error();
  EXPECT_EQ(server.alpn(), "");
}

TEST(TlsSession, AlpnWithoutCommonProtocolIsRefused) {
  TlsContext server_ctx = TlsContext::server(server_options());
  ClientOptions co = client_options();
  co.alpn = {"h2"};
  TlsContext client_ctx = TlsContext::client(co);
  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "127.0.0.1");
  pump(client, server);
  EXPECT_EQ(server.state(), State::Failed);
  EXPECT_EQ(server.failure(), Failure::Protocol) << server.error();
  EXPECT_EQ(server_ctx.counters().failed(Failure::Protocol), 1u);
}

// A client that offers only TLS 1.1, made with OpenSSL directly (our own
// contexts cannot be configured that way).
TEST(TlsSession, Tls11IsRefused) {
  TlsContext server_ctx = TlsContext::server(server_options());
  SSL_CTX* old_ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(old_ctx, nullptr);
  SSL_CTX_set_min_proto_version(old_ctx, TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(old_ctx, TLS1_1_VERSION);
  SSL_CTX_set_cipher_list(old_ctx, "DEFAULT:@SECLEVEL=0");  // let it offer TLS 1.1 at all
  SSL* old = SSL_new(old_ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(old, in, out);
  SSL_set_connect_state(old);
  EXPECT_EQ(SSL_do_handshake(old), -1);  // wrote a ClientHello, wants the answer
  std::string hello(static_cast<std::size_t>(BIO_ctrl_pending(out)), '\0');
  ASSERT_GT(hello.size(), 0u);
  BIO_read(out, hello.data(), static_cast<int>(hello.size()));
  SSL_free(old);
  SSL_CTX_free(old_ctx);

  TlsSession server(server_ctx);
  server.feed(hello);
  EXPECT_EQ(server.advance(), State::Failed);
  EXPECT_EQ(server.failure(), Failure::Protocol) << server.error();
  EXPECT_NE(server.error().find("protocol"), std::string::npos) << server.error();
  EXPECT_TRUE(server.wants_write());  // a protocol_version alert for the client
  EXPECT_EQ(server_ctx.counters().failed(Failure::Protocol), 1u);
  EXPECT_EQ(server_ctx.counters().handshakes.load(), 0u);
}

TEST(TlsSession, TicketResumesTheSession) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  Ticket ticket;
  {
    TlsSession server(server_ctx);
    TlsSession client(client_ctx, "127.0.0.1");
    pump(client, server);
    ASSERT_EQ(client.state(), State::Open) << client.error();
    EXPECT_FALSE(client.resumed());
    read_all(client);  // a TLS 1.3 ticket arrives after the handshake
    ticket = client.ticket();
    ASSERT_TRUE(ticket) << "no resumable session after the handshake";
  }
  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "127.0.0.1", ticket);
  pump(client, server);
  ASSERT_EQ(server.state(), State::Open) << server.error();
  EXPECT_TRUE(client.resumed());
  EXPECT_TRUE(server.resumed());
  EXPECT_EQ(server_ctx.counters().handshakes.load(), 2u);
  EXPECT_EQ(server_ctx.counters().resumptions.load(), 1u);
}

TEST(TlsSession, TicketFromAnotherServerIsNotResumed) {
  TlsContext first_ctx = TlsContext::server(server_options());
  TlsContext other_ctx = TlsContext::server(server_options());  // its own ticket key
  TlsContext client_ctx = TlsContext::client(client_options());
  TlsSession first(first_ctx);
  TlsSession client(client_ctx, "127.0.0.1");
  pump(client, first);
  read_all(client);
  Ticket ticket = client.ticket();
  ASSERT_TRUE(ticket);
  TlsSession other(other_ctx);
  TlsSession again(client_ctx, "127.0.0.1", ticket);
  pump(again, other);
  ASSERT_EQ(other.state(), State::Open) << other.error();  // a full handshake instead
  EXPECT_FALSE(other.resumed());
  EXPECT_EQ(other_ctx.counters().resumptions.load(), 0u);
}

// --- mutual TLS ---

// Runs a handshake between a server requiring `mode` and a client presenting
// `client_cert` ("" for none); returns the server session's outcome.
struct MtlsResult {
  State state;
  Failure failure;
  std::string error;
  std::string subject;
};
MtlsResult mtls(VerifyClient mode, const std::string& client_cert) {
  TlsContext server_ctx = TlsContext::server(mtls_options(mode));
  TlsContext client_ctx = TlsContext::client(client_options(client_cert));
  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "127.0.0.1");
  pump(client, server);
  return {server.state(), server.failure(), server.error(), server.peer_subject()};
}

TEST(TlsMutual, GoodClientCertificateIsAcceptedWithItsSubject) {
  MtlsResult r = mtls(VerifyClient::Require, "client");
  ASSERT_EQ(r.state, State::Open) << r.error;
  EXPECT_NE(r.subject.find("CN=serverlab test client"), std::string::npos) << r.subject;
}

TEST(TlsMutual, MissingClientCertificateIsRefusedWhenRequired) {
  MtlsResult r = mtls(VerifyClient::Require, "");
  EXPECT_EQ(r.state, State::Failed);
  EXPECT_EQ(r.failure, Failure::PeerCertificate) << r.error;
}

TEST(TlsMutual, MissingClientCertificateIsFineWhenOptional) {
  MtlsResult r = mtls(VerifyClient::Optional, "");
  EXPECT_EQ(r.state, State::Open) << r.error;
  EXPECT_EQ(r.subject, "");
}

TEST(TlsMutual, CertificateFromAnotherCaIsRefused) {
  for (VerifyClient mode : {VerifyClient::Optional, VerifyClient::Require}) {
    MtlsResult r = mtls(mode, "stranger");
    EXPECT_EQ(r.state, State::Failed);
    EXPECT_EQ(r.failure, Failure::PeerCertificate) << r.error;
    EXPECT_NE(r.error.find("unable to get local issuer certificate"), std::string::npos) << r.error;
  }
}

TEST(TlsMutual, ExpiredCertificateIsRefused) {
  MtlsResult r = mtls(VerifyClient::Require, "expired");
  EXPECT_EQ(r.state, State::Failed);
  EXPECT_EQ(r.failure, Failure::PeerCertificate) << r.error;
  EXPECT_NE(r.error.find("expired"), std::string::npos) << r.error;
}

// --- bad peers ---

TEST(TlsSession, LooksLikePlainHttp) {
  EXPECT_TRUE(looks_like_plain_http("GET / HTTP/1.1\r\n"));
  EXPECT_TRUE(looks_like_plain_http("OPTIONS * HTTP/1.1\r\n"));
  EXPECT_TRUE(looks_like_plain_http("PO"));  // a prefix so far
  EXPECT_FALSE(looks_like_plain_http(""));
  EXPECT_FALSE(looks_like_plain_http("\x16\x03\x01\x02\x00"));  // a TLS handshake record
  EXPECT_FALSE(looks_like_plain_http("get / HTTP/1.1"));
  EXPECT_FALSE(looks_like_plain_http("GET\t/"));
  EXPECT_FALSE(looks_like_plain_http("ABCDEFGHI /"));  // longer than any method
}

TEST(TlsSession, PlainHttpIsDetected) {
  TlsContext server_ctx = TlsContext::server(server_options());
  for (const char* request : {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "OPTIONS * HTTP/1.1\r\n",
                              "DELETE /x HTTP/1.1\r\n", "P"}) {
    TlsSession server(server_ctx);
    server.feed(request);
    EXPECT_EQ(server.advance(), State::Failed) << request;
    EXPECT_EQ(server.failure(), Failure::PlainHttp) << request;
    EXPECT_FALSE(server.wants_read());
  }
  EXPECT_EQ(server_ctx.counters().failed(Failure::PlainHttp), 4u);
  // The canned answer is a well-formed 400 whose length is right.
  std::string_view answer = kPlainHttpResponse;
  std::size_t body = answer.find("\r\n\r\n") + 4;
  EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 400");
  EXPECT_NE(answer.find("Content-Length: " + std::to_string(answer.size() - body) + "\r\n"),
            std::string_view::npos);
}

TEST(TlsSession, GarbageIsRejectedAndOthersAreUnharmed) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  const std::string garbage[] = {
      std::string("\x00\x01\x02\x03\x04\x05\x06\x07", 8),
      "hello, is this TLS?\r\n",
      std::string("\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff", 10),  // a broken handshake record
      std::string("\x16\x03\x01\xff\xff", 5) + std::string(100, 'x'),  // a record too long
  };
  for (const std::string& g : garbage) {
    TlsSession server(server_ctx);
    server.feed(g);
    server.feed_eof();
    EXPECT_EQ(server.advance(), State::Failed) << "input: " << g;
    EXPECT_NE(server.failure(), Failure::None);
    EXPECT_NE(server.error(), "");
  }
  // A good client right after is served normally.
  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "127.0.0.1");
  pump(client, server);
  EXPECT_EQ(server.state(), State::Open) << server.error();
  EXPECT_EQ(server_ctx.counters().handshakes.load(), 1u);
}

// A ClientHello cut after every byte, then EOF: each ends Failed/PeerClosed,
// never Open, never stuck, never a crash.
TEST(TlsSession, HandshakeCutAtEveryByteEndsCleanly) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  TlsSession client(client_ctx, "127.0.0.1");
  client.advance();
  const std::string hello = client.take_output();
  ASSERT_GT(hello.size(), 100u);
  for (std::size_t cut = 0; cut < hello.size(); ++cut) {
    TlsSession server(server_ctx);
    server.feed(hello.substr(0, cut));
    EXPECT_EQ(server.advance(), State::Handshaking) << "cut at " << cut;
    EXPECT_TRUE(server.wants_read());
    server.feed_eof();
    EXPECT_EQ(server.advance(), State::Failed) << "cut at " << cut;
    EXPECT_EQ(server.failure(), Failure::PeerClosed) << "cut at " << cut << ": " << server.error();
  }
  EXPECT_EQ(server_ctx.counters().failed(Failure::PeerClosed), hello.size());
}

TEST(TlsSession, TimeoutIsAFailureOnlyWhileHandshaking) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  TlsSession stalled(server_ctx);
  stalled.fail_timeout();
  EXPECT_EQ(stalled.state(), State::Failed);
  EXPECT_EQ(stalled.failure(), Failure::Timeout);
  EXPECT_EQ(server_ctx.counters().failed(Failure::Timeout), 1u);

  TlsSession server(server_ctx);
  TlsSession client(client_ctx, "127.0.0.1");
  pump(client, server);
  server.fail_timeout();  // too late: the handshake is over
  EXPECT_EQ(server.state(), State::Open);
  EXPECT_EQ(server_ctx.counters().failed(Failure::Timeout), 1u);
}

TEST(TlsSession, WrongContextKindIsRefused) {
  TlsContext server_ctx = TlsContext::server(server_options());
  TlsContext client_ctx = TlsContext::client(client_options());
  EXPECT_THROW(TlsSession s(client_ctx), TlsError);
  EXPECT_THROW(TlsSession s(server_ctx, "127.0.0.1"), TlsError);
}

}  // namespace
