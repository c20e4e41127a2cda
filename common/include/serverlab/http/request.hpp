// http/request.hpp: Request, what the parser found in one HTTP/1.x request head.
//
// Every string_view points into the caller's input buffer: a Request is valid
// only while those bytes stay where they are (until the caller consumes them
// from its Buffer). Nothing here allocates except the header vector, which is
// reused across requests on one connection (clear() keeps its capacity).
//
// Pure data; no I/O. Not thread-safe (one per connection).
// Who may call: the thread that serves the connection the Request belongs to.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace serverlab::http {

enum class Method { Get, Head, Post, Put, Delete, Patch, Options, Trace, Connect, Unknown };
Method method_from_token(std::string_view token);

struct Header {
  std::string_view name;   // as sent (case preserved); compare with iequals()
  std::string_view value;  // leading/trailing whitespace trimmed
};

struct Request {
  std::string_view method_token;  // "GET"
  Method method = Method::Unknown;
  std::string_view target;  // request-target as sent: "/a%20b?x=1" or "http://h/a"
  std::string_view path;    // target's path part, still percent-encoded: "/a%20b"
                            // ("/" in static storage for "http://h"; "*" for OPTIONS *;
                            // empty for CONNECT's authority-form)
  std::string_view query;   // after '?', without it ("" when absent)
  int version_minor = 1;    // HTTP/1.<minor>: 0 or 1 (1.2+ is treated as 1)
  std::vector<Header> headers;

  // Derived while parsing, so no handler re-scans the headers:
  std::string_view host;  // Host field, or the authority of an absolute-form target
  std::optional<std::uint64_t> content_length;
  bool chunked = false;          // Transfer-Encoding: chunked
  bool keep_alive = true;        // after Connection and version rules
  bool expect_continue = false;  // Expect: 100-continue

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
  void clear();
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace serverlab::http
