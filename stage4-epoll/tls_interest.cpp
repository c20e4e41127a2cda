#include "tls_interest.hpp"

#include "event_loop.hpp"

namespace serverlab {

std::uint32_t tls_interest(bool ciphertext_waiting, bool wants_read) {
  // [lab18:tls-interest:begin]
  // [lab18:tls-interest:stub] // Naive: a handshake always waits for the peer. Forgets the case
  // [lab18:tls-interest:stub] // where our own flight is stuck in the send buffer.
  // [lab18:tls-interest:stub] (void)ciphertext_waiting;
  // [lab18:tls-interest:stub] (void)wants_read;
  // [lab18:tls-interest:stub] return kReadable;
  if (ciphertext_waiting) return kWritable;  // the peer waits for these bytes: send them first
  if (wants_read) return kReadable;          // SSL_ERROR_WANT_READ
  return 0;                                  // nothing to wait for
  // [lab18:tls-interest:end]
}

}  // namespace serverlab
