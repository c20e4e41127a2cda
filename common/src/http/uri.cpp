// http/uri.cpp: percent-decoding and safe paths (see uri.hpp).
#include "serverlab/http/uri.hpp"

namespace serverlab::http {
namespace {

// Decodes the %XX at s[i] (s[i] == '%'). Returns -1 when malformed.
int decode_escape(std::string_view s, std::size_t i) {
  if (s.size() < 3 || i > s.size() - 3) return -1;
  const int hi = hex_digit(s[i + 1]);
  const int lo = hex_digit(s[i + 2]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Appends s to out with '+' -> ' ' and %XX decoded; bad escapes kept literally.
void decode_form_into(std::string_view s, std::string& out) {
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && decode_escape(s, i) >= 0) {
      out.push_back(static_cast<char>(decode_escape(s, i)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    const int byte = decode_escape(s, i);
    if (byte < 0) return std::nullopt;
    out.push_back(static_cast<char>(byte));
    i += 2;
  }
  return out;
}

std::optional<std::string> normalize_path(std::string_view raw_path) {
  // [lab04:safe-path:begin]
  // [lab04:safe-path:stub] (void)raw_path;
  // [lab04:safe-path:stub] return std::nullopt;
  if (raw_path.empty() || raw_path.front() != '/') return std::nullopt;

  // The result is built in place: `out` always starts with '/' and holds the
  // segments kept so far, each followed by '/'. ".." pops back to the previous
  // '/', so it can never cut into the leading one (that is a climb: refused).
  std::string out = "/";
  std::string segment;
  bool trailing_slash = false;
  std::size_t pos = 1;
  while (pos <= raw_path.size()) {
    std::size_t slash = raw_path.find('/', pos);
    if (slash == std::string_view::npos) slash = raw_path.size();
    std::string_view raw = raw_path.substr(pos, slash - pos);
    trailing_slash = slash < raw_path.size();
    pos = slash + 1;

    // Decode this one segment, so "%2F" cannot forge a separator.
    segment.clear();
    for (std::size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '%') {
        const int byte = decode_escape(raw, i);
        if (byte < 0) return std::nullopt;
        c = static_cast<char>(byte);
        i += 2;
        if (c == '/') return std::nullopt;
      }
      if (c == '\0' || c == '\\') return std::nullopt;
      segment.push_back(c);
    }

    if (segment.empty() || segment == ".") {
      trailing_slash = true;  // "/a/." and "/a//" both name the directory /a/
      continue;
    }
    if (segment == "..") {
      if (out.size() == 1) return std::nullopt;  // would climb above the root
      out.pop_back();                            // the '/' after the last segment
      out.erase(out.rfind('/') + 1);
      trailing_slash = true;
      continue;
    }
    out += segment;
    out.push_back('/');
  }
  // Every kept segment ends in '/'; drop the last one unless the path asked for it.
  if (!trailing_slash && out.size() > 1) out.pop_back();
  return out;
  // [lab04:safe-path:end]
}

bool is_normal_path(std::string_view raw_path) {
  if (raw_path.empty() || raw_path.front() != '/') return false;
  std::size_t length = 0;  // of the segment being read
  std::size_t dots = 0;    // how many of its bytes are '.'
  for (std::size_t i = 1; i < raw_path.size(); ++i) {
    const char c = raw_path[i];
    if (c == '/') {
      if (length == 0 || (dots == length && length <= 2)) return false;  // "//", ".", ".."
      length = dots = 0;
      continue;
    }
    if (c == '%' || c == '\\' || c == '\0') return false;
    ++length;
    if (c == '.') ++dots;
  }
  // The last segment may be empty (the trailing '/' of "/dir/", or "/" itself).
  return length == 0 || dots != length || length > 2;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (piece.empty()) continue;
    const std::size_t eq = piece.find('=');
    std::pair<std::string, std::string> kv;
    decode_form_into(piece.substr(0, eq), kv.first);
    if (eq != std::string_view::npos) decode_form_into(piece.substr(eq + 1), kv.second);
    out.push_back(std::move(kv));
  }
  return out;
}

}  // namespace serverlab::http
