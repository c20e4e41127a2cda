// Lab 19 (week 19, advanced track): the token bucket behind --rate-limit
// (common/src/http/rate_limit.cpp, TokenBucket::try_take). The stub admits every
// request; the lab is to refill by the time elapsed, cap at the burst, and take
// one token or refuse. Tag: [try-take]. Time is passed in nanoseconds, so these
// checks never sleep.
#include <cstdint>

#include <catch2/catch.hpp>

#include "serverlab/http/rate_limit.hpp"

using serverlab::http::TokenBucket;

namespace {
constexpr std::int64_t kSecond = 1'000'000'000;
}

TEST_CASE("a full bucket admits the burst, then refuses", "[try-take]") {
  TokenBucket b(/*rate=*/2, /*burst=*/3);
  const std::int64_t t = 10 * kSecond;
  CHECK(b.try_take(t));
  CHECK(b.try_take(t));
  CHECK(b.try_take(t));
  CHECK_FALSE(b.try_take(t));
  CHECK_FALSE(b.try_take(t));
}

TEST_CASE("tokens come back at the rate", "[try-take]") {
  TokenBucket b(/*rate=*/4, /*burst=*/1);
  CHECK(b.try_take(0));
  CHECK_FALSE(b.try_take(kSecond / 8));  // half a token
  CHECK(b.try_take(kSecond / 4));        // a whole one (1/4 s at 4 a second)
  CHECK_FALSE(b.try_take(kSecond / 4));
  CHECK(b.try_take(kSecond / 2));
}

TEST_CASE("a long idle time refills only up to the burst", "[try-take]") {
  TokenBucket b(/*rate=*/1000, /*burst=*/2);
  CHECK(b.try_take(0));
  CHECK(b.try_take(0));
  const std::int64_t later = 3600 * kSecond;
  CHECK(b.try_take(later));
  CHECK(b.try_take(later));
  CHECK_FALSE(b.try_take(later));
}

TEST_CASE("a clock that steps back adds nothing", "[try-take]") {
  TokenBucket b(/*rate=*/1, /*burst=*/1);
  CHECK(b.try_take(5 * kSecond));
  CHECK_FALSE(b.try_take(2 * kSecond));  // earlier than the last call
  CHECK_FALSE(b.try_take(5 * kSecond + kSecond / 2));
  CHECK(b.try_take(6 * kSecond));
}

TEST_CASE("over a long run the bucket holds its rate", "[try-take]") {
  TokenBucket b(/*rate=*/100, /*burst=*/10);
  int admitted = 0;
  for (int ms = 0; ms < 5000; ++ms)  // a request every millisecond for 5 s
    admitted += b.try_take(static_cast<std::int64_t>(ms) * (kSecond / 1000)) ? 1 : 0;
  CHECK(admitted >= 500);  // 10 at once, then 100 a second for ~5 s
  CHECK(admitted <= 511);
}
