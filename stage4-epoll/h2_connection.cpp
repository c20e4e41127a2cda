#include "h2_connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "connection.hpp"
#include "http_server.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {

namespace {

using Want = http2::Http2Session::Want;

constexpr int kMaxRounds = 32;  // steps per wake-up, for fairness (as Connection)

}  // namespace

H2Connection::H2Connection(Connection& owner, std::string_view first_bytes, bool can_read,
                           http::TlsTransport* tls)
    : owner_(owner),
      loop_(owner.loop_),
      fd_(owner.fd()),
      tls_(tls),
      session_(owner.server_.service(), owner.peer_),
      can_read_(can_read),
      timer_(loop_, [this] { on_timer(); }) {
  if (!first_bytes.empty()) session_.input().append(first_bytes);  // over TLS: none (null data)
  session_.set_user(owner.user_);  // the TLS client certificate's subject, if any
  session_.use_clock(loop_.now());  // the loop's cached time: no clock read per request
}

H2Connection::~H2Connection() { loop_.cancel(resume_); }  // timer_ cancels itself

void H2Connection::start() {
  session_.on_input();
  drive();
}

// The Connection can also be closed from outside (the server's shutdown grace
// period ending): then this object only waits to be deleted with it.
bool H2Connection::gone() const { return done_ || owner_.closed(); }

void H2Connection::on_event(std::uint32_t events) {
  if (gone()) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) can_read_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) can_write_ = true;
  drive();
}

void H2Connection::shutdown() {
  if (gone()) return;
  session_.shutdown();
  drive();
}

void H2Connection::drive() {
  if (gone()) return;
  for (int round = 0; round < kMaxRounds && !done_; ++round) {
    Step step = Step::Progress;
    if (tls_ && tls_->wants_write()) {  // encrypted bytes leave before anything else
      if (!can_write_) {
        set_interest(kWritable);
        return update_timer();
      }
      step = flush_tls();
    } else {
      switch (session_.want()) {
        case Want::Close:
          return finish();
        case Want::Write:
          if (!can_write_) {
            set_interest(kWritable);
            return update_timer();
          }
          step = write_some();
          break;
        case Want::Read:
          if (!can_read_) {
            set_interest(kReadable);
            return update_timer();
          }
          step = read_some();
          break;
      }
    }
    if (step == Step::Failed) {
      if (Metrics* m = owner_.server_.service().metrics()) m->error("io");
      done_ = true;
      return owner_.close();
    }
  }
  if (done_) return;
  const bool output = session_.want() == Want::Write || (tls_ && tls_->wants_write());
  set_interest(output ? kWritable : kReadable);
  if (loop_.edge_triggered() && !loop_.timer_pending(resume_))
    resume_ = loop_.run_after(0, [this] { drive(); });
  update_timer();
}

H2Connection::Step H2Connection::read_some() {
  IoResult r = tls_ ? tls_->read_into(fd_, session_.input()) : session_.input().read_from(fd_);
  switch (r.status) {
    case IoResult::Status::Ok:
      if (!loop_.edge_triggered()) can_read_ = false;
      session_.on_input();
      return Step::Progress;
    case IoResult::Status::Eof:
      can_read_ = false;
      session_.on_eof();
      return Step::Progress;
    case IoResult::Status::WouldBlock:
      can_read_ = false;
      return Step::Blocked;
    case IoResult::Status::Error:
      break;
  }
  return Step::Failed;
}

H2Connection::Step H2Connection::write_some() {
  const std::string_view out = session_.output();
  if (tls_) {
    std::size_t taken = 0;
    const http::SendStep step = tls_->send_bytes(fd_, out, taken);
    session_.wrote(taken);  // those bytes are the transport's now, sent or not
    return sent(step);
  }
  for (;;) {
    const ssize_t n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      session_.wrote(static_cast<std::size_t>(n));
      return Step::Progress;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      can_write_ = false;
      return Step::Blocked;
    }
    return Step::Failed;
  }
}

H2Connection::Step H2Connection::flush_tls() { return sent(tls_->flush(fd_)); }

H2Connection::Step H2Connection::sent(http::SendStep step) {
  switch (step) {
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

void H2Connection::finish() {
  done_ = true;
  timer_.cancel();
  loop_.cancel(resume_);
  if (tls_) tls_->close(fd_);  // close_notify, if the socket takes it now
  // After a GOAWAY the client may still have frames in flight: lingering keeps
  // them from turning into a RST that could destroy the GOAWAY before it is read.
  if (session_.linger()) return owner_.begin_linger();
  owner_.close();
}

void H2Connection::set_interest(std::uint32_t events) {
  if (done_ || loop_.edge_triggered()) return;  // edge-triggered: registered for both, once
  try {
    loop_.modify(fd_, events);
  } catch (const SysError&) {
    done_ = true;
    owner_.close();
  }
}

void H2Connection::update_timer() {
  if (!done_) timer_.arm(session_.deadline());
}

void H2Connection::on_timer() {
  if (gone()) return;
  if (!timer_.passed(session_.deadline())) return;  // moved later meanwhile: re-armed
  session_.on_timeout();
  drive();
}

}  // namespace serverlab
