// tls_interest.hpp: the epoll interest set of a TLS connection that is
// handshaking (week 18's lab: labs/week18-tls/README.md).
//
// OpenSSL tells a non-blocking caller what it is waiting for: SSL_ERROR_WANT_READ
// (bytes from the peer) or SSL_ERROR_WANT_WRITE (room to send). Over TlsSession's
// own buffers the second shows up as ciphertext waiting in the session's output
// (TlsTransport::wants_write()). A connection that waits
// for the wrong thing deadlocks: if our flight is stuck in our buffer and we wait
// for EPOLLIN, the peer waits for that flight and neither side ever moves; the
// handshake timer ends it.
//
//   ciphertext_waiting  wants_read   interest
//   true                any          EPOLLOUT   (our flight first: the peer waits for it)
//   false               true         EPOLLIN    (SSL_ERROR_WANT_READ)
//   false               false        0          (nothing to wait for: done or failed)
//
// Who may call: Connection (stage 4, stage 5's workers); a pure function.
#pragma once

#include <cstdint>

namespace serverlab {

std::uint32_t tls_interest(bool ciphertext_waiting, bool wants_read);

}  // namespace serverlab
