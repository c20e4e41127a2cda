// Lab 04 (week 4), the client's side of 503 and 429: how long http-get waits before a
// retry (stage2-http-seq/http_fetch.cpp, retry_delay). Exponential backoff: the first
// retry waits about --backoff, each next one twice as long, never more than
// --max-backoff, times a random factor in [0.5, 1] (jitter, so clients that failed
// together do not retry together); a server's Retry-After (seconds or an HTTP date,
// RFC 9110 10.2.3) replaces the computed wait. Tag: [backoff]. The stub always waits
// exactly --backoff.
#include <algorithm>
#include <ctime>
#include <set>

#include <catch2/catch.hpp>

#include "http_fetch.hpp"
#include "lab_support.hpp"
#include "serverlab/http/date.hpp"

using serverlab::fetch::Options;
using serverlab::fetch::retry_delay;

namespace {

Options backoff(double first, double cap) {
  Options o;
  o.backoff = first;
  o.max_backoff = cap;
  return o;
}

// The smallest and largest of many draws of retry number `retry`.
std::pair<double, double> range(const Options& o, int retry) {
  double lo = 1e9, hi = -1;
  for (int i = 0; i < 400; ++i) {
    double d = retry_delay(o, retry, std::nullopt);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  return {lo, hi};
}

}  // namespace

TEST_CASE("each retry waits twice as long as the one before, within the jitter", "[backoff]") {
  Options o = backoff(0.25, 100);
  for (int retry = 1; retry <= 5; ++retry) {
    const double full = 0.25 * (1 << (retry - 1));
    auto [lo, hi] = range(o, retry);
    INFO("retry " << retry << ": drew " << lo << " .. " << hi << ", want within [" << full / 2 << ", " << full << "]");
    CHECK(lo >= full * 0.5 - 1e-9);
    CHECK(hi <= full + 1e-9);
    CHECK(hi > full * 0.75);  // the top half of the range is reached...
    CHECK(lo < full * 0.75);  // ...and the bottom half
  }
}

TEST_CASE("no wait is longer than max_backoff", "[backoff]") {
  Options o = backoff(1, 3);
  auto [lo, hi] = range(o, 10);  // 512 s uncapped
  CHECK(hi <= 3.0 + 1e-9);
  CHECK(lo >= 1.5 - 1e-9);
}

TEST_CASE("the waits are jittered, not all equal", "[backoff]") {
  Options o = backoff(1, 8);
  std::set<double> seen;
  for (int i = 0; i < 50; ++i) seen.insert(retry_delay(o, 2, std::nullopt));
  CHECK(seen.size() > 10);
}

TEST_CASE("Retry-After in seconds replaces the computed wait", "[backoff]") {
  Options o = backoff(0.25, 8);
  CHECK(retry_delay(o, 1, "3") == 3.0);
  CHECK(retry_delay(o, 4, " 0 ") == 0.0);
}

TEST_CASE("Retry-After as an HTTP date waits until then", "[backoff]") {
  Options o = backoff(0.25, 8);
  const std::string in_five = serverlab::http::http_date(std::time(nullptr) + 5);
  double d = retry_delay(o, 1, in_five);
  CHECK(d >= 3.0);
  CHECK(d <= 5.0);
  const std::string past = serverlab::http::http_date(std::time(nullptr) - 60);
  CHECK(retry_delay(o, 1, past) == 0.0);
}

TEST_CASE("an unreadable Retry-After falls back to the backoff", "[backoff]") {
  Options o = backoff(2, 8);
  double d = retry_delay(o, 2, "soon");
  CHECK(d >= 2.0);
  CHECK(d <= 4.0);
}
