// unit_test.cpp: the proxy's pure pieces, without sockets: the hop-by-hop filter
// and forwarding fields, the picker's three modes, the circuit breaker, the
// response-head parser.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "breaker.hpp"
#include "header_filter.hpp"
#include "picker.hpp"
#include "response_head.hpp"

using namespace serverlab::proxy;

// ---------------------------------------------------------------- header filter

TEST(HopByHop, FixedNamesInAnyCase) {
  for (const char* name : {"Connection", "keep-alive", "TE", "trailer", "UPGRADE",
                           "Proxy-Authorization", "proxy-connection"}) {
    EXPECT_TRUE(is_hop_by_hop(name, "")) << name;
  }
  for (const char* name : {"Host", "Accept", "Content-Type", "Trailers", "Proxy", "X-Upgrade"}) {
    EXPECT_FALSE(is_hop_by_hop(name, "")) << name;
  }
}

TEST(HopByHop, NamesListedInConnection) {
  EXPECT_TRUE(is_hop_by_hop("X-Secret", "close, X-Secret"));
  EXPECT_TRUE(is_hop_by_hop("x-secret", " keep-alive ,X-SECRET ,"));
  EXPECT_FALSE(is_hop_by_hop("X-Secret2", "X-Secret"));
  EXPECT_FALSE(is_hop_by_hop("X-Sec", "X-Secret"));
}

TEST(ForwardField, FramingAndOwnFieldsAreNotCopied) {
  EXPECT_TRUE(forward_field("Accept", ""));
  for (const char* name : {"Content-Length", "transfer-encoding", "Host", "Forwarded",
                           "X-Forwarded-For", "x-forwarded-proto", "Via", "Connection"}) {
    EXPECT_FALSE(forward_field(name, "")) << name;
  }
}

TEST(Forwarding, AppendsToWhatCameBefore) {
  std::string out;
  ForwardInfo info;
  info.client_ip = "10.0.0.7";
  info.host = "example.test";
  info.prior_xff = "192.0.2.1";
  info.prior_via = "1.1 edge";
  append_forwarding(out, info);
  EXPECT_EQ(out,
            "X-Forwarded-For: 192.0.2.1, 10.0.0.7\r\n"
            "X-Forwarded-Proto: http\r\n"
            "Forwarded: for=10.0.0.7;proto=http;host=\"example.test\"\r\n"
            "Via: 1.1 edge, 1.1 serverlab-proxy\r\n");
}

TEST(Forwarding, Ipv6ClientIsQuotedInForwarded) {
  std::string out;
  ForwardInfo info;
  info.client_ip = "::1";
  info.version_minor = 0;
  append_forwarding(out, info);
  EXPECT_NE(out.find("Forwarded: for=\"[::1]\";proto=http\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Via: 1.0 serverlab-proxy\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Forwarded-For: ::1\r\n"), std::string::npos) << out;
}

// ---------------------------------------------------------------- picker

namespace {

std::vector<std::string> names(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("127.0.0.1:" + std::to_string(9000 + i));
  return out;
}

std::vector<std::size_t> counts(Picker& p, std::vector<Candidate> now, int picks,
                                std::string_view key = "") {
  std::vector<std::size_t> c(now.size(), 0);
  for (int i = 0; i < picks; ++i) {
    auto pick = p.pick(now, key);
    if (pick) ++c[*pick];
  }
  return c;
}

}  // namespace

TEST(Picker, RoundRobinTakesTurns) {
  Picker p(Balance::RoundRobin, names(3), {1, 1, 1});
  std::vector<Candidate> now(3);
  std::vector<std::size_t> order;
  for (int i = 0; i < 6; ++i) order.push_back(*p.pick(now, ""));
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(Picker, RoundRobinFollowsWeightsSmoothly) {
  Picker p(Balance::RoundRobin, names(3), {5, 1, 1});
  std::vector<Candidate> now(3);
  std::vector<std::size_t> order;
  for (int i = 0; i < 7; ++i) order.push_back(*p.pick(now, ""));
  // nginx's smooth weighted round-robin: a a b a c a a.
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0}));
}

TEST(Picker, SkipsUnusableAndSaysWhenNoneIs) {
  Picker p(Balance::RoundRobin, names(3), {1, 1, 1});
  std::vector<Candidate> now(3);
  now[1].usable = false;
  EXPECT_EQ(counts(p, now, 10), (std::vector<std::size_t>{5, 0, 5}));
  for (auto& c : now) c.usable = false;
  EXPECT_EQ(p.pick(now, ""), std::nullopt);
}

TEST(Picker, LeastConnPrefersTheIdlerBackendPerWeight) {
  Picker p(Balance::LeastConn, names(3), {1, 2, 1});
  std::vector<Candidate> now = {{true, 4}, {true, 6}, {true, 5}};
  EXPECT_EQ(p.pick(now, ""), 1u);  // 6/2 = 3 is the least
  now[1].active = 9;
  EXPECT_EQ(p.pick(now, ""), 0u);
}

TEST(Picker, LeastConnSharesTies) {
  Picker p(Balance::LeastConn, names(3), {1, 1, 1});
  std::vector<Candidate> now(3);
  auto c = counts(p, now, 30);
  EXPECT_EQ(c, (std::vector<std::size_t>{10, 10, 10}));
}

