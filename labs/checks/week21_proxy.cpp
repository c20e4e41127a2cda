// Lab 21 (week 21, advanced track): the two pure pieces of the reverse proxy
// (capstone-proxy/) that decide what crosses it and where it goes:
//   [hop-by-hop]  is_hop_by_hop() in capstone-proxy/header_filter.cpp: which fields
//                 belong to one connection and must not be forwarded (RFC 9110 7.6.1);
//   [pick]        Picker's smooth weighted round-robin in capstone-proxy/picker.cpp.
// http-proxy calls both for every request, so these are the real proxy's rules.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "header_filter.hpp"
#include "picker.hpp"

using serverlab::proxy::Balance;
using serverlab::proxy::Candidate;
using serverlab::proxy::forward_field;
using serverlab::proxy::is_hop_by_hop;
using serverlab::proxy::Picker;

TEST_CASE("the fixed hop-by-hop fields are recognised in any case", "[hop-by-hop]") {
  for (const char* name : {"Connection", "connection", "Keep-Alive", "TE", "te", "Trailer",
                           "Upgrade", "Proxy-Authorization", "proxy-authenticate",
                           "Proxy-Connection"}) {
    INFO(name);
    CHECK(is_hop_by_hop(name, ""));
  }
}

TEST_CASE("end-to-end fields pass", "[hop-by-hop]") {
  for (const char* name : {"Host", "Accept", "Content-Type", "Cookie", "Trailers", "Proxy",
                           "X-Proxy-Id", "Upgrade-Insecure-Requests"}) {
    INFO(name);
    CHECK_FALSE(is_hop_by_hop(name, ""));
  }
}

TEST_CASE("fields named by Connection are hop-by-hop too", "[hop-by-hop]") {
  CHECK(is_hop_by_hop("X-Secret", "close, X-Secret"));
  CHECK(is_hop_by_hop("x-secret", "X-SECRET"));
  CHECK(is_hop_by_hop("X-B", " X-A ,X-B , "));
  CHECK_FALSE(is_hop_by_hop("X-Sec", "X-Secret"));     // whole tokens only
  CHECK_FALSE(is_hop_by_hop("X-Secret", "X-Sec, ret"));
  CHECK_FALSE(forward_field("X-Secret", "keep-alive, X-Secret"));
  CHECK(forward_field("X-Other", "keep-alive, X-Secret"));
}

namespace {
std::vector<std::string> names(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("10.0.0." + std::to_string(i + 1) + ":80");
  return out;
}
}  // namespace

TEST_CASE("equal weights take turns", "[pick]") {
  Picker p(Balance::RoundRobin, names(3), {1, 1, 1});
  std::vector<Candidate> now(3);
  std::vector<std::size_t> order;
  for (int i = 0; i < 6; ++i) order.push_back(*p.pick(now, ""));
  CHECK(order == std::vector<std::size_t>{0, 1, 2, 0, 1, 2});
}

TEST_CASE("weights are followed, interleaved (smooth)", "[pick]") {
  Picker p(Balance::RoundRobin, names(3), {5, 1, 1});
  std::vector<Candidate> now(3);
  std::vector<std::size_t> order;
  for (int i = 0; i < 14; ++i) order.push_back(*p.pick(now, ""));
  // a a b a c a a, twice: never five a's in a row
  CHECK(order == std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0});
}

TEST_CASE("unusable backends are skipped; none usable is nullopt", "[pick]") {
  Picker p(Balance::RoundRobin, names(3), {1, 1, 1});
  std::vector<Candidate> now(3);
  now[0].usable = false;
  std::vector<std::size_t> order;
  for (int i = 0; i < 4; ++i) order.push_back(*p.pick(now, ""));
  CHECK(order == std::vector<std::size_t>{1, 2, 1, 2});
  for (auto& c : now) c.usable = false;
  CHECK_FALSE(p.pick(now, "").has_value());
}
