#include "connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <utility>

#include "h2_connection.hpp"
#include "http_server.hpp"
#include "tls_interest.hpp"
#include "serverlab/http/send_output.hpp"
#include "serverlab/http2/frame.hpp"
#include "serverlab/log.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {

namespace {

using Clock = http::HttpSession::Clock;
using Want = http::HttpSession::Want;

constexpr int kMaxRounds = 32;                              // steps per wake-up, for fairness

}  // namespace

Connection::Connection(EpollHttpServer& server, Fd fd, std::string_view peer,
                       http::ConnectionLimiter::Slot slot)
    : server_(server),
      loop_(server.loop()),
      fd_(std::move(fd)),
      carry_(http::HttpSession::opening(server.service())),
      peer_(peer),
      slot_(std::move(slot)) {
  // No session yet: one is lent when the first bytes arrive.
  if (const tls::TlsContext* context = server.tls()) {
    tls_ = std::make_unique<http::TlsTransport>(*context);
    handshake_deadline_ = carry_.deadline;  // --header-timeout from accept
  }
  if (Metrics* m = server_.service().metrics()) m->connection_opened();
}

Connection::~Connection() {
  if (phase_ != Phase::Closed) {
    loop_.remove(fd_.get());
    timer_.cancel();
    loop_.cancel(resume_);
  }
  session_.reset();
  if (Metrics* m = server_.service().metrics()) m->connection_closed();
}

void Connection::start() {
  const std::uint32_t events = loop_.edge_triggered() ? (kReadable | kWritable) : kReadable;
  loop_.add(fd_.get(), events, *this);  // data already waiting is reported at once
  update_timer();
}

void Connection::on_event(std::uint32_t events) {
  if (phase_ == Phase::Lingering) return drain_linger();
  if (h2_) return h2_->on_event(events);
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) can_read_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) can_write_ = true;
  drive();
}

void Connection::shutdown() {
  if (phase_ != Phase::Open) return;
  if (h2_) return h2_->shutdown();
  if (!session_) return close();  // idle (or never spoke): nothing in progress
  session_->shutdown();
  drive();
}

std::string_view Connection::alpn() const {
  return tls_ && !tls_->handshaking() ? tls_->session().alpn() : std::string_view{};
}

Want Connection::want() const { return session_ ? session_->want() : Want::Read; }

Clock::time_point Connection::deadline() const {
  if (tls_ && tls_->handshaking()) return handshake_deadline_;
  return session_ ? session_->deadline() : carry_.deadline;
}

