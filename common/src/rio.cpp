#include "serverlab/rio.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace serverlab {

IoResult read_n(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  std::size_t done = 0;
  // [lab02:read-n:begin]
  // [lab02:read-n:stub] // The naive version (week 1): one read, and whatever it returned is "all".
  // [lab02:read-n:stub] // It works for a short message on a quiet connection; a short count,
  // [lab02:read-n:stub] // EOF or EINTR makes it wrong. Week 2 replaces it.
  // [lab02:read-n:stub] ssize_t r = ::read(fd, p, n);
  // [lab02:read-n:stub] if (r < 0) return IoResult::fail(errno, done);
  // [lab02:read-n:stub] done = static_cast<std::size_t>(r);
  while (done < n) {
    ssize_t r = ::read(fd, p + done, n - done);
    if (r > 0) {
      done += static_cast<std::size_t>(r);
    } else if (r == 0) {
      return IoResult::eof(done);  // short count: the peer closed
    } else if (errno == EINTR) {
      continue;  // a signal interrupted us before any data: just retry
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return IoResult::would_block(done);
    } else {
      return IoResult::fail(errno, done);
    }
  }
  // [lab02:read-n:end]
  return IoResult::ok(done);
}

// send(MSG_NOSIGNAL) on sockets so a reset peer is EPIPE, not a dead process;
// plain write(2) on anything else (pipes, files).
static ssize_t write_some(int fd, const char* p, std::size_t n) {
  ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
  if (w < 0 && errno == ENOTSOCK) w = ::write(fd, p, n);
  return w;
}

IoResult write_n(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  // [lab02:write-n:begin]
  // [lab02:write-n:stub] // The naive version (week 1): one write, and whatever it moved is "all".
  // [lab02:write-n:stub] // It works for a short reply on a quiet connection; a short count or
  // [lab02:write-n:stub] // EINTR makes it wrong. Week 2 replaces it.
  // [lab02:write-n:stub] ssize_t w = write_some(fd, p, n);
  // [lab02:write-n:stub] if (w < 0) return IoResult::fail(errno, done);
  // [lab02:write-n:stub] done = static_cast<std::size_t>(w);
  while (done < n) {
    ssize_t w = write_some(fd, p + done, n - done);
    if (w >= 0) {
      done += static_cast<std::size_t>(w);  // a short write: loop for the rest
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return IoResult::would_block(done);
    } else {
      return IoResult::fail(errno, done);  // EPIPE/ECONNRESET: report, never exit
    }
  }
  // [lab02:write-n:end]
  return IoResult::ok(done);
}

BufferedReader::BufferedReader(int fd, std::size_t capacity) : fd_(fd), buf_(capacity) {}

bool BufferedReader::fill() {
  if (begin_ < end_) return true;
  begin_ = end_ = 0;
  for (;;) {
    ssize_t r = ::read(fd_, buf_.data(), buf_.size());
    if (r > 0) {
      end_ = static_cast<std::size_t>(r);
      return true;
    }
    if (r == 0) return false;
    if (errno == EINTR) continue;
    error_ = errno;
    return false;
  }
}

BufferedReader::LineStatus BufferedReader::read_line(std::string& line, std::size_t max) {
  line.clear();
  // [lab02:read-line:begin]
  // [lab02:read-line:stub] (void)max;
  // [lab02:read-line:stub] return LineStatus::Error;
  while (line.size() < max) {
    if (!fill()) {
      if (error_ != 0) return LineStatus::Error;
      return line.empty() ? LineStatus::Eof : LineStatus::Partial;
    }
    std::size_t want = std::min(end_ - begin_, max - line.size());
    const char* start = buf_.data() + begin_;
    if (const void* nl = std::memchr(start, '\n', want)) {
      std::size_t len = static_cast<std::size_t>(static_cast<const char*>(nl) - start) + 1;
      line.append(start, len);
      begin_ += len;
      return LineStatus::Line;
    }
    line.append(start, want);
    begin_ += want;
  }
  return LineStatus::TooLong;
  // [lab02:read-line:end]
}

IoResult BufferedReader::read_n(void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    if (!fill()) return error_ != 0 ? IoResult::fail(error_, done) : IoResult::eof(done);
    std::size_t take = std::min(end_ - begin_, n - done);
    std::memcpy(p + done, buf_.data() + begin_, take);
    begin_ += take;
    done += take;
  }
  return IoResult::ok(done);
}

}  // namespace serverlab
