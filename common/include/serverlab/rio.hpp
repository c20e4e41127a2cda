// rio.hpp: robust I/O on blocking descriptors (CS:APP's RIO, with its bugs fixed).
//
// The contract, one sentence per function:
//  - read_n reads exactly n bytes unless EOF or an error comes first; it
//    retries on EINTR, and a short count means EOF (status Eof, bytes = what was read).
//  - write_n writes all n bytes unless an error comes first; it retries on
//    EINTR and on short writes; on a socket it never raises SIGPIPE (it sends with
//    MSG_NOSIGNAL, so a reset peer is Error(EPIPE)); on a pipe only ignore_sigpipe() does that.
//  - BufferedReader::read_line returns one '\n'-terminated line, or the
//    unterminated tail at EOF, or TooLong when no '\n' comes within max bytes:
//    it never truncates silently and never spins at EOF.
//
// None of these throw: a server loop checks the IoResult and moves on.
// They block; use them on blocking descriptors (stages 1-3). Stage 4 uses Buffer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace serverlab {

struct IoResult {
  enum class Status { Ok, Eof, WouldBlock, Error };
  Status status = Status::Ok;
  std::size_t bytes = 0;  // bytes moved before the call returned
  int error = 0;          // errno when status == Error

  static IoResult ok(std::size_t n) { return {Status::Ok, n, 0}; }
  static IoResult eof(std::size_t n) { return {Status::Eof, n, 0}; }
  static IoResult would_block(std::size_t n) { return {Status::WouldBlock, n, 0}; }
  static IoResult fail(int err, std::size_t n = 0) { return {Status::Error, n, err}; }

  bool is_ok() const { return status == Status::Ok; }
  bool is_eof() const { return status == Status::Eof; }
  bool is_error() const { return status == Status::Error; }
};

// [lab02:read-n]
IoResult read_n(int fd, void* buf, std::size_t n);
// [lab02:write-n]
IoResult write_n(int fd, const void* buf, std::size_t n);
inline IoResult write_n(int fd, std::string_view s) { return write_n(fd, s.data(), s.size()); }

// Reads through an internal buffer so a line costs one read(2), not one per byte.
// Owns no descriptor: the caller keeps fd open for the reader's lifetime.
class BufferedReader {
 public:
  enum class LineStatus {
    Line,     // a full line ending in '\n' (the '\n' is kept)
    Partial,  // EOF after some bytes with no '\n': the unterminated tail
    Eof,      // EOF and nothing left
    TooLong,  // no '\n' within max bytes; the line's first max bytes are consumed
    Error,    // read(2) failed; error() says why
  };

  explicit BufferedReader(int fd, std::size_t capacity = 8192);

  // [lab02:read-line]
  LineStatus read_line(std::string& line, std::size_t max);

  // Like read_n, but serves buffered bytes first.
  IoResult read_n(void* buf, std::size_t n);

  // Bytes already buffered and not yet returned.
  std::size_t buffered() const { return end_ - begin_; }
  int error() const { return error_; }

 private:
  // Refills when empty; returns false on EOF or error.
  bool fill();

  int fd_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  int error_ = 0;
};

}  // namespace serverlab