bool Connection::borrow_session() {
  if (session_) return true;
  try {
    session_ = server_.sessions().acquire(peer_, carry_);
    if (!user_.empty()) session_->set_user(user_);
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

void Connection::return_session_if_idle() {
  if (!session_ || !session_->idle()) return;
  carry_ = session_->carry();
  session_.reset();  // back to the pool
  if (tls_ && !tls_->wants_write()) tls_->trim();
}

void Connection::drive() {
  if (tls_ && tls_->handshaking()) return drive_handshake();
  for (int round = 0; round < kMaxRounds; ++round) {
    Step step = Step::Progress;
    if (tls_ && tls_->wants_write()) {  // encrypted bytes leave before anything else
      if (!can_write_) {
        set_interest(kWritable);
        return update_timer();
      }
      step = flush_tls();
    } else {
      switch (want()) {
        case Want::Close:
          return finish();
        case Want::Write:
          if (!can_write_) {
            set_interest(kWritable);  // EPOLLOUT only while output waits for room
            return update_timer();
          }
          step = write_some();
          break;
        case Want::Read:
          if (!can_read_) {
            set_interest(kReadable);
            return_session_if_idle();
            return update_timer();
          }
          step = read_some();
          break;
      }
    }
    if (step == Step::Switched) return h2_->start();
    if (step == Step::Failed) {
      if (Metrics* m = server_.service().metrics()) m->error("io");
      return close();
    }
  }
  // Out of rounds with work left: yield to the other connections. Level-triggered,
  // the kernel reports this fd again; edge-triggered, it would not, so come back
  // through a 0 ms timer.
  const bool output = want() == Want::Write || (tls_ && tls_->wants_write());
  set_interest(output ? kWritable : kReadable);
  if (loop_.edge_triggered() && !loop_.timer_pending(resume_))
    resume_ = loop_.run_after(0, [this] { drive(); });
  update_timer();
}

// One step of the TLS handshake (see the header). Runs instead of drive() until
// the session is open; then the HTTP session takes over on the same event.
void Connection::drive_handshake() {
  switch (tls_->handshake(fd_.get())) {
    case http::TlsTransport::Handshake::Done:
      user_ = tls_->session().peer_subject();
      carry_ = http::HttpSession::opening(server_.service());  // the first request's timer
      can_read_ = true;  // the first request may have come with the last flight
      // ALPN chose HTTP/2: an H2Connection takes over, reading and writing through
      // the transport. Its first bytes are still inside the transport (decrypted
      // by its first read_into), so none are handed over here.
      if (alpn() == "h2") {
        if (!switch_to_h2({}, tls_.get())) return close();
        return h2_->start();
      }
      return drive();
    case http::TlsTransport::Handshake::Blocked:  // WANT_READ / WANT_WRITE -> the interest set
      set_interest(tls_interest(tls_->wants_write(), tls_->session().wants_read()));
      return update_timer();
    case http::TlsTransport::Handshake::Failed:
      return refuse_handshake();
  }
}

// A handshake failed (counted in the context's counters): answer the peer
// without waiting, and close.
void Connection::refuse_handshake() {
  const tls::TlsSession& s = tls_->session();
  log::debug("tls: handshake with {} failed: {} ({})", peer_, tls::failure_name(s.failure()),
             s.error());
  if (tls_->refuse(fd_.get())) return begin_linger();  // the 400 for plain HTTP
  close();
}

Connection::Step Connection::flush_tls() {
  switch (tls_->flush(fd_.get())) {
    case http::SendStep::Progress:
      return Step::Progress;
    case http::SendStep::Blocked:
      can_write_ = false;
      return Step::Blocked;
    case http::SendStep::Failed:
      break;
  }
  return Step::Failed;
}

Connection::Step Connection::read_some() {
  if (!borrow_session()) return Step::Failed;
  IoResult r = tls_ ? tls_->read_into(fd_.get(), session_->input())
                    : session_->input().read_from(fd_.get());
  switch (r.status) {
    case IoResult::Status::Ok:
      // Level-triggered: one read per wake-up is enough (the kernel says if more is
      // there). Edge-triggered: keep reading until EAGAIN.
      if (!loop_.edge_triggered()) can_read_ = false;
      // The first bytes: an HTTP/2 client preface? Cleartext only (h2c): over TLS,
      // HTTP/2 is chosen by ALPN in drive_handshake(), so a TLS connection that
      // reaches this point agreed on HTTP/1.1 (or on nothing) and stays HTTP/1.1.
      if (may_be_h2_ && !tls_) {
        switch (http2::match_preface(session_->input().view())) {
          case http2::PrefaceMatch::Partial: return Step::Progress;  // wait for the rest
          case http2::PrefaceMatch::Yes:
            return switch_to_h2(session_->input().view(), nullptr) ? Step::Switched
                                                                    : Step::Failed;
          case http2::PrefaceMatch::No: may_be_h2_ = false; break;
        }
      }
      session_->on_input();
      return Step::Progress;
    case IoResult::Status::Eof:
      can_read_ = false;
      session_->on_eof();
      return Step::Progress;
    case IoResult::Status::WouldBlock:
      can_read_ = false;
      return Step::Blocked;
    case IoResult::Status::Error:
      break;
  }
  return Step::Failed;
}

Connection::Step Connection::write_some() {
  const http::SendStep sent = tls_ ? tls_->send_output(fd_.get(), *session_)
                                   : http::send_output(fd_.get(), *session_);
  switch (sent) {
    case http::SendStep::Progress:
      return Step::Progress;
    case http::SendStep::Blocked:
      can_write_ = false;
      return Step::Blocked;
    case http::SendStep::Failed:
      break;
  }
  return Step::Failed;
}

// The client spoke HTTP/2 (with prior knowledge, or ALPN "h2" over TLS): from
// now on an H2Connection drives this socket. The HTTP/1.1 session, if one was
// lent, goes back to the pool.
bool Connection::switch_to_h2(std::string_view first_bytes, http::TlsTransport* tls) {
  try {
    h2_ = std::make_unique<H2Connection>(*this, first_bytes, can_read_, tls);
  } catch (const std::bad_alloc&) {
    return false;
  }
  timer_.cancel();
  loop_.cancel(resume_);
  session_.reset();
  return true;
}

void Connection::finish() {
  if (tls_) tls_->close(fd_.get());  // close_notify, if the socket takes it now
  // want() is Close only with a session lent.
  bool pending = session_->linger() || !session_->input().empty();
  if (!pending) {  // unread bytes still in the kernel count too
    char byte;
    pending = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }
  if (pending) return begin_linger();
  close();
}

// Half-close and read (and drop) what the peer still sends, bounded in time and
// bytes, so that close() does not turn unread input into a RST that could destroy
// the response before the peer has read it (nginx's lingering close).
void Connection::begin_linger() {
  ::shutdown(fd_.get(), SHUT_WR);
  phase_ = Phase::Lingering;
  session_.reset();  // nothing more to say: the session goes back to the pool
  linger_left_ = kLingerBytes;
  loop_.cancel(resume_);
  timer_.cancel();  // from now on it holds the linger deadline (on_timer closes)
  timer_.arm(loop_.now() + std::chrono::milliseconds(kLingerMs));
  set_interest(kReadable);
  drain_linger();
}

void Connection::drain_linger() {
  if (drain_for_linger(fd_.get(), linger_left_)) close();  // else wait for more or EOF
}

void Connection::close() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  loop_.remove(fd_.get());
  timer_.cancel();
  loop_.cancel(resume_);
  fd_.reset();
  session_.reset();
  server_.release(*this);  // deleted later, in the server's before_sleep()
}

void Connection::set_interest(std::uint32_t events) {
  if (phase_ == Phase::Closed) return;
  if (loop_.edge_triggered() && phase_ == Phase::Open) return;  // registered for both, once
  try {
    loop_.modify(fd_.get(), events);  // a no-op when unchanged
  } catch (const SysError&) {
    close();
  }
}

void Connection::update_timer() {
  if (phase_ == Phase::Open) timer_.arm(deadline());
}

void Connection::on_timer() {
  if (phase_ == Phase::Lingering) return close();  // the linger time is over
  if (phase_ != Phase::Open) return;
  if (!timer_.passed(deadline())) return;  // moved later meanwhile: re-armed
  if (tls_ && tls_->handshaking()) {  // a stalled handshake: dropped, counted as a timeout
    tls_->timed_out();
    return refuse_handshake();
  }
  if (!session_) return close();  // idle keep-alive, or never spoke: a quiet close
  session_->on_timeout();
  drive();
}

}  // namespace serverlab
