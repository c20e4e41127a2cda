// resp/parser.cpp: RESP2 arrays of bulk strings and inline commands (parser.hpp).
#include "serverlab/resp/parser.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

#include <string>
#include <vector>

namespace serverlab::resp {

namespace {

ParseResult incomplete(std::size_t need = 0) { return {ParseResult::Incomplete, 0, need, {}}; }
ParseResult done(std::size_t consumed) { return {ParseResult::Done, consumed, 0, {}}; }
ParseResult error(std::string_view text) { return {ParseResult::Error, 0, 0, text}; }

// [lab22:resp-array:begin]
// The "expected '$', got 'X'" texts, one per byte value, built once.
std::string_view expected_dollar(char got) {
  static const auto texts = [] {
    std::vector<std::string> t(256);
    for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] =
        std::string("expected '$', got '") + static_cast<char>(c) + "'";
    return t;
  }();
  return texts[static_cast<unsigned char>(got)];
}

// Reads a "<prefix><number>\r\n" line that starts at bytes[pos] (the prefix byte
// already checked). On success stores the number and moves pos past the LF.
enum class LineStatus { Ok, Incomplete, TooLong, Bad };
LineStatus read_length_line(std::string_view bytes, std::size_t& pos, std::int64_t& number,
                            std::size_t max_line) {
  const std::size_t cr = bytes.find('\r', pos + 1);
  if (cr == std::string_view::npos || cr + 1 >= bytes.size()) {
    return bytes.size() - pos > max_line ? LineStatus::TooLong : LineStatus::Incomplete;
  }
  if (bytes[cr + 1] != '\n') return LineStatus::Bad;
  if (!parse_int64(bytes.substr(pos + 1, cr - pos - 1), number)) return LineStatus::Bad;
  pos = cr + 2;
  return LineStatus::Ok;
}

// *N\r\n followed by N bulk strings $LEN\r\nBYTES\r\n.
ParseResult parse_array(std::string_view bytes, Command& command, const Limits& limits) {
  std::size_t pos = 0;
  std::int64_t count = 0;
  switch (read_length_line(bytes, pos, count, limits.max_inline)) {
    case LineStatus::Incomplete:
      return incomplete();
    case LineStatus::TooLong:
      return error("too big mbulk count string");
    case LineStatus::Bad:
      return error("invalid multibulk length");
    case LineStatus::Ok:
      break;
  }
  if (count > static_cast<std::int64_t>(limits.max_elements))
    return error("invalid multibulk length");
  if (count <= 0) return done(pos);  // "*0" and "*-1": nothing to run

  for (std::int64_t i = 0; i < count; ++i) {
    if (pos >= bytes.size()) return incomplete();
    if (bytes[pos] != '$') return error(expected_dollar(bytes[pos]));
    std::int64_t length = 0;
    switch (read_length_line(bytes, pos, length, limits.max_inline)) {
      case LineStatus::Incomplete:
        return incomplete();
      case LineStatus::TooLong:
        return error("too big bulk count string");
      case LineStatus::Bad:
        return error("invalid bulk length");
      case LineStatus::Ok:
        break;
    }
    if (length < 0 || static_cast<std::uint64_t>(length) > limits.max_bulk)
      return error("invalid bulk length");
    const auto size = static_cast<std::size_t>(length);
    if (bytes.size() - pos < size + 2) return incomplete(pos + size + 2);
    if (bytes[pos + size] != '\r' || bytes[pos + size + 1] != '\n')
      return error("expected CRLF after bulk string");
    command.args.push_back(bytes.substr(pos, size));
    pos += size + 2;
  }
  return done(pos);
}
// [lab22:resp-array:stub] // Write parse_array (and the helpers it needs) here: labs/week22-capstone-kv/README.md.
// [lab22:resp-array:stub] ParseResult parse_array(std::string_view, Command&, const Limits&) {
// [lab22:resp-array:stub]   return error("arrays are not parsed yet (lab 22 stub)");
// [lab22:resp-array:stub] }
// [lab22:resp-array:end]

// [lab22:resp-inline:begin]
bool is_blank(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits one line into words (sdssplitargs' rules), appending each decoded word
// to command.storage. Returns false on unbalanced quotes.
bool split_inline(std::string_view line, Command& command) {
  std::string& out = command.storage;
  out.reserve(line.size());  // words never grow when decoded: views stay valid
  std::size_t i = 0;
  while (true) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) return true;
    const std::size_t start = out.size();
    const char quote = (line[i] == '"' || line[i] == '\'') ? line[i] : '\0';
    if (quote == '\0') {
      while (i < line.size() && !is_blank(line[i])) out += line[i++];
    } else {
      ++i;  // the opening quote
      while (true) {
        if (i == line.size()) return false;  // no closing quote
        char c = line[i];
        if (c == quote) {
          ++i;
          if (i < line.size() && !is_blank(line[i])) return false;  // "a"b
          break;
        }
        if (c == '\\' && i + 1 < line.size()) {
          const char next = line[i + 1];
          if (quote == '\'') {
            if (next == '\'') c = '\'', ++i;  // only \' is an escape in single quotes
          } else if (next == 'x' && i + 3 < line.size() && hex_value(line[i + 2]) >= 0 &&
                     hex_value(line[i + 3]) >= 0) {
            c = static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3]));
            i += 3;
          } else {
            switch (next) {
              case 'n': c = '\n'; break;
              case 'r': c = '\r'; break;
              case 't': c = '\t'; break;
              case 'b': c = '\b'; break;
              case 'a': c = '\a'; break;
              default: c = next; break;
            }
            ++i;
          }
        }
        out += c;
        ++i;
      }
    }
    command.args.emplace_back(out.data() + start, out.size() - start);
  }
}

// [lab22:resp-inline:stub] // Write split_inline (and the helpers it needs) here: labs/week22-capstone-kv/README.md.
// [lab22:resp-inline:stub] bool split_inline(std::string_view, Command&) { return false; }
// [lab22:resp-inline:end]

// One line ended by LF; a CR before the LF is not part of it.
ParseResult parse_inline(std::string_view bytes, Command& command, const Limits& limits) {
  const std::size_t lf = bytes.find('\n');
  // Over the limit with or without its LF, so that the verdict never depends on
  // how the bytes were split into reads.
  if (std::min(lf, bytes.size()) > limits.max_inline) return error("too big inline request");
  if (lf == std::string_view::npos) return incomplete();
  std::string_view line = bytes.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!split_inline(line, command)) {
    command.args.clear();
    return error("unbalanced quotes in request");
  }
  return done(lf + 1);
}

}  // namespace

bool parse_int64(std::string_view text, std::int64_t& value) {
  if (text.empty() || text.size() > 20) return false;
  if (text == "0") {
    value = 0;
    return true;
  }
  std::size_t i = 0;
  const bool negative = text[0] == '-';
  if (negative) ++i;
  if (i == text.size() || text[i] < '1' || text[i] > '9') return false;
  std::uint64_t magnitude = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (magnitude > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (magnitude > kMax + 1) return false;
    value = magnitude == kMax + 1 ? std::numeric_limits<std::int64_t>::min()
                                  : -static_cast<std::int64_t>(magnitude);
  } else {
    if (magnitude > kMax) return false;
    value = static_cast<std::int64_t>(magnitude);
  }
  return true;
}

ParseResult parse_command(std::string_view bytes, Command& command, const Limits& limits) {
  command.args.clear();
  command.storage.clear();
  if (bytes.empty()) return incomplete();
  if (bytes[0] == '*') return parse_array(bytes, command, limits);
  return parse_inline(bytes, command, limits);
}

bool equals_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace serverlab::resp