TEST(Picker, HashIsStickyAndSpreads) {
  Picker p(Balance::HashIp, names(4), {1, 1, 1, 1});
  std::vector<Candidate> now(4);
  std::vector<std::size_t> hits(4, 0);
  std::map<std::string, std::size_t> first;
  for (int i = 0; i < 4000; ++i) {
    std::string key = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    std::size_t b = *p.pick(now, key);
    first[key] = b;
    ++hits[b];
    EXPECT_EQ(*p.pick(now, key), b) << key;  // same key, same backend
  }
  for (std::size_t h : hits) {  // each near 1000 (64 points per backend)
    EXPECT_GT(h, 600u);
    EXPECT_LT(h, 1400u);
  }
  // Backend 2 goes away: only its keys move; everyone else's stay put.
  now[2].usable = false;
  std::size_t moved_others = 0;
  for (const auto& [key, b] : first) {
    std::size_t now_b = *p.pick(now, key);
    EXPECT_NE(now_b, 2u);
    if (b != 2 && now_b != b) ++moved_others;
  }
  EXPECT_EQ(moved_others, 0u);
}

TEST(Picker, RejectsBadConfiguration) {
  EXPECT_THROW(Picker(Balance::RoundRobin, names(2), {1}), std::invalid_argument);
  EXPECT_THROW(Picker(Balance::RoundRobin, names(1), {0}), std::invalid_argument);
  EXPECT_THROW(Picker(Balance::RoundRobin, {}, {}), std::invalid_argument);
  EXPECT_EQ(parse_balance("least-conn"), Balance::LeastConn);
  EXPECT_EQ(parse_balance("random"), std::nullopt);
}

// ---------------------------------------------------------------- breaker

TEST(Breaker, OpensAfterThresholdAndHalfOpensAfterCooldown) {
  CircuitBreaker b({.failure_threshold = 3, .cooldown_ms = 1000});
  b.failure(0);
  b.success();  // resets the run
  b.failure(10);
  b.failure(20);
  EXPECT_TRUE(b.available(20));
  b.failure(30);
  EXPECT_EQ(b.state(), CircuitBreaker::State::Open);
  EXPECT_FALSE(b.available(500));
  EXPECT_TRUE(b.available(1030));  // cooldown over: one probe may go
  b.taken(1030);
  EXPECT_EQ(b.state(), CircuitBreaker::State::HalfOpen);
  EXPECT_FALSE(b.available(1031));  // only one probe at a time
  b.success();
  EXPECT_EQ(b.state(), CircuitBreaker::State::Closed);
  EXPECT_EQ(b.times_opened(), 1u);
}

TEST(Breaker, FailedProbeReopens) {
  CircuitBreaker b({.failure_threshold = 1, .cooldown_ms = 100});
  b.failure(0);
  b.taken(100);
  b.failure(110);
  EXPECT_EQ(b.state(), CircuitBreaker::State::Open);
  EXPECT_FALSE(b.available(150));
  EXPECT_TRUE(b.available(210));
}

TEST(Breaker, LostProbeIsGivenUpAfterAnotherCooldown) {
  CircuitBreaker b({.failure_threshold = 1, .cooldown_ms = 100});
  b.failure(0);
  b.taken(100);  // the probe's client vanished: no report ever comes
  EXPECT_FALSE(b.available(150));
  EXPECT_TRUE(b.available(200));
}

// ---------------------------------------------------------------- response head

TEST(ResponseHead, ParsesStatusFieldsAndFraming) {
  ResponseHead h;
  std::string_view bytes = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b \r\n\r\nhello";
  HeadResult r = parse_response_head(bytes, h);
  ASSERT_EQ(r.kind, HeadParse::Done);
  EXPECT_EQ(r.consumed, bytes.size() - 5);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.content_length, 5u);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.headers[1].value, "b");
}

TEST(ResponseHead, ChunkedCloseAndVersions) {
  ResponseHead h;
  ASSERT_EQ(parse_response_head("HTTP/1.1 404 \r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", h).kind,
            HeadParse::Done);
  EXPECT_TRUE(h.chunked);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(parse_response_head("HTTP/1.0 200 OK\n\n", h).kind, HeadParse::Done);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(parse_response_head("HTTP/1.0 204\r\nConnection: keep-alive\r\n\r\n", h).kind,
            HeadParse::Done);
  EXPECT_TRUE(h.keep_alive);
}

TEST(ResponseHead, IncompleteUntilTheBlankLine) {
  ResponseHead h;
  std::string_view full = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(parse_response_head(full.substr(0, n), h).kind, HeadParse::Incomplete) << n;
  }
}

TEST(ResponseHead, RefusesAnythingAmbiguous) {
  ResponseHead h;
  for (std::string_view bad : {
           "HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/1.1 099 Low\r\n\r\n", "garbage\r\n\r\n", "HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
           "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"}) {
    EXPECT_EQ(parse_response_head(bad, h).kind, HeadParse::Error) << bad;
  }
  std::string huge = "HTTP/1.1 200 OK\r\nX: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_EQ(parse_response_head(huge, h, 16 * 1024).kind, HeadParse::TooBig);
  EXPECT_EQ(parse_response_head(std::string_view(huge).substr(0, 17000), h, 16 * 1024).kind,
            HeadParse::TooBig);
}

TEST(ResponseHead, WhichResponsesHaveBodies) {
  using serverlab::http::Method;
  EXPECT_FALSE(response_has_body(Method::Head, 200));
  EXPECT_FALSE(response_has_body(Method::Get, 204));
  EXPECT_FALSE(response_has_body(Method::Get, 304));
  EXPECT_FALSE(response_has_body(Method::Get, 100));
  EXPECT_TRUE(response_has_body(Method::Get, 200));
  EXPECT_TRUE(response_has_body(Method::Post, 500));
}
