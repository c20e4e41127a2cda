// http/tls_transport.hpp: TlsTransport, the TLS step between a non-blocking
// socket and an HttpSession. Both HTTP drivers use it when the server has a
// certificate: serve_connection (stages 2 and 3) and stage 4's Connection
// (also stage 5's workers).
//
//   socket --recv--> TlsSession.feed --read--> session.input()      (read_into)
//   socket <-send--- TlsSession.peek_output <-write-- session.output() (send_output)
//   socket <-send--- TlsSession.peek_output <-write-- any bytes         (send_bytes)
//
// Without TLS the drivers move bytes with Buffer::read_from and send_output
// (send + sendfile). With TLS every byte must pass through OpenSSL, so:
//
//   - the handshake comes first (handshake(), one step per readiness event);
//     the driver runs its own timer and calls timed_out() when it fires;
//   - a file body is read with pread(2) in chunks of kChunk bytes (one TLS
//     record) and encrypted; sendfile(2) cannot carry user-space TLS;
//   - one send step encrypts up to kRecordsPerStep records (64 KiB of
//     plaintext) and hands their ciphertext to the socket in one send(2): a
//     burst of small responses (HTTP/2 streams, pipelined requests) costs one
//     system call per 64 KiB, not one per record;
//   - a new step is encrypted only after the previous one has left for the
//     socket, so the ciphertext held per connection is at most about one
//     step (64 KiB), however large the file.
//
// Interest set (for a poll or epoll driver):
//   wants_write()  ciphertext waits for room in the socket     -> POLLOUT/EPOLLOUT
//   otherwise      the session needs bytes from the peer       -> POLLIN/EPOLLIN
// OpenSSL's SSL_ERROR_WANT_READ is wants_read() of the TlsSession; its
// SSL_ERROR_WANT_WRITE cannot happen over memory BIOs (docs/TLS.md): what
// OpenSSL wants to write is always pending output here, hence wants_write().
//
// Who may call: the thread that owns the connection, one call at a time. The
// TlsContext must outlive the transport. Never throws after construction
// (which throws TlsError when OpenSSL cannot make a session).
// Limits: no kernel TLS (every byte is encrypted in user space); no
// renegotiation; the socket must be non-blocking.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "serverlab/buffer.hpp"
#include "serverlab/http/send_output.hpp"
#include "serverlab/http/session.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/tls/session.hpp"

namespace serverlab::http {

class TlsTransport {
 public:
  // Plaintext per encryption step: the largest TLS record (RFC 8446, 5.1).
  static constexpr std::size_t kChunk = 16 * 1024;
  // Records per send step, and so the plaintext one step may encrypt.
  static constexpr std::size_t kRecordsPerStep = 4;
  static constexpr std::size_t kStep = kRecordsPerStep * kChunk;

  explicit TlsTransport(const tls::TlsContext& context) : tls_(context) {}

  tls::TlsSession& session() { return tls_; }
  const tls::TlsSession& session() const { return tls_; }
  bool handshaking() const { return tls_.state() == tls::TlsSession::State::Handshaking; }

  // ---- handshake
  enum class Handshake {
    Done,     // the session is Open: serve HTTP (read_into first: the request may be here)
    Blocked,  // wait for the socket: writable if wants_write(), else readable
    Failed,   // counted by the context; call refuse() and close
  };
  // Sends what is pending, reads what the socket has, advances the handshake.
  Handshake handshake(int fd);
  // The driver's handshake timer fired: fail (counted as a timeout).
  void timed_out() { tls_.fail_timeout(); }
  // After Failed: answers the peer, best effort and without blocking: the
  // 400 of kPlainHttpResponse in clear text for plain HTTP (returns true: the
  // driver should linger-close so the answer is not lost to a reset), else the
  // TLS alert OpenSSL queued (returns false: close now).
  bool refuse(int fd);

  // ---- application data (after Done)
  // Appends the peer's plaintext to `in`: Ok(n > 0); Eof (close_notify, or
  // the TCP connection ended); WouldBlock (nothing decryptable yet); Error.
  IoResult read_into(int fd, Buffer& in);
  // One bounded step of session.output(): sends pending ciphertext if there
  // is any, else encrypts up to kStep bytes of the head and the file, one
  // record of at most kChunk at a time, and sends them.
  SendStep send_output(int fd, HttpSession& session);
  // The same step for a driver with its own output bytes (HTTP/2's frames):
  // sends pending ciphertext if there is any (taken = 0), else encrypts up to
  // kStep bytes of `bytes`, sets `taken` to how many, and sends. The caller
  // drops `taken` bytes from its output; they are the transport's from then on.
  SendStep send_bytes(int fd, std::string_view bytes, std::size_t& taken);
  // Sends pending ciphertext: Progress when all of it is on the socket.
  SendStep flush(int fd);
  // Ciphertext waits to be sent (the driver must wait for writability).
  bool wants_write() const { return tls_.pending_output() > 0; }
  // Queues close_notify and sends what fits now (no wait).
  void close(int fd);
  // Frees the session's empty buffers (an idle connection holds none).
  void trim();

 private:
  tls::TlsSession tls_;
  bool peer_eof_ = false;
};

}  // namespace serverlab::http
