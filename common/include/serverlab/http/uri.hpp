// http/uri.hpp: hex digits, percent-decoding, the safe request-path function, query parsing.
//
// Why: the static-file handler maps a request path onto the filesystem, and a
// path that can climb out of the document root is the classic file-server hole
// (tiny.c has no `..` check at all). normalize_path is the one place that turns
// an untrusted, still-encoded path into a clean absolute one, or refuses it.
//
//   "/a/./b/../c%20d/"  ->  "/a/c d/"         "/%2e%2e/etc"  ->  nullopt (climbs)
//   "/a%2Fb"            ->  nullopt (encoded '/')   "/a\b" -> nullopt (backslash)
//
// Pure functions over strings: callable from any thread, no I/O. They allocate
// the returned string (the handler runs once per request; the parser does not).
// Who may call: any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace serverlab::http {

// The value of one hex digit ('0'-'9', 'a'-'f', 'A'-'F'), or -1. The one copy
// of hex decoding: percent-escapes here, chunk sizes in the body decoder.
constexpr int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (either hex case). '+' stays '+'. nullopt on a '%' not
// followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s);

// Turns a raw request path (the part before '?', still percent-encoded) into a
// normalized absolute path, or nullopt (the caller answers 400) when it:
//   - does not start with '/', or has a bad %XX escape,
//   - contains NUL (%00), an encoded '/' (%2F) or a backslash (raw or %5C),
//   - would climb above '/' with ".." (also when the dots are encoded).
// "." segments and empty segments ("//") vanish, ".." removes one segment, and
// a trailing '/' is kept (also after a final "." or ".."), so "/dir/" still
// reads as a directory request. The result never contains "." or ".." segments.
std::optional<std::string> normalize_path(std::string_view raw_path);

// True when normalize_path(raw_path) would return raw_path unchanged: it starts
// with '/', and no segment is empty ("//"), "." or "..", or holds '%', '\' or NUL
// (a trailing '/' is fine). Handlers use it to skip the copy for the usual
// request path ("/css/site.css"); anything else goes through normalize_path.
// Allocation-free.
bool is_normal_path(std::string_view raw_path);

// Splits "a=1&b=x+y&c" into {{"a","1"},{"b","x y"},{"c",""}}: '+' becomes a
// space and %XX is decoded in names and values; a malformed escape is kept as
// written. Empty pieces ("a=1&&b") are skipped. Order and duplicates are kept.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

}  // namespace serverlab::http
