// http/parser.hpp: parse_request, a pure function from bytes to a Request.
//
//   ParseResult r = parse_request(buffer.view(), request, limits);
//   switch (r.kind) {
//     case ParseResult::Incomplete: read more and call again with ALL the bytes
//     case ParseResult::Done:       the head is r.consumed bytes long; body follows
//     case ParseResult::Error:      answer r.status (400, 414, 431, 501, 505) and close
//   }
//
// No I/O, no allocation beyond Request::headers, no state kept between calls
// (picohttpparser's shape): feeding a prefix of a valid request always yields
// Incomplete, and the parser never reads past bytes.size(). RFC 9112 decides
// what is valid. Thread-safe (it touches only its arguments).
//
// Status mapping: request line over max_request_line -> 414; header section over
// max_header_bytes or more than max_headers fields -> 431; HTTP/2+ -> 505;
// a Transfer-Encoding other than chunked -> 501; any framing ambiguity
// (Content-Length with Transfer-Encoding, differing Content-Lengths, obs-fold,
// whitespace before a colon, bare CR, NUL, missing/duplicate Host on 1.1) -> 400.
// A declared Content-Length over max_body -> 413.
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
};

// [lab04:parse-request]
ParseResult parse_request(std::string_view bytes, Request& request, const ParseLimits& limits = {});

// Decodes (and discards) a request body: Content-Length or chunked. Feed it the
// bytes after the head; it says how many it consumed and whether the body is done.
// Chunk extensions and trailers are accepted and skipped. Pure; no I/O.
class BodyDecoder {
 public:
  enum class State { More, Done, Error };
  struct Step {
    State state = State::More;
    std::size_t consumed = 0;
    int status = 0;  // Error: 400 (malformed chunk) or 413 (over the limit)
  };

  BodyDecoder() = default;
  // Sets up for one request's body (none, fixed length, or chunked).
  void start(const Request& request, std::uint64_t max_body);
  // Consumes body bytes from the front of `bytes`.
  Step feed(std::string_view bytes);
  bool done() const { return state_ == Phase::Finished; }

 private:
  enum class Phase { Fixed, ChunkSize, ChunkExt, ChunkData, ChunkDataCrlf, Trailer, Finished };
  Phase state_ = Phase::Finished;
  std::uint64_t remaining_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t max_body_ = 0;
  std::size_t line_len_ = 0;
  bool saw_digit_ = false;
  bool trailer_line_empty_ = true;
  bool saw_cr_ = false;
};

}  // namespace serverlab::http
