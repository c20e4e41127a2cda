// http/mime.hpp: the Content-Type for a file, chosen by its extension.
//
// Why: every static response needs a Content-Type, and browsers only render
// text correctly when we name the charset. Text types come back with
// "; charset=utf-8" already appended (html, css, js, txt, json, xml, svg, md,
// csv, ...); anything unknown is "application/octet-stream".
//
// Pure lookup in a static table: no allocation, callable from any thread, and
// the returned view points at static storage (it never dangles).
// Who may call: any thread.
#pragma once

#include <string_view>

namespace serverlab::http {

inline constexpr std::string_view kDefaultMimeType = "application/octet-stream";

// Looks at the extension of the last path segment ("/a.b/c.HTML" -> "html"),
// case-insensitively. No extension, a dotfile (".profile") or an unknown one
// -> kDefaultMimeType.
std::string_view mime_type(std::string_view path);

}  // namespace serverlab::http
