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
// Blocking, and the one early return. They are meant for blocking descriptors
// (stages 1-3): there a call waits inside read(2)/write(2) until bytes can move,
// and returns with all n bytes, EOF or an error. read(2) and write(2) fail with
// EAGAIN in two cases only: the descriptor is non-blocking and no byte can move
// now, or a blocking socket's receive/send timeout (SO_RCVTIMEO, SO_SNDTIMEO; stage
// 1's idle timeout) expired. Then read_n and write_n stop at once and return
// WouldBlock with `bytes` = what moved so far: they never spin, poll or sleep, and
// the rest of the buffer is left for the caller (stage 1 treats it as a timeout and
// closes). Stage 4's non-blocking loop uses Buffer instead.
//
// Signals. With a handler installed without SA_RESTART, a signal makes a blocked
// read(2)/write(2) fail with EINTR if no byte had moved yet, or return a short count
// if some had. read_n, write_n and the reader's refill retry both: a signal never
// loses or invents a byte.
//
// None of these throw: a server loop checks the IoResult and moves on.
//
// Who may call: any thread, on a descriptor no other thread reads (for the reading
// functions) or writes (for write_n) at the same time. A BufferedReader is used by
// one thread at a time. Never from a signal handler.
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

// Reads n bytes into buf. Ok(n); Eof(short count) when the peer closed first;
// WouldBlock(count) on EAGAIN (see above); Error(errno, count) otherwise.
// [lab02:read-n]
IoResult read_n(int fd, void* buf, std::size_t n);
// Writes the n bytes at buf. Ok(n); WouldBlock(count written) on EAGAIN: the rest
// was not written and write_n does not wait for room; Error(errno, count) otherwise
// (EPIPE, ECONNRESET: the peer is gone).
// [lab02:write-n]
IoResult write_n(int fd, const void* buf, std::size_t n);
inline IoResult write_n(int fd, std::string_view s) { return write_n(fd, s.data(), s.size()); }

// Reads through an internal buffer so a line costs one read(2), not one per byte.
// "One refill per buffer": read(2) is called only once every buffered byte has been
// handed out, and then once, for up to `capacity` bytes; every line in what it
// returns is served from memory. Ten short lines that arrive together cost one
// read(2); a line longer than the buffer costs one read(2) per buffer-full.
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

  // Reads the next line into `line` (cleared first). `max` counts every byte of the
  // line, the '\n' included: a line of exactly max bytes ending in '\n' is a Line.
  //  - TooLong: no '\n' among the next max bytes. `line` holds those max bytes; they
  //    are consumed, and the next call goes on from byte max+1 of the same line (a
  //    server usually answers an error and closes instead).
  //  - Partial: EOF came after some bytes with no '\n'; `line` holds them.
  //  - Eof: EOF and nothing left; `line` is empty.
  //  - Error: read(2) failed; error() is its errno (EAGAIN: a receive timeout or a
  //    non-blocking descriptor with nothing to read). `line` holds what came before.
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
