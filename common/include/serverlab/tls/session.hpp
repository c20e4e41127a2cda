// tls/session.hpp: TlsSession, one TLS connection as a machine that never
// touches a socket ("sans-I/O"), and looks_like_plain_http().
//
// Why: a blocking server (stages 1-3) and an event loop (stages 4-5) move bytes
// in different ways, but TLS is the same for both. A TlsSession sits between
// two byte streams and leaves the moving to its caller:
//
//   network --feed()--> [ciphertext in ] --OpenSSL--> read()    --> plaintext
//   network <-peek/consume_output()-- [ciphertext out] <--OpenSSL-- write() <-- plaintext
//
// The caller reads from its socket and feed()s what came; calls advance()
// while handshaking, then read()/write(); and sends the bytes peek_output()
// shows, then tells consume_output() how many the socket took (take_output()
// copies them out instead, for simple drivers). Nothing here blocks or calls
// the kernel, so the same object works with blocking read/write loops
// (TlsStream in stream.hpp does exactly that) and with epoll:
//
//   OpenSSL says         the session reports      the event loop watches
//   SSL_ERROR_WANT_READ  wants_read() == true      EPOLLIN
//   (output pending)     wants_write() == true     EPOLLOUT
//
// SSL_ERROR_WANT_WRITE itself never happens here: the output box accepts every
// write, so "OpenSSL wants to write" always shows up as pending output instead.
//
// The two boxes, and who owns which bytes. OpenSSL never reads a socket
// itself: it reads and writes through a BIO ("basic I/O"), a small object with
// read, write and control functions. The obvious choice, BIO_s_mem() (a
// "memory BIO"), keeps its own growing buffer: feeding it copies our bytes into
// it, and taking output copies them out of it again. Worse, each time it grows
// it zero-fills the new room first (BUF_MEM_grow_clean), so every byte of
// ciphertext we sent used to cost a memset and two extra memcpys on top of
// OpenSSL's own copy into its record buffer: a third of the server's
// instructions for a small page over TLS. So the session plugs in a BIO of its
// own (BIO_meth_new in session.cpp) whose callbacks work on two std::strings
// that belong to the session:
//
//   in_   the peer's ciphertext. feed() appends to it (the one copy, as the
//         caller's buffer is the caller's again when feed returns). When
//         OpenSSL asks for bytes, the read callback copies them from in_
//         straight into OpenSSL's record buffer and moves in_pos_ on; none
//         left means "retry later" (SSL_ERROR_WANT_READ), or end of file after
//         feed_eof().
//   out_  ciphertext for the peer. OpenSSL's write callback appends each
//         finished record to it: no zero-fill, and the room is reused once it
//         has been sent. peek_output() shows the unsent bytes in place, so a
//         driver hands them to send(2) without copying them anywhere first;
//         consume_output(n) drops what the socket took.
//
// The handshake is a state (Handshaking -> Open, or -> Failed). The session has
// no clock: the driver arms its own handshake timer and calls fail_timeout()
// when it fires, so the timeout is counted like any other failure.
//
// After Failed the output may still hold an alert for the peer: send it (best
// effort) and close. A server session whose first bytes look like plain HTTP
// fails with Failure::PlainHttp before OpenSSL sees them; the driver then writes
// kPlainHttpResponse in clear text and closes, as nginx does.
//
// Who may call: one thread at a time per session (a session is not thread-safe;
// different sessions may run on different threads). The TlsContext it was made
// from must outlive it. A session cannot be moved or copied (OpenSSL's BIO
// points at it). Limits: the buffers grow with what is fed and written: the
// driver bounds them by feeding only what it read in one go and by sending the
// output before writing more; trim() gives their room back when both are
// empty. No renegotiation, no early data (0-RTT).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "serverlab/tls/context.hpp"

struct ssl_st;
struct ssl_session_st;

namespace serverlab::tls {

struct SessionBio;  // session.cpp: the BIO callbacks over in_ and out_

// A client's saved session, offered on the next connection to resume it
// (a TLS 1.3 ticket or a TLS 1.2 session). Empty when there is none.
using Ticket = std::shared_ptr<ssl_session_st>;

// The answer a TLS port gives to a plain HTTP request (then it closes).
inline constexpr std::string_view kPlainHttpResponse =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 41\r\n"
    "Connection: close\r\n"
    "\r\n"
    "This port speaks HTTPS, not plain HTTP.\r\n";

// True when `first_bytes` (what a client sent first, at least one byte) start
// like an HTTP request line: 1 to 8 upper-case letters then a space, or only
// upper-case letters so far. A TLS connection always starts with 0x16, so the
// two never look alike.
bool looks_like_plain_http(std::string_view first_bytes);

class TlsSession {
 public:
  enum class State { Handshaking, Open, Closed, Failed };

