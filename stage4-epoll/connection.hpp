// connection.hpp: Connection, the non-blocking driver of one HttpSession on an EventLoop.
//
// Why: the HTTP logic (parsing, responses, keep-alive, timeouts) lives in the
// sans-I/O http::HttpSession shared by every stage. This class only moves bytes:
// it reads when the session wants input, writes (send, then sendfile for file
// bodies) when it has output, and closes when it is done.
//
//   EPOLLIN/EPOLLOUT --> on_event --> drive():  while there is something to do
//                                       Read:  Buffer::read_from -> on_input()/on_eof()
//                                       Write: send(head bytes) / sendfile(file region)
//                                       Close: lingering close, or close now
//   loop timer       --> on_timer --> session.on_timeout() when its deadline passed
//
// Readiness is remembered in two flags (can_read_, can_write_) that are set by
// events and cleared by EAGAIN. Level-triggered: the interest mask follows what
// the session wants (EPOLLIN while reading, EPOLLOUT only while output is pending
// and the socket is full), changed with epoll_ctl only when it differs.
// Edge-triggered: the fd is registered once for both and never modified; reads go
// on until EAGAIN, so no edge is lost.
//
// Timer: one DeadlineTimer per connection (deadline_timer.hpp). It is moved
// earlier when the session's deadline moves earlier; when the deadline moves later
// (the common case, every request) it is left alone and re-armed when it fires
// early. So a keep-alive request normally costs no timer-heap work at all. While
// the connection lingers it holds the linger deadline instead.
//
// Idle connections hold no session: a Connection borrows an HttpSession from the
// server's SessionPool when bytes arrive (or the socket reports EOF/error) and
// gives it back as soon as the session is idle again and the socket has nothing
// more to read. Between requests it keeps only the session's Carry (request count,
// timer kind, deadline) and the peer's address, so an idle keep-alive connection,
// or one that has not sent a byte yet, costs this small record, one timer and one
// epoll registration. The connection (not the session) counts itself in the metrics.
//
// TLS (when the server has a certificate): the handshake is a state of the
// connection, before any HTTP. The connection holds an http::TlsTransport from
// accept to close (it cannot be pooled: it is the connection's cryptographic
// state) and drives it one step per readiness event:
//
//   accepted --> Handshake --Done--> HTTP as above, bytes through the transport
//                 |   interest: EPOLLOUT while a flight waits to be sent, else EPOLLIN
//                 |   timer: --header-timeout from accept; when it fires: dropped
//                 +--Failed--> plain HTTP: the 400 in clear text, lingering close
//                              else: the alert (best effort), close
//
// After the handshake the header timeout starts again for the first request.
// Ciphertext waiting to be sent always goes first (EPOLLOUT until it has left);
// file bodies go through pread + encrypt in 16 KiB records, never sendfile.
// The client certificate's subject goes to the access log (HttpSession::set_user)
// and alpn() tells which protocol was agreed: "h2" hands the connection, with its
// transport, to an H2Connection as soon as the handshake is done.
//
// Who may call: EpollHttpServer (which owns every Connection) and the EventLoop
// (on_event, its timers), on the loop thread only. Never throws out of a handler:
// I/O errors close the connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "deadline_timer.hpp"
#include "session_pool.hpp"
#include "event_loop.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/rate_limit.hpp"
#include "serverlab/http/session.hpp"
#include "serverlab/http/tls_transport.hpp"

namespace serverlab {

class EpollHttpServer;
class H2Connection;

class Connection final : public EventHandler {
 public:
  // `slot`: this connection's place under --max-conns-per-ip, held until
  // give_back_slot() or destruction.
  Connection(EpollHttpServer& server, Fd fd, std::string_view peer,
             http::ConnectionLimiter::Slot slot);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers with the loop. Throws SysError if epoll refuses the fd.
  void start();
  void on_event(std::uint32_t events) override;
  // Graceful stop: finish the response in progress (with Connection: close), then
  // close; an idle connection closes now.
  void shutdown();
  // Closes at once (shutdown grace period over).
  void close();

  bool closed() const { return phase_ == Phase::Closed; }
  // The server released it: its place under --max-conns-per-ip is free again.
  void give_back_slot() { slot_ = {}; }
  int fd() const { return fd_.get(); }
  // Whether a session is lent to this connection right now (tests, metrics).
  bool has_session() const { return session_ != nullptr; }
  // The ALPN protocol the TLS handshake agreed on; "" for plain HTTP, during the
  // handshake, or when the client offered none.
  std::string_view alpn() const;

  // The server's index of this connection (for O(1) removal).
  std::size_t index = 0;

 private:
  enum class Phase { Open, Lingering, Closed };
  enum class Step { Progress, Blocked, Failed, Switched };

  void drive();
  void drive_handshake();
  void refuse_handshake();
  Step read_some();
  Step flush_tls();
  Step write_some();
  void finish();  // the session wants Close
  void begin_linger();
  void drain_linger();
  void set_interest(std::uint32_t events);
  void update_timer();
  void on_timer();
  http::HttpSession::Want want() const;
  http::HttpSession::Clock::time_point deadline() const;
  bool borrow_session();  // false: out of memory
  void return_session_if_idle();

  EpollHttpServer& server_;
  EventLoop& loop_;
  Fd fd_;
  Phase phase_ = Phase::Open;
  bool can_read_ = false;
  bool can_write_ = true;  // a new socket has room in its send buffer
  PooledSession session_;  // null while idle
  http::HttpSession::Carry carry_;  // the session's state while none is lent
  DeadlineTimer timer_{loop_, [this] { on_timer(); }};
  TimerId resume_;  // edge-triggered: continue after yielding to other connections
  std::size_t linger_left_ = 0;
  std::string peer_;  // for the access log (an IPv4 address fits in the string itself)
  http::ConnectionLimiter::Slot slot_;  // its place under --max-conns-per-ip
  std::unique_ptr<http::TlsTransport> tls_;  // null: plain HTTP
  http::HttpSession::Clock::time_point handshake_deadline_{};
  std::string user_;  // the TLS client certificate's subject, for the access log

  // HTTP/2 with prior knowledge (h2c): when the first bytes are the client preface,
  // switch_to_h2() hands them to an H2Connection, which gets every event from then
  // on (h2_connection.hpp). may_be_h2_ is false once a byte went to HTTP/1.1.
  // Over TLS, a handshake that agreed on ALPN "h2" switches with the transport
  // (`tls`) and no first bytes. false: out of memory.
  bool switch_to_h2(std::string_view first_bytes, http::TlsTransport* tls);
  std::unique_ptr<H2Connection> h2_;
  bool may_be_h2_ = true;
  friend class H2Connection;  // asks this connection to linger or close
};

}  // namespace serverlab
