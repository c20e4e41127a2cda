#include "serverlab/http/tls_transport.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace serverlab::http {
namespace {

using State = tls::TlsSession::State;

// Room for one record of ciphertext (16 KiB plus header, padding and tag).
constexpr std::size_t kWire = TlsTransport::kChunk + 512;

// recv that retries EINTR. >0 bytes, 0 EOF, -1 with errno.
ssize_t recv_some(int fd, char* buf, std::size_t n) {
  for (;;) {
    ssize_t got = ::recv(fd, buf, n, 0);
    if (got >= 0 || errno != EINTR) return got;
  }
}

ssize_t send_some(int fd, const char* buf, std::size_t n) {
  for (;;) {
    ssize_t put = ::send(fd, buf, n, MSG_NOSIGNAL);
    if (put >= 0 || errno != EINTR) return put;
  }
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

TlsTransport::Handshake TlsTransport::handshake(int fd) {
  for (;;) {
    tls_.advance();  // as far as the bytes fed so far allow (a caller may have fed some)
    if (tls_.state() == State::Failed || tls_.state() == State::Closed) return Handshake::Failed;
    switch (flush(fd)) {  // the previous flight first
      case SendStep::Progress:
        break;
      case SendStep::Blocked:
        return Handshake::Blocked;
      case SendStep::Failed:  // reset while we answered: the session fails as PeerClosed
        if (handshaking()) {
          tls_.feed_eof();
          tls_.advance();
        }
        return Handshake::Failed;
    }
    if (tls_.state() == State::Open) return Handshake::Done;

    std::array<char, kWire> buf;
    ssize_t got = recv_some(fd, buf.data(), buf.size());
    if (got > 0) {
      tls_.feed({buf.data(), static_cast<std::size_t>(got)});
    } else if (got < 0 && would_block(errno)) {
      return Handshake::Blocked;
    } else {  // EOF or a reset: the handshake cannot finish
      tls_.feed_eof();
    }
  }
}

bool TlsTransport::refuse(int fd) {
  if (tls_.failure() == tls::Failure::PlainHttp) {
    (void)send_some(fd, tls::kPlainHttpResponse.data(), tls::kPlainHttpResponse.size());
    return true;
  }
  (void)flush(fd);  // the alert, if OpenSSL queued one
  return false;
}

IoResult TlsTransport::read_into(int fd, Buffer& in) {
  for (;;) {
    // Decrypt what was fed already: the handshake's last flight often carries
    // the first request too, and the socket will not report it again.
    std::size_t got = 0;
    for (;;) {
      in.ensure_writable(kChunk);
      tls::TlsSession::Io r = tls_.read(in.begin_write(), in.writable_bytes());
      if (r.status == tls::TlsSession::Io::Status::Ok) {
        in.has_written(r.bytes);
        got += r.bytes;
        continue;
      }
      if (got > 0) return IoResult::ok(got);  // report the end on the next call
      if (r.status == tls::TlsSession::Io::Status::Closed) return IoResult::eof(0);
      if (r.status == tls::TlsSession::Io::Status::Failed)
        return peer_eof_ ? IoResult::eof(0) : IoResult::fail(EPROTO);
      break;  // WantRead
    }
    if (peer_eof_) return IoResult::eof(0);
    // One recv at a time: at most about one record of plaintext is added per
    // round, and the loop ends as soon as some is.
    std::array<char, kWire> buf;
    ssize_t n = recv_some(fd, buf.data(), buf.size());
    if (n > 0) {
      tls_.feed({buf.data(), static_cast<std::size_t>(n)});
    } else if (n == 0) {
      peer_eof_ = true;
      tls_.feed_eof();
    } else if (would_block(errno)) {
      return IoResult::would_block(0);
    } else {
      return IoResult::fail(errno);
    }
  }
}

SendStep TlsTransport::send_output(int fd, HttpSession& session) {
  if (wants_write()) return flush(fd);  // one step in flight at a time
  for (std::size_t step = 0; step < kStep;) {
    const HttpSession::Output out = session.output();
    std::size_t n = 0;
    if (!out.bytes.empty()) {
      n = std::min({out.bytes.size(), kChunk, kStep - step});
      if (tls_.write(out.bytes.substr(0, n)).status != tls::TlsSession::Io::Status::Ok)
        return SendStep::Failed;
      session.wrote(n);
    } else if (out.file_length > 0) {
      std::array<char, kChunk> chunk;
      const std::size_t want =
          std::min({static_cast<std::size_t>(std::min<std::uint64_t>(out.file_length, kChunk)),
                    kStep - step});
      ssize_t got;
      do {
        got = ::pread(out.file_fd, chunk.data(), want, static_cast<off_t>(out.file_offset));
      } while (got < 0 && errno == EINTR);
      if (got <= 0) return SendStep::Failed;  // an error, or the file shrank under us
      n = static_cast<std::size_t>(got);
      if (tls_.write({chunk.data(), n}).status != tls::TlsSession::Io::Status::Ok)
        return SendStep::Failed;
      session.sent_file(n);
    } else {
      break;  // the response is all encrypted
    }
    step += n;
  }
  // The session has been told; the ciphertext leaves now or on the next call.
  return flush(fd) == SendStep::Failed ? SendStep::Failed : SendStep::Progress;
}

SendStep TlsTransport::send_bytes(int fd, std::string_view bytes, std::size_t& taken) {
  taken = 0;
  if (wants_write()) return flush(fd);  // one step in flight at a time, as send_output
  if (bytes.empty()) return SendStep::Progress;
  const std::size_t total = std::min(bytes.size(), kStep);
  while (taken < total) {  // one record per write
    const std::size_t n = std::min(total - taken, kChunk);
    if (tls_.write(bytes.substr(taken, n)).status != tls::TlsSession::Io::Status::Ok)
      return SendStep::Failed;
    taken += n;
  }
  return flush(fd) == SendStep::Failed ? SendStep::Failed : SendStep::Progress;
}

SendStep TlsTransport::flush(int fd) {
  while (tls_.pending_output() > 0) {
    // Straight from the session's buffer to the socket: no copy. What the
    // socket does not take stays there for the next call.
    const std::string_view out = tls_.peek_output();
    ssize_t n = send_some(fd, out.data(), out.size());
    if (n < 0) return would_block(errno) ? SendStep::Blocked : SendStep::Failed;
    tls_.consume_output(static_cast<std::size_t>(n));
  }
  return SendStep::Progress;
}

void TlsTransport::close(int fd) {
  if (tls_.state() != State::Open) return;
  tls_.close();
  (void)flush(fd);
}

void TlsTransport::trim() { tls_.trim(); }

}  // namespace serverlab::http
