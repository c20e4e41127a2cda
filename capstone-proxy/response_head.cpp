// response_head.cpp: see response_head.hpp.
#include "response_head.hpp"

#include <cstring>

namespace serverlab::proxy {
namespace {

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The next line without its CRLF/LF; nullopt when no LF yet. `pos` moves past it.
std::optional<std::string_view> next_line(std::string_view bytes, std::size_t& pos) {
  std::size_t lf = bytes.find('\n', pos);
  if (lf == std::string_view::npos) return std::nullopt;
  std::string_view line = bytes.substr(pos, lf - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos = lf + 1;
  return line;
}

bool has_bad_byte(std::string_view line) {
  return line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos;
}

bool parse_status_line(std::string_view line, ResponseHead& head) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return false;
  if (line[7] != '0' && line[7] != '1') return false;
  head.version_minor = line[7] - '0';
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || status > 599) return false;
  if (line.size() > 12 && line[12] != ' ') return false;
  head.status = status;
  head.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  return true;
}

bool parse_length(std::string_view value, std::uint64_t& out) {
  if (value.empty() || value.size() > 18) return false;
  std::uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = n;
  return true;
}

bool parse_field(std::string_view line, ResponseHead& head) {
  if (line.front() == ' ' || line.front() == '\t') return false;  // obs-fold
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view name = line.substr(0, colon);
  for (unsigned char c : name) {
    if (!is_tchar(c)) return false;  // includes whitespace before the colon
  }
  std::string_view value = trim(line.substr(colon + 1));
  head.headers.push_back({name, value});
  return true;
}

// Content-Length, Transfer-Encoding and Connection, once every field is in.
bool derive_framing(ResponseHead& head) {
  bool saw_te = false;
  for (const http::Header& h : head.headers) {
    if (http::iequals(h.name, "Content-Length")) {
      std::uint64_t n = 0;
      if (!parse_length(h.value, n)) return false;
      if (head.content_length && *head.content_length != n) return false;
      head.content_length = n;
    } else if (http::iequals(h.name, "Transfer-Encoding")) {
      if (saw_te || !http::iequals(h.value, "chunked")) return false;
      saw_te = true;
      head.chunked = true;
    } else if (http::iequals(h.name, "Connection")) {
      head.connection = h.value;
    }
  }
  if (head.chunked && head.content_length) return false;
  head.keep_alive = head.version_minor == 1;
  // Connection tokens: "close" ends it; "keep-alive" keeps an HTTP/1.0 one.
  std::string_view rest = head.connection;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view token = trim(rest.substr(0, comma));
    if (http::iequals(token, "close")) head.keep_alive = false;
    if (http::iequals(token, "keep-alive") && head.version_minor == 0) head.keep_alive = true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace

void ResponseHead::clear() {
  status = 0;
  version_minor = 1;
  reason = {};
  headers.clear();
  content_length.reset();
  chunked = false;
  keep_alive = true;
  connection = {};
}

HeadResult parse_response_head(std::string_view bytes, ResponseHead& head, std::size_t max_bytes) {
  head.clear();
  std::size_t end = bytes.find("\n\r\n");
  std::size_t end_lf = bytes.find("\n\n");
  std::size_t head_end = std::string_view::npos;
  if (end != std::string_view::npos) head_end = end + 3;
  if (end_lf != std::string_view::npos && end_lf + 2 < head_end) head_end = end_lf + 2;
  if (head_end == std::string_view::npos) {
    return {bytes.size() > max_bytes ? HeadParse::TooBig : HeadParse::Incomplete, 0};
  }
  if (head_end > max_bytes) return {HeadParse::TooBig, 0};

  std::string_view text = bytes.substr(0, head_end);
  std::size_t pos = 0;
  std::optional<std::string_view> line = next_line(text, pos);
  if (!line || has_bad_byte(*line) || !parse_status_line(*line, head)) return {HeadParse::Error, 0};
  while ((line = next_line(text, pos)) && !line->empty()) {
    if (has_bad_byte(*line) || !parse_field(*line, head)) return {HeadParse::Error, 0};
  }
  if (!derive_framing(head)) return {HeadParse::Error, 0};
  return {HeadParse::Done, head_end};
}

bool response_has_body(http::Method method, int status) {
  if (method == http::Method::Head) return false;
  return !(status < 200 || status == 204 || status == 304);
}

}  // namespace serverlab::proxy
