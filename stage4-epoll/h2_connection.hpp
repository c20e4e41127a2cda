// h2_connection.hpp: H2Connection, the non-blocking driver of one HTTP/2 session
// (http2::Http2Session) on a stage 4 connection.
//
// Why: a cleartext connection may carry HTTP/2 "with prior knowledge" (h2c): the
// client starts with the 24-byte preface instead of an HTTP/1.1 request. The
// Connection reads the first bytes as usual; when they are the preface it
// switches (Connection::switch_to_h2) and from then on hands every event to this
// object, which owns the HTTP/2 session and does its I/O:
//
//   EPOLLIN/EPOLLOUT --> Connection::on_event --> H2Connection::on_event --> drive():
//                          Read:  Buffer::read_from -> session.on_input() / on_eof()
//                          Write: send(session.output())  -> session.wrote(n)
//                          Close: the Connection lingers or closes (it owns the fd)
//   own loop timer   --> session.on_timeout() when the session's deadline passed
//
// The loop is Connection's own (same readiness flags, same level/edge-triggered
// rules, same fairness bound per wake-up); what differs is that an HTTP/2 session
// is not pooled: it holds libnghttp2's state (HPACK tables, stream table) for the
// life of the connection, a few KiB plus up to Http2Session::kOutputHighWater of
// output. File bodies go through the session in DATA frames (each written
// straight into the session's output from the file cache's bytes, or pread(2)
// there, one frame at a time), not sendfile(2): HTTP/2 frames every byte.
//
// The Connection stays the owner of the fd, the registration in the loop and the
// server's bookkeeping; H2Connection only asks it to linger or close (a friend).
//
// Over TLS (ALPN "h2"): the Connection switches when its handshake is done and
// passes its http::TlsTransport. Then every byte goes through the transport:
// read_some() decrypts with read_into (which first gives the bytes that came with
// the handshake's last flight), write_some() encrypts at most one record of the
// session's output at a time (send_bytes), ciphertext waiting for the socket is
// sent before anything else (EPOLLOUT until it has left), and close_notify goes
// out before the Connection lingers or closes. Without a transport (h2c) the
// socket is read and written directly.
//
// Who may call: Connection (which owns it), and the EventLoop through its timers,
// on the loop thread only. Never throws out of a handler.
#pragma once

#include <cstdint>
#include <string_view>

#include "deadline_timer.hpp"
#include "event_loop.hpp"
#include "serverlab/http/tls_transport.hpp"
#include "serverlab/http2/session.hpp"

namespace serverlab {

class Connection;

class H2Connection {
 public:
  // `first_bytes`: what the Connection already read (the preface and maybe more).
  // `can_read`: whether the socket may still have unread bytes (edge-triggered).
  // `tls`: the owner's transport after an ALPN "h2" handshake (it must outlive this
  // object: the Connection owns both); null for cleartext h2c.
  // Throws std::bad_alloc when the session cannot be made.
  H2Connection(Connection& owner, std::string_view first_bytes, bool can_read,
               http::TlsTransport* tls = nullptr);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Processes the bytes already read and goes on as events arrive.
  void start();
  void on_event(std::uint32_t events);
  // Graceful stop: GOAWAY, let the streams already taken finish, then close.
  void shutdown();

  const http2::Http2Session& session() const { return session_; }

 private:
  enum class Step { Progress, Blocked, Failed };

  bool gone() const;  // finished, or the Connection closed: do nothing more
  void drive();
  Step read_some();
  Step write_some();
  Step flush_tls();  // ciphertext the socket did not take yet
  Step sent(http::SendStep step);
  void finish();  // the session wants Close: hand the fd back to the Connection
  void set_interest(std::uint32_t events);
  void update_timer();
  void on_timer();

  Connection& owner_;
  EventLoop& loop_;
  int fd_;
  http::TlsTransport* tls_;  // null: cleartext
  http2::Http2Session session_;
  bool can_read_;
  bool can_write_ = true;
  bool done_ = false;  // finish() ran: the Connection lingers or has closed
  DeadlineTimer timer_;  // follows session_.deadline()
  TimerId resume_;  // edge-triggered: continue after yielding to other connections
};

}  // namespace serverlab
