// stream.cpp: TlsStream, TlsSession over a blocking socket.
#include "serverlab/tls/stream.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace serverlab::tls {
namespace {

constexpr std::size_t kChunk = 16 * 1024;  // one full TLS record

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline`, at least 0; -1 for "no deadline".
int remaining_ms(bool has_deadline, Clock::time_point deadline) {
  if (!has_deadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

IoResult TlsStream::flush() {
  std::size_t sent = 0;
  while (session_.pending_output() > 0) {  // sent from the session's buffer, not copied
    const std::string_view out = session_.peek_output();
    IoResult r = serverlab::write_n(fd_, out.data(), out.size());  // MSG_NOSIGNAL on sockets
    sent += r.bytes;
    session_.consume_output(r.bytes);
    if (!r.is_ok()) return IoResult::fail(r.error, sent);
  }
  return IoResult::ok(sent);
}

IoResult TlsStream::fill(int timeout_ms) {
  if (timeout_ms >= 0) {
    pollfd p{fd_, POLLIN, 0};
    int ready;
    do ready = ::poll(&p, 1, timeout_ms);
    while (ready < 0 && errno == EINTR);  // a signal shortens no deadline by much
    if (ready < 0) return IoResult::fail(errno);
    if (ready == 0) return IoResult::fail(ETIMEDOUT);
  }
  char buf[kChunk];
  ssize_t n;
  do n = ::recv(fd_, buf, sizeof buf, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return IoResult::fail(errno);
  if (n == 0) {
    session_.feed_eof();
    return IoResult::eof(0);
  }
  session_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  return IoResult::ok(static_cast<std::size_t>(n));
}

bool TlsStream::handshake(int timeout_ms) {
  const bool has_deadline = timeout_ms >= 0;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(has_deadline ? timeout_ms : 0);
  // Each turn: let OpenSSL use what came, send what it wrote, wait for more.
  // Every exit path leaves the session Open or Failed (a reset or a failed
  // send counts as the peer closing: advance() then fails with PeerClosed).
  while (session_.advance() == TlsSession::State::Handshaking) {
    if (flush().is_error()) {
      session_.feed_eof();
      continue;
    }
    IoResult r = fill(remaining_ms(has_deadline, deadline));
    if (r.is_error() && r.error == ETIMEDOUT) session_.fail_timeout();
    else if (r.is_error()) session_.feed_eof();
  }
  if (session_.failure() == Failure::PlainHttp) {
    serverlab::write_n(fd_, kPlainHttpResponse);
    return false;
  }
  flush();  // the final flight, or an alert telling the peer why it failed
  return session_.state() == TlsSession::State::Open;
}

IoResult TlsStream::read_some(void* buf, std::size_t n) {
  if (n == 0) return IoResult::ok(0);
  for (;;) {
    TlsSession::Io io = session_.read(static_cast<char*>(buf), n);
    switch (io.status) {
      case TlsSession::Io::Status::Ok: return IoResult::ok(io.bytes);
      case TlsSession::Io::Status::Closed: flush(); return IoResult::eof(0);
      case TlsSession::Io::Status::Failed:
        flush();
        return session_.failure() == Failure::PeerClosed ? IoResult::eof(0) : IoResult::fail(EPROTO);
      case TlsSession::Io::Status::WantRead: break;
    }
    if (IoResult f = flush(); f.is_error()) return IoResult::fail(f.error);
    IoResult r = fill(-1);
    if (r.is_error()) return IoResult::fail(r.error);
    // Ok or Eof: go round; the session turns an EOF into Closed or Failed.
  }
}

IoResult TlsStream::read_n(void* buf, std::size_t n) {
  char* p = static_cast<char*>(buf);
  std::size_t got = 0;
  while (got < n) {
    IoResult r = read_some(p + got, n - got);
    if (r.is_eof()) return IoResult::eof(got);
    if (r.is_error()) return IoResult::fail(r.error, got);
    got += r.bytes;
  }
  return IoResult::ok(got);
}

IoResult TlsStream::write_n(const void* buf, std::size_t n) {
  // A record at a time, so the ciphertext buffered in memory stays small.
  const char* p = static_cast<const char*>(buf);
  for (std::size_t done = 0; done < n;) {
    std::size_t chunk = std::min(n - done, kChunk);
    TlsSession::Io io = session_.write(std::string_view(p + done, chunk));
    if (io.status != TlsSession::Io::Status::Ok) return IoResult::fail(EPROTO, done);
    if (IoResult f = flush(); f.is_error()) return IoResult::fail(f.error, done);
    done += chunk;
  }
  return IoResult::ok(n);
}

void TlsStream::close() {
  session_.close();
  flush();
}

}  // namespace serverlab::tls
