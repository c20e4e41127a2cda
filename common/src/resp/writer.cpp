// resp/writer.cpp: RESP2 reply encoding (writer.hpp).
#include "serverlab/resp/writer.hpp"

#include <charconv>
#include <cstdio>

namespace serverlab::resp {

namespace {

void append_line(std::string& out, char type, std::string_view text) {
  out += type;
  const std::size_t start = out.size();
  out += text;
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out += "\r\n";
}

void append_number(std::string& out, char type, long long value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;  // 24 bytes always fit a 64-bit number
  out += type;
  out.append(digits, end);
  out += "\r\n";
}

}  // namespace

void write_simple(std::string& out, std::string_view text) { append_line(out, '+', text); }
void write_error(std::string& out, std::string_view text) { append_line(out, '-', text); }
void write_integer(std::string& out, std::int64_t value) { append_number(out, ':', value); }

void write_bulk(std::string& out, std::string_view bytes) {
  append_number(out, '$', static_cast<long long>(bytes.size()));
  out += bytes;
  out += "\r\n";
}

void write_null(std::string& out) { out += "$-1\r\n"; }
void write_null_array(std::string& out) { out += "*-1\r\n"; }
void write_array_header(std::string& out, std::size_t count) {
  append_number(out, '*', static_cast<long long>(count));
}

// Redis (util.c ld2string, LD_STR_HUMAN): "%.17Lf", then trailing zeros and a
// trailing '.' go.
std::string format_double(long double value) {
  char text[5600];  // %.17Lf of the largest long double is ~4950 digits
  int n = std::snprintf(text, sizeof text, "%.17Lf", value);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof text) return "0";
  std::string s(text, static_cast<std::size_t>(n));
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

}  // namespace serverlab::resp
