// Lab 18 (week 18, advanced track): the interest set of a TLS handshake
// (stage4-epoll/tls_interest.cpp, tls_interest). OpenSSL's WANT_READ and our
// own ciphertext waiting to be sent must become the right epoll events, or the
// two sides wait for each other until the handshake timer fires.
// Tag: [tls-interest].
#include <catch2/catch.hpp>

#include "event_loop.hpp"
#include "lab_support.hpp"
#include "tls_interest.hpp"

using serverlab::kReadable;
using serverlab::kWritable;
using serverlab::tls_interest;

TEST_CASE("a handshake that needs the peer's bytes waits for EPOLLIN", "[tls-interest]") {
  CHECK(tls_interest(false, true) == kReadable);
}

TEST_CASE("our flight stuck in the send buffer waits for EPOLLOUT", "[tls-interest]") {
  // The peer cannot answer a flight it has not received: waiting for EPOLLIN here
  // is the deadlock the handshake timer would have to break.
  CHECK(tls_interest(true, false) == kWritable);
}

TEST_CASE("pending output goes first even while OpenSSL also wants to read", "[tls-interest]") {
  // After a flight, OpenSSL wants the peer's reply (WANT_READ) and our bytes are
  // still in the buffer: they must leave first. EPOLLIN alone would never fire.
  const std::uint32_t interest = tls_interest(true, true);
  CHECK((interest & kWritable) != 0);
  CHECK((interest & kReadable) == 0);
}

TEST_CASE("nothing to wait for means no interest at all", "[tls-interest]") {
  // Done or failed: a level-triggered EPOLLIN on a socket with bytes queued would
  // wake the loop for nothing, again and again.
  CHECK(tls_interest(false, false) == 0);
}
