// http/parser.hpp: parse_request, a pure function from bytes to a Request.
//
//   ParseResult r = parse_request(buffer.view(), request, limits);
//   switch (r.kind) {
//     case ParseResult::Incomplete: read more and call again with ALL the bytes
//     case ParseResult::Done:       the head is r.consumed bytes long; body follows
//     case ParseResult::Error:      answer r.status (400, 413, 414, 431, 501, 505) and close
//   }
//
// No I/O, no allocation beyond Request::headers, no state kept between calls
// (picohttpparser's shape): feeding a prefix of a valid request always yields
// Incomplete, and the parser never reads past bytes.size(). RFC 9112 decides
// what is valid. Thread-safe (it touches only its arguments).
//
// Calling it again after every read costs O(n^2) for a head that arrives a byte
// at a time. The caller may skip calls that cannot finish the head (picohttpparser's
// last_len): a head is Done only once a line ends, so after Incomplete the next
// call is needed only when a new LF has arrived or the input has grown to
// r.limit_at bytes (where a 414 or 431 falls due). Skipping calls only delays an
// error found inside an unfinished line; it never changes a verdict. HttpSession
// does this.
//
// Status mapping: request line over max_request_line -> 414; header section over
// max_header_bytes or more than max_headers fields -> 431; HTTP/2+ -> 505;
// a Transfer-Encoding other than chunked -> 501; any framing ambiguity
// (Content-Length with Transfer-Encoding, differing Content-Lengths, obs-fold,
// whitespace before a colon, bare CR, NUL, missing/duplicate Host on 1.1) -> 400.
// A declared Content-Length over max_body -> 413.
//
// Line endings: CRLF, and also a bare LF in the request line and header fields
// (RFC 9112 2.2 allows a recipient to accept one; curl, nginx and most servers
// do, and it opens no ambiguity because a bare CR is always rejected). Inside a
// chunked body the decoder is strict: CRLF only. Up to four stray empty lines
// before the request line are skipped (RFC 9112 2.2). Request-targets may be
// origin-form ("/p?q"), absolute-form ("http://h/p": path and query taken from
// it, host = its authority), "*" (OPTIONS only) or authority-form (CONNECT only,
// path left empty); a '#' or a non-URI byte in the target -> 400.
//
// Who may call: any thread, on bytes no other thread changes during the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serverlab/http/request.hpp"

namespace serverlab::http {

struct ParseLimits {
  std::size_t max_request_line = 8 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_headers = 100;
  std::uint64_t max_body = 1024 * 1024;
};

struct ParseResult {
  enum Kind { Incomplete, Done, Error };
  Kind kind = Incomplete;
  std::size_t consumed = 0;  // Done: length of the head, including the final CRLF CRLF
  int status = 0;            // Error: the status to answer with
  // Incomplete: the input length at which a limit (414, 431) falls due if no line
  // ends before it; 0 when not known (then call again on any new byte).
  std::size_t limit_at = 0;
};

// Written in three steps, each its own lab region in parser.cpp:
// [lab03:request-line], [lab03:header-fields], [lab03:head-rules].
ParseResult parse_request(std::string_view bytes, Request& request, const ParseLimits& limits = {});

// Decodes (and discards) a request body: Content-Length or chunked. Feed it the
// bytes after the head; it says how many it consumed and whether the body is done.
// Chunk extensions and trailers are accepted and skipped. Pure; no I/O.
// Every byte it is given is consumed unless the body ends (Done: the rest is the
// next pipelined request) or is bad (Error). A chunk-size line (with extensions)
// over 4 KiB -> 400, trailers over 8 KiB -> 431; the sum of chunk sizes is
// checked against max_body as each size is read, so a huge or overflowing hex
// size fails (413) before any data arrives.
class BodyDecoder {
 public:
  enum class State { More, Done, Error };
  struct Step {
    State state = State::More;
    std::size_t consumed = 0;
    int status = 0;  // Error: 400 (malformed chunk), 413 (over the limit), 431 (trailers)
  };

  BodyDecoder() = default;
  // Sets up for one request's body (none, fixed length, or chunked).
  void start(const Request& request, std::uint64_t max_body);
  // Consumes body bytes from the front of `bytes`.
  Step feed(std::string_view bytes);
  bool done() const { return phase_ == Phase::Finished; }

 private:
  enum class Phase {
    Fixed,                                              // Content-Length countdown
    ChunkSize, ChunkExt, ChunkSizeLf,                   // "1a;ext=v\r\n"
    ChunkData, ChunkDataCr, ChunkDataLf,                // data, then "\r\n"
    TrailerStart, TrailerLine, TrailerLineLf, TrailerEndLf,  // fields, then "\r\n"
    Finished, Failed
  };
  Phase phase_ = Phase::Finished;
  std::uint64_t remaining_ = 0;  // Fixed: bytes left; chunked: the current chunk's size/rest
  std::uint64_t total_ = 0;      // chunk-data bytes announced so far
  std::uint64_t max_body_ = 0;
  std::size_t line_len_ = 0;     // chunk-size line length, then trailer section length
  bool saw_digit_ = false;
  int error_status_ = 0;
};

}  // namespace serverlab::http