  // The result of read() and write(): bytes moved, or why none were.
  struct Io {
    enum class Status { Ok, WantRead, Closed, Failed };
    Status status = Status::Ok;
    std::size_t bytes = 0;
  };

  // A server session (ctx.is_server()).
  explicit TlsSession(const TlsContext& ctx);
  // A client session: `server_name` is checked against the server's
  // certificate (a DNS name or an IP address) and sent as SNI when it is a
  // name; `resume` (may be empty) offers an earlier session.
  TlsSession(const TlsContext& ctx, std::string_view server_name, const Ticket& resume = {});
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // --- network side ---
  // Hands bytes that came from the peer to the session (copies them).
  void feed(std::string_view ciphertext);
  // The peer closed its side of the TCP connection: nothing more will be fed.
  void feed_eof();
  // Bytes waiting to be sent to the peer.
  std::size_t pending_output() const { return out_.size() - out_pos_; }
  // The pending bytes in place, to send without a copy. Valid until the next
  // call other than a const one or consume_output().
  std::string_view peek_output() const {
    return std::string_view(out_).substr(out_pos_);
  }
  // Drops the first n pending bytes (n <= pending_output()): they were sent.
  void consume_output(std::size_t n);
  // Moves up to n pending bytes into dst; returns how many.
  std::size_t take_output(char* dst, std::size_t n);
  std::string take_output();  // all of it (tests, simple drivers)
  // Frees the room of the input and output buffers if both are empty (an
  // idle connection then holds none); otherwise does nothing.
  void trim();

  // --- handshake ---
  // Runs the handshake as far as the fed bytes allow; returns state().
  // In any other state it just returns state().
  State advance();
  // The driver's handshake timer fired: fail with Failure::Timeout.
  void fail_timeout();

  // --- application data (state Open) ---
  // Decrypts up to n bytes of the peer's data into dst.
  // Closed means the peer sent close_notify (a clean end).
  Io read(char* dst, std::size_t n);
  // Encrypts all of `plaintext` into the output (never partial while Open).
  Io write(std::string_view plaintext);
  // Queues close_notify; state becomes Closed. Send the output afterwards.
  void close();

  // --- for the driver's interest set ---
  bool wants_read() const { return want_read_ && (state_ == State::Handshaking || state_ == State::Open); }
  bool wants_write() const { return pending_output() > 0; }

  // --- what happened ---
  State state() const { return state_; }
  Failure failure() const { return failure_; }
  const std::string& error() const { return error_; }  // "" unless Failed
  bool resumed() const;        // Open via a resumed session (ticket)
  std::string_view alpn() const;  // the negotiated protocol, "" if none
  std::string version() const;    // "TLSv1.3", "TLSv1.2"
  // The verified peer certificate's subject ("CN=...,O=..."), "" without one.
  std::string peer_subject() const;
  // Client: the session to resume next time (for TLS 1.3 it arrives after the
  // handshake, with the first read()). Empty when none is resumable yet.
  Ticket ticket() const;

 private:
  void setup(const TlsContext& ctx);
  void fail(Failure why, std::string text);
  void fail_from_openssl(int ssl_error);
  void handshake_done();

  friend struct SessionBio;

  ssl_st* ssl_ = nullptr;
  std::string in_;            // ciphertext from the network ...
  std::size_t in_pos_ = 0;    // ... OpenSSL has read up to here
  bool in_eof_ = false;       // feed_eof(): after in_, end of file
  std::string out_;           // ciphertext for the network ...
  std::size_t out_pos_ = 0;   // ... sent up to here
  TlsCounters* counters_ = nullptr;
  bool server_ = false;
  bool sniffed_ = false;     // a server has looked at the first byte
  bool want_read_ = true;    // blocked on network input
  State state_ = State::Handshaking;
  Failure failure_ = Failure::None;
  std::string error_;
};

}  // namespace serverlab::tls
