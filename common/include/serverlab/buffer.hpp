// buffer.hpp: Buffer, a growable byte queue for non-blocking I/O (muduo's design).
//
//   +-------------------+------------------+------------------+
//   | prependable bytes |  readable bytes  |  writable bytes  |
//   |                   |    (CONTENT)     |                  |
//   +-------------------+------------------+------------------+
//   0        <=     reader_     <=     writer_      <=      size
//
// Data is appended at writer_ and consumed from reader_. When the writable
// region is too small, the readable bytes first slide back to the front (if the
// space freed by consumed bytes is enough) and only then does the vector grow.
// The small prependable area lets a caller put a length prefix or a response
// head in front of data already written, without a copy.
//
// read_from(fd) reads with one readv(2) into the writable region plus a 64 KiB
// stack area, so a buffer can stay small yet take a large burst in one syscall.
//
// Not thread-safe: one Buffer belongs to one connection on one thread.
// Who may call: the one thread that serves the Buffer's connection.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/rio.hpp"

namespace serverlab {

class Buffer {
 public:
  static constexpr std::size_t kPrepend = 8;
  static constexpr std::size_t kInitialSize = 1024;

  explicit Buffer(std::size_t initial = kInitialSize) : data_(kPrepend + initial) {}

  std::size_t readable_bytes() const { return writer_ - reader_; }
  std::size_t writable_bytes() const { return data_.size() - writer_; }
  std::size_t prependable_bytes() const { return reader_; }
  std::size_t capacity() const { return data_.size(); }
  bool empty() const { return readable_bytes() == 0; }

  const char* peek() const { return data_.data() + reader_; }
  std::string_view view() const { return {peek(), readable_bytes()}; }

  // Consumes n readable bytes (n <= readable_bytes()).
  void retrieve(std::size_t n);
  void retrieve_all() { reader_ = writer_ = kPrepend; }
  std::string retrieve_as_string(std::size_t n);

  void append(const void* data, std::size_t n);
  void append(std::string_view s) { append(s.data(), s.size()); }
  // Puts n bytes in front of the readable ones (n <= prependable_bytes()).
  void prepend(const void* data, std::size_t n);

  // Makes room for n more bytes, sliding before growing.
  void ensure_writable(std::size_t n);
  char* begin_write() { return data_.data() + writer_; }
  void has_written(std::size_t n) { writer_ += n; }

  // Gives the memory back (capacity returns to kInitialSize); for idle connections.
  void shrink_to_fit();

  // One readv(2) into writable space + 64 KiB on the stack. Returns Ok(n),
  // Eof, WouldBlock or Error(errno); EINTR is retried.
  IoResult read_from(int fd);
  // One write(2)/send(2) of readable bytes; consumes what was written.
  IoResult write_to(int fd);

 private:
  std::vector<char> data_;
  std::size_t reader_ = kPrepend;
  std::size_t writer_ = kPrepend;
};

}  // namespace serverlab
