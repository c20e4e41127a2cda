// response_head.hpp: parse_response_head, a strict parser for a backend's status
// line and header fields (the proxy's side of RFC 9112 4-6).
//
// Why its own parser: common's parse_request reads requests; a proxy also reads
// responses, and must decide their framing itself before it forwards a byte.
// The same rules apply: anything ambiguous is an error (the proxy answers 502
// and drops the backend connection) rather than a guess.
//
//   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
//    ^-------------- head (consumed) ------------^ body: framed by the caller
//
// Accepted: "HTTP/1.0" or "HTTP/1.1", a space, three digits 100..599, a space and
// any reason (possibly empty; a missing space before an empty reason too); header
// fields "token: value". Line ends: CRLF or a bare LF. Refused (Error): any
// other version, a bad status code, a field name with a non-token byte or
// whitespace before the colon, obs-fold (a line starting with space/tab), a bare
// CR or NUL anywhere, Content-Length that is not digits or differs between
// copies, Content-Length together with Transfer-Encoding, a Transfer-Encoding
// other than exactly "chunked", more than `max_bytes` of head (TooBig).
//
// Pure: string_views into the caller's bytes. Thread-safe.
// Who may call: anyone; the proxy on every backend response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "serverlab/http/request.hpp"

namespace serverlab::proxy {

struct ResponseHead {
  int status = 0;
  int version_minor = 1;
  std::string_view reason;
  std::vector<http::Header> headers;  // views into the parsed bytes
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;  // after the Connection field and the version
  std::string_view connection;  // the Connection field's value ("" when none)

  void clear();
};

enum class HeadParse { Incomplete, Done, Error, TooBig };

struct HeadResult {
  HeadParse kind = HeadParse::Incomplete;
  std::size_t consumed = 0;  // Done: the head's length, blank line included
};

HeadResult parse_response_head(std::string_view bytes, ResponseHead& head,
                               std::size_t max_bytes = 16 * 1024);

// Whether a response to `method` with `status` carries a body at all (RFC 9112
// 6.3: none for HEAD, 1xx, 204 and 304).
bool response_has_body(http::Method method, int status);

}  // namespace serverlab::proxy
