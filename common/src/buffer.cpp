#include "serverlab/buffer.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

namespace serverlab {

void Buffer::retrieve(std::size_t n) {
  assert(n <= readable_bytes());
  if (n < readable_bytes()) {
    reader_ += n;
  } else {
    retrieve_all();  // empty again: start from the front, nothing to slide later
  }
}

std::string Buffer::retrieve_as_string(std::size_t n) {
  std::string s(peek(), n);
  retrieve(n);
  return s;
}

void Buffer::append(const void* data, std::size_t n) {
  ensure_writable(n);
  std::memcpy(begin_write(), data, n);
  has_written(n);
}

void Buffer::prepend(const void* data, std::size_t n) {
  assert(n <= prependable_bytes());
  reader_ -= n;
  std::memcpy(data_.data() + reader_, data, n);
}

void Buffer::ensure_writable(std::size_t n) {
  // [lab12:buffer-make-space:begin]
  // [lab12:buffer-make-space:stub] // Always grows; never reuses the space in front.
  // [lab12:buffer-make-space:stub] if (writable_bytes() < n) data_.resize(writer_ + n);
  if (writable_bytes() >= n) return;
  if (writable_bytes() + prependable_bytes() >= n + kPrepend) {
    // Enough room overall: slide the readable bytes back to the front.
    std::size_t readable = readable_bytes();
    std::memmove(data_.data() + kPrepend, peek(), readable);
    reader_ = kPrepend;
    writer_ = reader_ + readable;
  } else {
    data_.resize(writer_ + n);
  }
  // [lab12:buffer-make-space:end]
}

void Buffer::shrink_to_fit() {
  std::vector<char> fresh(kPrepend + std::max(readable_bytes(), kInitialSize));
  std::memcpy(fresh.data() + kPrepend, peek(), readable_bytes());
  writer_ = kPrepend + readable_bytes();
  reader_ = kPrepend;
  data_.swap(fresh);
}

IoResult Buffer::read_from(int fd) {
  char extra[65536];
  const std::size_t writable = writable_bytes();
  iovec vec[2];
  vec[0].iov_base = begin_write();
  vec[0].iov_len = writable;
  vec[1].iov_base = extra;
  vec[1].iov_len = sizeof extra;
  // With plenty of space already, skip the stack area.
  const int count = writable < sizeof extra ? 2 : 1;
  for (;;) {
    ssize_t r = ::readv(fd, vec, count);
    if (r > 0) {
      auto n = static_cast<std::size_t>(r);
      if (n <= writable) {
        has_written(n);
      } else {
        writer_ = data_.size();
        append(extra, n - writable);
      }
      return IoResult::ok(n);
    }
    if (r == 0) return IoResult::eof(0);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::would_block(0);
    return IoResult::fail(errno);
  }
}

IoResult Buffer::write_to(int fd) {
  for (;;) {
    ssize_t w = ::send(fd, peek(), readable_bytes(), MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK) w = ::write(fd, peek(), readable_bytes());
    if (w >= 0) {
      retrieve(static_cast<std::size_t>(w));
      return IoResult::ok(static_cast<std::size_t>(w));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::would_block(0);
    return IoResult::fail(errno);
  }
}

}  // namespace serverlab
