// client.cpp: reading commands, running them, writing replies (client.hpp).
#include "client.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "commands.hpp"
#include "kv_server.hpp"
#include "serverlab/log.hpp"
#include "serverlab/resp/writer.hpp"
#include "serverlab/sys_error.hpp"
#include "tls_interest.hpp"

namespace serverlab::kv {

namespace {

// Inputs beyond this with no whole command in them close the connection. The
// parser refuses longer lengths first; this catches the rest (many huge bulks).
constexpr std::size_t kMaxQueryBuffer = std::size_t{1} << 30;  // client-query-buffer-limit

}  // namespace

Client::Client(KvServer& server, Fd fd, std::uint64_t id, std::string peer)
    : server_(server), loop_(server.loop()), fd_(std::move(fd)), id_(id), peer_(std::move(peer)),
      in_(16 * 1024) {
  created_ms = static_cast<std::int64_t>(loop_.now_ms());
  last_active_ms = created_ms;
  authenticated = server.options().requirepass.empty();
  if (const tls::TlsContext* context = server.options().tls)
    tls_ = std::make_unique<http::TlsTransport>(*context);
}

Client::~Client() {
  if (!closed_) {
    loop_.remove(fd_.get());
    loop_.cancel(blocked.timeout);
    loop_.cancel(handshake_timer_);
  }
}

void Client::start() {
  loop_.add(fd_.get(), kReadable, *this);
  if (!tls_) return;
  handshake_timer_ = loop_.run_after(kHandshakeTimeoutMs, [this] {
    handshake_timer_ = {};
    if (closed_ || !tls_->handshaking()) return;
    tls_->timed_out();  // counted in the context's failures
    log::debug("client {} ({}): TLS handshake timed out", id_, peer_);
    close();
  });
}

void Client::on_event(std::uint32_t events) {
  if (closed_) return;
  if (tls_ && tls_->handshaking()) return drive_handshake();
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) flush();
  if (closed_) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_some();
}

// One step of the TLS handshake; on success the client is an ordinary one.
void Client::drive_handshake() {
  switch (tls_->handshake(fd_.get())) {
    case http::TlsTransport::Handshake::Done:
      loop_.cancel(handshake_timer_);
      set_interest(kReadable);
      return read_some();  // the first command may have come with the last flight
    case http::TlsTransport::Handshake::Blocked:
      return set_interest(tls_interest(tls_->wants_write(), tls_->session().wants_read()));
    case http::TlsTransport::Handshake::Failed: {
      const tls::TlsSession& s = tls_->session();
      log::debug("client {} ({}): TLS handshake failed: {} ({})", id_, peer_,
                 tls::failure_name(s.failure()), s.error());
      (void)tls_->refuse(fd_.get());  // the alert OpenSSL queued, best effort
      return close();
    }
  }
}

void Client::read_some() {
  if (pending_output() >= kPauseOutput) return set_interest(kWritable);
  IoResult r = tls_ ? tls_->read_into(fd_.get(), in_) : in_.read_from(fd_.get());
  switch (r.status) {
    case IoResult::Status::Ok:
      server_.stats().bytes_in += r.bytes;
      last_active_ms = static_cast<std::int64_t>(loop_.now_ms());
      process_input();
      // Reading may leave TLS records to send (TLS 1.3 session tickets).
      if (tls_ && !closed_ && tls_->wants_write()) server_.want_flush(*this);
      return;
    case IoResult::Status::WouldBlock:
      return;
    case IoResult::Status::Eof:
    case IoResult::Status::Error:
      return close();
  }
}

void Client::process_input() {
  while (!closed_ && !close_after_reply_ && !blocked.active && !in_.empty()) {
    if (pending_output() >= kPauseOutput) break;  // let the client read first
    if (need_ > in_.readable_bytes()) break;     // the bulk being read is not all here
    std::string_view input = in_.view();
    if (!run_one(input)) break;
  }
  if (!closed_ && in_.readable_bytes() > kMaxQueryBuffer) {
    log::info("closing client {} ({}): query buffer over {} bytes", id_, peer_, kMaxQueryBuffer);
    close();
    return;
  }
  // A large buffer goes back once it is empty: an idle client costs little.
  if (in_.empty() && in_.capacity() > 64 * 1024) in_.shrink_to_fit();
  if (pending_output() > 0) server_.want_flush(*this);
}

