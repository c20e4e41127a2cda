// http/parser.cpp: parse_request and BodyDecoder (see parser.hpp for the contract).
//
// The head parser is one left-to-right scan with a cursor. Whenever it needs a
// byte that has not arrived yet it stops and asks "is this Incomplete, or is the
// line already over its limit?" (out_of_bytes below), so a prefix of a valid
// request is always Incomplete and garbage is refused as soon as it is seen.
// Character classes are 256-entry tables: one load and one branch per byte.
#include "serverlab/http/parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "serverlab/http/uri.hpp"

namespace serverlab::http {
namespace {

using CharTable = std::array<bool, 256>;

constexpr bool is_alpha(unsigned c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(unsigned c) { return c >= '0' && c <= '9'; }

// tchar (RFC 9110 5.6.2): the characters of a token (methods, field names, codings).
constexpr CharTable make_tchar() {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = is_alpha(c) || is_digit(c);
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}

// Bytes allowed in a request-target: the URI characters (RFC 3986), i.e. every
// visible ASCII character except the ones a URI never contains raw. '#' is
// excluded too: a request-target carries no fragment (RFC 9112 3.2).
constexpr CharTable make_target_char() {
  CharTable t{};
  for (unsigned c = 0x21; c < 0x7f; ++c) t[c] = true;
  for (char c : std::string_view("\"<>\\^`{|}#")) t[static_cast<unsigned char>(c)] = false;
  return t;
}

// field-value bytes (RFC 9110 5.5): VCHAR, obs-text, SP and HTAB. Everything
// else (NUL, CR, LF, other controls, DEL) ends or poisons the value.
constexpr CharTable make_field_char() {
  CharTable t{};
  for (unsigned c = 0x20; c < 256; ++c) t[c] = c != 0x7f;
  t['\t'] = true;
  return t;
}

// reg-name / IP-literal / port characters allowed in a Host value.
constexpr CharTable make_host_char() {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = is_alpha(c) || is_digit(c);
  for (char c : std::string_view("-._~!$&'()*+,;=:[]%")) t[static_cast<unsigned char>(c)] = true;
  return t;
}

constexpr CharTable kTchar = make_tchar();
constexpr CharTable kTargetChar = make_target_char();
constexpr CharTable kFieldChar = make_field_char();
constexpr CharTable kHostChar = make_host_char();

inline unsigned char uc(char c) { return static_cast<unsigned char>(c); }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Leading empty lines tolerated before the request line (RFC 9112 2.2 says
// "at least one"); more than this many is not a confused client but a flood.
constexpr int kMaxLeadingEmptyLines = 4;

constexpr std::size_t kInitialHeaderCapacity = 24;

ParseResult error(int status) { return {ParseResult::Error, 0, status, 0}; }
ParseResult done(std::size_t consumed) { return {ParseResult::Done, consumed, 0, 0}; }
// Incomplete with no limit in sight (limit_at 0: the caller parses again on any byte).
constexpr ParseResult kIncomplete{ParseResult::Incomplete, 0, 0, 0};

// The scan position the three steps of parse_request share: the input is
// [begin, end) and p is the next byte to read.
struct Cursor {
  const char* begin;
  const char* p;
  const char* end;

  // Called when the bytes ran out inside a window of `window` bytes starting at
  // `from` (the request line, or the header section). A full window means the
  // limit is reached: error(status). Otherwise the head is Incomplete, and
  // limit_at says at which input length the window would be full.
  ParseResult out_of_bytes(const char* from, std::size_t window, int status) const {
    if (static_cast<std::size_t>(end - from) >= window) return error(status);
    return {ParseResult::Incomplete, 0, 0, static_cast<std::size_t>(from - begin) + window};
  }
};

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each non-empty element of a comma-separated list
// (RFC 9110 5.6.1), OWS around elements trimmed.
template <typename Fn>
void for_each_list_element(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Content-Length = 1*DIGIT. Returns false on anything else; a value too large
// for 64 bits saturates (it is over any max_body, so it becomes a 413).
bool parse_content_length(std::string_view value, std::uint64_t& out) {
  if (value.empty()) return false;
  std::uint64_t n = 0;
  for (char c : value) {
    if (!is_digit(uc(c))) return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      n = std::numeric_limits<std::uint64_t>::max();
    } else {
      n = n * 10 + digit;
    }
  }
  out = n;
  return true;
}

// Splits the request-target into path and query, and (absolute-form) takes
// the authority. Returns false when the target has none of the four forms.
bool split_target(Request& r, std::string_view& authority) {
  std::string_view t = r.target;
  if (t.front() == '/') {  // origin-form: the common case
    std::size_t q = t.find('?');
    r.path = t.substr(0, q);
    r.query = q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
    return true;
  }
  if (t == "*") {  // asterisk-form: OPTIONS only
    r.path = t;
    return r.method == Method::Options;
  }
  if (r.method == Method::Connect) {  // authority-form; no path to serve
    authority = t;
    return true;
  }
  // absolute-form: scheme "://" authority [ path-abempty ] [ "?" query ]
  std::size_t colon = t.find("://");
  if (colon == std::string_view::npos) return false;
  std::string_view scheme = t.substr(0, colon);
  if (!iequals(scheme, "http") && !iequals(scheme, "https")) return false;
  t.remove_prefix(colon + 3);
  std::size_t end = t.find_first_of("/?");
  authority = t.substr(0, end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
  t = end == std::string_view::npos ? std::string_view{} : t.substr(end);
  std::size_t q = t.find('?');
  r.path = t.substr(0, q);
  if (r.path.empty()) r.path = "/";  // static storage: outlives any buffer
  r.query = q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
  return true;
}

// What the header fields say about framing and the connection, gathered field
// by field (note_header) and judged once the whole head is in (head_rules).
struct Framing {
  int host_count = 0;
  bool have_length = false;
  bool te_present = false;
  bool te_chunked = false;   // chunked seen (must be the last coding)
  bool te_unknown = false;   // a coding we do not implement
  bool te_bad = false;       // chunked twice, or not last
  bool conn_close = false;
  bool conn_keep_alive = false;
};

// Derives Request fields from one header field. Returns 0 or an error status.
// Field names are case-insensitive (RFC 9110 5.1); fields not named here only
// go into request.headers.
int note_header(Request& r, Framing& f, const Header& h) {
  if (iequals(h.name, "Host")) {
    ++f.host_count;
    for (char c : h.value) {
      if (!kHostChar[uc(c)]) return 400;
    }
    r.host = h.value;
  } else if (iequals(h.name, "Content-Length")) {
    std::uint64_t length = 0;
    if (!parse_content_length(h.value, length)) return 400;
    if (f.have_length && *r.content_length != length) return 400;
    f.have_length = true;
    r.content_length = length;
  } else if (iequals(h.name, "Transfer-Encoding")) {
    f.te_present = true;
    for_each_list_element(h.value, [&](std::string_view coding) {
      if (f.te_chunked) f.te_bad = true;  // chunked must be the final coding, once
      if (iequals(coding, "chunked")) {
        f.te_chunked = true;
      } else {
        f.te_unknown = true;
      }
    });
  } else if (iequals(h.name, "Connection")) {
    for_each_list_element(h.value, [&](std::string_view option) {
      if (iequals(option, "close")) f.conn_close = true;
      if (iequals(option, "keep-alive")) f.conn_keep_alive = true;
    });
  } else if (iequals(h.name, "Expect")) {
    // A 1.0 server must ignore 100-continue (RFC 9110 10.1.1).
    if (r.version_minor >= 1 && iequals(h.value, "100-continue")) r.expect_continue = true;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// The head, in three steps (RFC 9112):
//
//   *( CRLF )                                    up to 4 stray empty lines
//   method SP request-target SP HTTP/D.D EOL     <= max_request_line bytes (414)   1. request line
//   *( field-name ":" OWS field-value OWS EOL )  <= max_headers fields     (431)   2. header fields
//   EOL                                          section <= max_header_bytes (431)
//                                                then the rules of the whole head  3. head rules
//
//   EOL = CRLF, or a bare LF (RFC 9112 2.2 lets a recipient accept one; we do,
//   as most servers do). A CR not followed by LF is always an error (400).
//
// Steps 1 and 2 return Done when their part is in (c.p just past its last LF),
// or the result parse_request gives: Incomplete (out_of_bytes) or an error.
// ---------------------------------------------------------------------------

// 1. Stray empty lines, then the request line into request.method_token,
// method, target and version_minor. The line is scanned inside a window of
// max_request_line + CRLF: running out of window means "too long" (414),
// running out of input means "wait".
ParseResult parse_request_line(Cursor& c, Request& request, const ParseLimits& limits) {
  // [lab03:request-line:begin]
  // [lab03:request-line:stub] (void)c;
  // [lab03:request-line:stub] (void)request;
  // [lab03:request-line:stub] (void)limits;
  // [lab03:request-line:stub] return error(501);
  const char*& p = c.p;
  for (int empty_lines = 0;; ++empty_lines) {
    if (p == c.end) return kIncomplete;
    if (*p == '\n') {
      ++p;
    } else if (*p == '\r') {
      if (p + 1 == c.end) return kIncomplete;
      if (p[1] != '\n') return error(400);
      p += 2;
    } else {
      break;
    }
    if (empty_lines >= kMaxLeadingEmptyLines) return error(400);
  }

  const char* const line = p;
  const std::size_t window = limits.max_request_line + 2;
  // Where the scan of the line stops: the end of the window or of the input.
  const char* const line_limit =
      static_cast<std::size_t>(c.end - line) > window ? line + window : c.end;
  auto line_out_of_bytes = [&]() { return c.out_of_bytes(line, window, 414); };

  while (p < line_limit && kTchar[uc(*p)]) ++p;
  if (p == line_limit) return line_out_of_bytes();
  if (*p != ' ' || p == line) return error(400);
  request.method_token = std::string_view(line, static_cast<std::size_t>(p - line));
  request.method = method_from_token(request.method_token);

  const char* target = ++p;
  while (p < line_limit && kTargetChar[uc(*p)]) ++p;
  if (p == line_limit) return line_out_of_bytes();
  if (*p != ' ' || p == target) return error(400);
  request.target = std::string_view(target, static_cast<std::size_t>(p - target));
  ++p;

  // "HTTP/" DIGIT "." DIGIT, compared a byte at a time so a prefix waits.
  static constexpr std::string_view kVersion = "HTTP/0.0";
  for (std::size_t i = 0; i < kVersion.size(); ++i, ++p) {
    if (p == line_limit) return line_out_of_bytes();
    if (kVersion[i] == '0' ? !is_digit(uc(*p)) : *p != kVersion[i]) return error(400);
  }
  const char major = p[-3];
  const char minor = p[-1];
  if (major != '1') return error(505);  // HTTP/0.9 and HTTP/2+: not this protocol
  request.version_minor = minor == '0' ? 0 : 1;

  if (p == line_limit) return line_out_of_bytes();
  const char* line_end = p;
  if (*p == '\r') {
    if (++p == line_limit) return line_out_of_bytes();
  }
  if (*p != '\n') return error(400);
  if (static_cast<std::size_t>(line_end - line) > limits.max_request_line) return error(414);
  ++p;
  return done(0);
  // [lab03:request-line:end]
}

// 2. Header fields up to and including the empty line that ends the head, into
// request.headers (value trimmed of OWS), each passed to note_header. The
// section is scanned inside a window of max_header_bytes (431).
ParseResult parse_header_fields(Cursor& c, Request& request, Framing& framing,
                                const ParseLimits& limits) {
  // [lab03:header-fields:begin]
  // [lab03:header-fields:stub] (void)c;
  // [lab03:header-fields:stub] (void)request;
  // [lab03:header-fields:stub] (void)framing;
  // [lab03:header-fields:stub] (void)limits;
  // [lab03:header-fields:stub] (void)note_header;
  // [lab03:header-fields:stub] return error(501);
  const char*& p = c.p;
  const char* const section = p;
  // Where the scan of the section stops: the end of the window or of the input.
  const char* const section_limit = static_cast<std::size_t>(c.end - section) > limits.max_header_bytes
                               ? section + limits.max_header_bytes
                               : c.end;
  auto section_out_of_bytes = [&]() {
    return c.out_of_bytes(section, limits.max_header_bytes, 431);
  };

  for (;;) {
    if (p == section_limit) return section_out_of_bytes();
    if (*p == '\r') {  // the empty line: end of the head
      if (++p == section_limit) return section_out_of_bytes();
      if (*p != '\n') return error(400);
      ++p;
      return done(0);
    }
    if (*p == '\n') {
      ++p;
      return done(0);
    }
    // A line starting with whitespace is obs-fold (or junk before the first
    // field): RFC 9112 5.2 lets us reject it, and unfolding invites smuggling.
    const char* name = p;
    while (p < section_limit && kTchar[uc(*p)]) ++p;
    if (p == section_limit) return section_out_of_bytes();
    if (*p != ':' || p == name) return error(400);  // includes "Name :" and obs-fold
    const auto name_len = static_cast<std::size_t>(p - name);
    ++p;

    while (p < section_limit && is_ows(*p)) ++p;
    const char* value = p;
    while (p < section_limit && kFieldChar[uc(*p)]) ++p;
    if (p == section_limit) return section_out_of_bytes();
    const char* value_end = p;
    if (*p == '\r') {
      if (++p == section_limit) return section_out_of_bytes();
    }
    if (*p != '\n') return error(400);  // NUL, bare CR, other controls
    ++p;
    while (value_end > value && is_ows(value_end[-1])) --value_end;

    if (request.headers.size() == limits.max_headers) return error(431);
    request.headers.push_back(
        Header{std::string_view(name, name_len),
               std::string_view(value, static_cast<std::size_t>(value_end - value))});
    if (int status = note_header(request, framing, request.headers.back()); status != 0) {
      return error(status);
    }
  }
  // [lab03:header-fields:end]
}

// 3. The rules that need the whole head, in order of precedence: malformed
// (400), then unsupported (501), then too large (413). Sets request.path,
// query, host (from an absolute-form target), chunked and keep_alive.
// Returns 0 or the error status.
int head_rules(Request& request, const Framing& framing, const ParseLimits& limits) {
  // [lab03:head-rules:begin]
  // [lab03:head-rules:stub] (void)request;
  // [lab03:head-rules:stub] (void)framing;
  // [lab03:head-rules:stub] (void)limits;
  // [lab03:head-rules:stub] (void)split_target;
  // [lab03:head-rules:stub] return 501;
  std::string_view authority;
  if (!split_target(request, authority)) return 400;
  if (framing.host_count > 1) return 400;
  if (framing.host_count == 0 && request.version_minor >= 1) return 400;
  if (!authority.empty() && request.method != Method::Connect) request.host = authority;

  if (framing.te_present) {
    // HTTP/1.0 has no chunked coding: its framing is faulty (RFC 9112 6.1).
    // Content-Length beside Transfer-Encoding is how requests get smuggled.
    if (request.version_minor == 0 || framing.have_length || framing.te_bad) return 400;
    if (framing.te_unknown) return 501;
    if (!framing.te_chunked) return 400;  // "Transfer-Encoding:" with no coding
    request.chunked = true;
  }
  if (request.content_length && *request.content_length > limits.max_body) return 413;

  request.keep_alive = request.version_minor >= 1 ? !framing.conn_close
                                                  : framing.conn_keep_alive && !framing.conn_close;
  return 0;
  // [lab03:head-rules:end]
}

}  // namespace

ParseResult parse_request(std::string_view bytes, Request& request, const ParseLimits& limits) {
  request.clear();
  if (request.headers.capacity() == 0) {
    request.headers.reserve(std::min(limits.max_headers, kInitialHeaderCapacity));
  }
  Cursor c{bytes.data(), bytes.data(), bytes.data() + bytes.size()};
  if (ParseResult r = parse_request_line(c, request, limits); r.kind != ParseResult::Done) {
    return r;
  }
  Framing framing;
  if (ParseResult r = parse_header_fields(c, request, framing, limits);
      r.kind != ParseResult::Done) {
    return r;
  }
  if (int status = head_rules(request, framing, limits); status != 0) return error(status);
  return done(static_cast<std::size_t>(c.p - c.begin));
}

// ---------------------------------------------------------------------------
// BodyDecoder: Content-Length is a countdown; chunked is this byte machine
// (RFC 9112 7.1), strict CRLF everywhere inside the body:
//
//   ChunkSize --hex--> ChunkSize --';' or SP--> ChunkExt --CR--> ChunkSizeLf
//       |                 |--CR-----------------------------------^    |
//       |                                                    size>0 | size==0
//       |                         ChunkData <----------------------+    v
//       |                         | n bytes                        TrailerStart
//       v                         v                                  |      \ CR
//   (no digit: 400)     ChunkDataCr -> ChunkDataLf -> ChunkSize   TrailerLine  TrailerEndLf
//                                                                     -> Finished
// ---------------------------------------------------------------------------

namespace {
constexpr std::size_t kMaxChunkLine = 4096;     // size + extensions
constexpr std::size_t kMaxTrailerBytes = 8192;  // all trailer fields together
}  // namespace

void BodyDecoder::start(const Request& request, std::uint64_t max_body) {
  max_body_ = max_body;
  total_ = 0;
  remaining_ = 0;
  line_len_ = 0;
  saw_digit_ = false;
  error_status_ = 0;
  if (request.chunked) {
    phase_ = Phase::ChunkSize;
  } else if (request.content_length && *request.content_length > 0) {
    if (*request.content_length > max_body) {
      phase_ = Phase::Failed;
      error_status_ = 413;
    } else {
      phase_ = Phase::Fixed;
      remaining_ = *request.content_length;
    }
  } else {
    phase_ = Phase::Finished;
  }
}

BodyDecoder::Step BodyDecoder::feed(std::string_view bytes) {
  const char* const begin = bytes.data();
  const char* const end = begin + bytes.size();
  const char* p = begin;
  auto fail = [&](int status) {
    phase_ = Phase::Failed;
    error_status_ = status;
    return Step{State::Error, static_cast<std::size_t>(p - begin), status};
  };

  while (p < end) {
    const char c = *p;
    switch (phase_) {
      case Phase::Finished:
        return {State::Done, static_cast<std::size_t>(p - begin), 0};
      case Phase::Failed:
        return fail(error_status_);

      case Phase::Fixed:
      case Phase::ChunkData: {
        const auto n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(end - p)));
        p += n;
        remaining_ -= n;
        if (remaining_ == 0) phase_ = phase_ == Phase::Fixed ? Phase::Finished : Phase::ChunkDataCr;
        continue;
      }

      case Phase::ChunkSize: {
        if (++line_len_ > kMaxChunkLine) return fail(400);
        const int digit = hex_digit(c);
        if (digit >= 0) {
          // Overflow or over the limit: either way the body is too large.
          if (remaining_ > (std::numeric_limits<std::uint64_t>::max() >> 4)) return fail(413);
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(digit);
          if (remaining_ > max_body_ - total_) return fail(413);
          saw_digit_ = true;
        } else if (!saw_digit_) {
          return fail(400);
        } else if (c == ';' || is_ows(c)) {
          phase_ = Phase::ChunkExt;
        } else if (c == '\r') {
          phase_ = Phase::ChunkSizeLf;
        } else {
          return fail(400);
        }
        break;
      }
      case Phase::ChunkExt:
        if (++line_len_ > kMaxChunkLine) return fail(400);
        if (c == '\r') {
          phase_ = Phase::ChunkSizeLf;
        } else if (!kFieldChar[uc(c)]) {
          return fail(400);
        }
        break;
      case Phase::ChunkSizeLf:
        if (c != '\n') return fail(400);
        line_len_ = 0;
        saw_digit_ = false;
        if (remaining_ == 0) {
          phase_ = Phase::TrailerStart;
        } else {
          total_ += remaining_;
          phase_ = Phase::ChunkData;
        }
        break;
      case Phase::ChunkDataCr:
        if (c != '\r') return fail(400);
        phase_ = Phase::ChunkDataLf;
        break;
      case Phase::ChunkDataLf:
        if (c != '\n') return fail(400);
        phase_ = Phase::ChunkSize;
        break;

      case Phase::TrailerStart:  // at the start of a trailer line
        if (c == '\r') {
          phase_ = Phase::TrailerEndLf;
        } else if (is_ows(c) || !kTchar[uc(c)]) {
          return fail(400);  // obs-fold or junk
        } else {
          phase_ = Phase::TrailerLine;
        }
        if (++line_len_ > kMaxTrailerBytes) return fail(431);
        break;
      case Phase::TrailerLine:
        if (++line_len_ > kMaxTrailerBytes) return fail(431);
        if (c == '\r') {
          phase_ = Phase::TrailerLineLf;
        } else if (!kFieldChar[uc(c)]) {
          return fail(400);
        }
        break;
      case Phase::TrailerLineLf:
        if (c != '\n') return fail(400);
        phase_ = Phase::TrailerStart;
        break;
      case Phase::TrailerEndLf:
        if (c != '\n') return fail(400);
        phase_ = Phase::Finished;
        ++p;
        return {State::Done, static_cast<std::size_t>(p - begin), 0};
    }
    ++p;
  }
  if (phase_ == Phase::Finished) return {State::Done, bytes.size(), 0};
  if (phase_ == Phase::Failed) return fail(error_status_);
  return {State::More, bytes.size(), 0};
}

}  // namespace serverlab::http
