#include "serverlab/http/response.hpp"

#include <cstdint>
#include <cstring>
#include <utility>

#include "serverlab/http/file_cache.hpp"

namespace serverlab::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

Response::Response(Response&& other) noexcept { *this = std::move(other); }

// Every field moves across; a `text` that points into other.owned_text is
// re-pointed at the same bytes of this->owned_text (a short string's bytes live
// inside the string object, so a plain move would leave text dangling).
Response& Response::operator=(Response&& other) noexcept {
  if (this == &other) return *this;
  const char* const own = other.owned_text.data();
  const bool text_is_owned = !other.text.empty() && other.text.data() >= own &&
                             other.text.data() + other.text.size() <= own + other.owned_text.size();
  const auto text_offset = static_cast<std::size_t>(text_is_owned ? other.text.data() - own : 0);

  status = other.status;
  close = other.close;
  send_body = other.send_body;
  content_type = other.content_type;
  last_modified = other.last_modified;
  etag = other.etag;
  accept_ranges = other.accept_ranges;
  extra_headers = std::move(other.extra_headers);
  content_length = other.content_length;
  owned_text = std::move(other.owned_text);
  text = text_is_owned ? std::string_view(owned_text).substr(text_offset, other.text.size())
                       : other.text;
  file = std::move(other.file);
  parts = std::move(other.parts);
  other.reset();
  return *this;
}

void Response::reset() {
  status = 200;
  close = false;
  send_body = true;
  content_type = {};
  last_modified = {};
  etag = {};
  accept_ranges = false;
  extra_headers.clear();
  content_length = 0;
  text = {};
  owned_text.clear();
  file = {};
  parts.clear();
}

void Response::add_header(std::string_view name, std::string_view value) {
  extra_headers.append(name);
  extra_headers.append(": ");
  extra_headers.append(value);
  extra_headers.append("\r\n");
}

void Response::set_owned_body(std::string_view content_type_value, std::string body) {
  owned_text = std::move(body);
  text = owned_text;
  content_type = content_type_value;
  content_length = owned_text.size();
}

namespace {

// Writes a head into space reserved beforehand: every piece is one memcpy, and
// the constant ones (string literals) have a size known at compile time, so the
// compiler emits a few moves instead of a call.
class HeadWriter {
 public:
  explicit HeadWriter(char* at) : begin_(at), at_(at) {}
  template <std::size_t N>
  void literal(const char (&text)[N]) {
    std::memcpy(at_, text, N - 1);
    at_ += N - 1;
  }
  void text(std::string_view s) {
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  void number(std::uint64_t v) {
    char digits[20];
    char* end = digits + sizeof digits;
    char* p = end;
    do {
      *--p = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    text({p, static_cast<std::size_t>(end - p)});
  }
  std::size_t size() const { return static_cast<std::size_t>(at_ - begin_); }

 private:
  char* begin_;
  char* at_;
};

}  // namespace

void append_response_head(Buffer& out, const Response& r, bool keep_alive,
                          std::string_view date) {
  // An upper bound: every constant piece below, plus the variable ones.
  constexpr std::size_t kFixed = 256;
  const std::string_view reason = reason_phrase(r.status);
  const std::size_t most = kFixed + reason.size() + date.size() + r.content_type.size() +
                           r.last_modified.size() + r.etag.size() + r.extra_headers.size();
  out.ensure_writable(most);
  HeadWriter w(out.begin_write());
  w.literal("HTTP/1.1 ");
  w.number(static_cast<std::uint64_t>(r.status < 0 ? 0 : r.status));
  w.literal(" ");
  w.text(reason);
  w.literal("\r\nServer: serverlab\r\nDate: ");
  w.text(date);
  if (!r.content_type.empty()) {
    w.literal("\r\nContent-Type: ");
    w.text(r.content_type);
  }
  if (r.status != 204) {  // RFC 9110 8.6: a 204 carries no Content-Length
    w.literal("\r\nContent-Length: ");
    w.number(r.content_length);
  }
  if (!r.last_modified.empty()) {
    w.literal("\r\nLast-Modified: ");
    w.text(r.last_modified);
  }
  if (!r.etag.empty()) {
    w.literal("\r\nETag: ");
    w.text(r.etag);
  }
  if (r.accept_ranges) w.literal("\r\nAccept-Ranges: bytes");
  w.literal("\r\n");
  w.text(r.extra_headers);
  if (keep_alive) {
    w.literal("Connection: keep-alive\r\n\r\n");
  } else {
    w.literal("Connection: close\r\n\r\n");
  }
  out.has_written(w.size());
}

}  // namespace serverlab::http