// Parses and runs one command from the front of `input`. False: stop (incomplete
// input, or a protocol error that closes the connection).
bool Client::run_one(std::string_view& input) {
  const resp::ParseResult r = resp::parse_command(input, command_, server_.options().limits);
  switch (r.kind) {
    case resp::ParseResult::Incomplete:
      need_ = r.need;
      return false;
    case resp::ParseResult::Error:
      resp::write_error(out_, std::string("ERR Protocol error: ") + std::string(r.error));
      log::debug("client {} ({}): protocol error: {}", id_, peer_, r.error);
      in_.retrieve_all();
      close_after_reply_ = true;
      server_.want_flush(*this);
      return false;
    case resp::ParseResult::Done:
      break;
  }
  need_ = 0;
  if (!command_.args.empty()) {
    server_.update_now();
    execute(server_, *this, command_.args);
    server_.serve_ready_keys();
  }
  // The arguments are views into in_: drop the bytes only after the command ran.
  in_.retrieve(r.consumed);
  return true;
}

void Client::push(std::string_view bytes) {
  if (closed_) return;
  out_ += bytes;
  if (pending_output() > server_.options().output_limit) {
    log::info("closing client {} ({}): {} bytes of output unread (limit {})", id_, peer_,
              pending_output(), server_.options().output_limit);
    ++server_.stats().output_limit_disconnects;
    close();
    return;
  }
  server_.want_flush(*this);
}

void Client::flush() {
  flush_queued_ = false;
  if (closed_ || (tls_ && tls_->handshaking())) return;  // replies wait for the handshake
  if (!(tls_ ? send_tls() : send_plain())) return;
  // All sent.
  if (out_.capacity() > 64 * 1024) {
    std::string().swap(out_);
  } else {
    out_.clear();
  }
  sent_ = 0;
  if (close_after_reply_) return close();
  set_interest(kReadable);
  // Commands held back while the output was full can run now.
  if (!in_.empty() && !blocked.active) process_input();
}

bool Client::send_tls() {
  for (;;) {
    std::size_t taken = 0;
    const http::SendStep step =
        tls_->send_bytes(fd_.get(), std::string_view(out_).substr(sent_), taken);
    sent_ += taken;
    server_.stats().bytes_out += taken;  // plaintext, as the plain path counts
    switch (step) {
      case http::SendStep::Progress:
        if (sent_ == out_.size() && !tls_->wants_write()) return true;
        continue;
      case http::SendStep::Blocked:
        set_interest(kWritable);  // the rest when the socket has room
        return false;
      case http::SendStep::Failed:
        close();  // the client is gone
        return false;
    }
  }
}

bool Client::send_plain() {
  while (!closed_ && sent_ < out_.size()) {
    const ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent_ += static_cast<std::size_t>(n);
      server_.stats().bytes_out += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_interest(kWritable);  // the rest when the socket has room
      return false;
    }
    close();  // EPIPE, ECONNRESET: the client is gone
    return false;
  }
  return !closed_;
}

void Client::set_interest(std::uint32_t events) {
  if (closed_) return;
  try {
    loop_.modify(fd_.get(), events);
  } catch (const SysError&) {
    close();
  }
}

ClientInfo Client::info() const {
  ClientInfo i;
  fill_info(i);
  return i;
}

void Client::fill_info(ClientInfo& i) const {
  i.id = id_;
  i.peer = peer_;
  i.fd = fd_.get();
  i.name = name;
  i.created_ms = created_ms;
  i.last_active_ms = last_active_ms;
  i.flag = blocked.active ? 'b' : (multi.active ? 'x' : (subscriptions() ? 'P' : 'N'));
  i.channels = channels.size();
  i.patterns = patterns.size();
  i.multi = multi.active ? static_cast<int>(multi.queued.size()) : -1;
  i.output = pending_output();
  i.last_command = last_command;
}

void Client::unblock() {
  loop_.cancel(blocked.timeout);
  blocked = {};
}

void Client::close() {
  if (closed_) return;
  closed_ = true;
  loop_.remove(fd_.get());
  loop_.cancel(handshake_timer_);
  if (tls_) tls_->close(fd_.get());  // close_notify, best effort (nothing when not open)
  if (blocked.active) {
    server_.remove_blocked(*this);
    unblock();
  }
  for (const std::string& key : watched) server_.db().unwatch(key, watcher);
  watched.clear();
  // Subscriptions go in release(), which owns the registries.
  fd_.reset();
  server_.release(*this);
}

}  // namespace serverlab::kv
