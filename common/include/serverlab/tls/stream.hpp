// tls/stream.hpp: TlsStream, a TlsSession driven over one blocking socket, with
// calls shaped like rio.hpp's (read_some, read_n, write_n), for stages 1-3.
//
// Why: a blocking server wants "read n bytes" and "write all of these", not a
// state machine. TlsStream moves bytes between the socket and the session
// until the call can be answered:
//
//   write_n:  session.write(plaintext) -> send all of take_output()
//   read_*:   session.read(); on WantRead: send pending output, recv(), feed()
//
//   TlsSession session(ctx);                 // ctx made once in main()
//   TlsStream tls(client_fd, session);
//   if (!tls.handshake(5000)) return;        // counted and logged by the caller
//   ... tls.read_some(buf, n) / tls.write_n(reply) ...
//   tls.close();                             // sends close_notify
//
// handshake() has its own deadline (poll), so a client that stalls in the
// handshake costs its thread at most that long. A plain HTTP request gets
// kPlainHttpResponse in clear text before handshake() returns false. After the
// handshake, reads block as long as the socket does (set SO_RCVTIMEO for an
// idle timeout; a timed-out read is Error(EAGAIN)).
//
// Who may call: the one thread that owns the connection. The stream owns
// neither the descriptor nor the session; both must outlive it. Results never
// throw: Ok, Eof (the peer closed: close_notify, or TCP EOF) or Error(errno);
// a TLS failure is Error(EPROTO) and the session says why.
#pragma once

#include <cstddef>
#include <string_view>

#include "serverlab/rio.hpp"
#include "serverlab/tls/session.hpp"

namespace serverlab::tls {

class TlsStream {
 public:
  TlsStream(int fd, TlsSession& session) : fd_(fd), session_(session) {}

  // Runs the handshake; true when the session is Open. A negative timeout
  // waits forever (tests only). On false the session's failure() says why.
  bool handshake(int timeout_ms);

  // Reads at least one byte and at most n (Ok), or Eof, or Error.
  IoResult read_some(void* buf, std::size_t n);
  // Reads exactly n bytes unless EOF (Eof with the count) or an error comes first.
  IoResult read_n(void* buf, std::size_t n);
  // Encrypts and sends all n bytes.
  IoResult write_n(const void* buf, std::size_t n);
  IoResult write_n(std::string_view s) { return write_n(s.data(), s.size()); }

  // Sends close_notify (best effort; errors are ignored, the socket is
  // closed by its owner next anyway).
  void close();

 private:
  IoResult flush();                 // sends all pending output
  IoResult fill(int timeout_ms);    // one recv() into the session; Ok, Eof, Error

  int fd_;
  TlsSession& session_;
};

}  // namespace serverlab::tls
