#include "serverlab/http/access_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>

#include <ctime>

#include "serverlab/http/date.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::http {
namespace {

void append_quoted(std::string& out, std::string_view field) {
  out.push_back('"');
  if (field.empty()) out.push_back('-');
  for (char c : field) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02X}", u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// An unquoted field: bytes that would split or forge it (space, quote,
// backslash, controls, non-ASCII) become \xNN.
void append_token(std::string& out, std::string_view field) {
  if (field.empty()) out.push_back('-');
  for (char c : field) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\\' || c == '[' || c == ']') {
      fmt::format_to(std::back_inserter(out), "\\x{:02X}", u);
    } else {
      out.push_back(c);
    }
  }
}

// A JSON string (RFC 8259), quotes included; every byte outside printable
// ASCII becomes \u00XX so the line is ASCII and valid whatever the bytes were.
void append_json_string(std::string& out, std::string_view field) {
  out.push_back('"');
  for (char c : field) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// "2000-10-10T13:55:36Z", rebuilt once a second per thread (like current_clf_date).
std::string_view current_iso_time() {
  thread_local std::time_t second = -1;
  thread_local char text[32];
  thread_local std::size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != second) {
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    second = now;
  }
  return {text, length};
}

}  // namespace

AccessLog::AccessLog(const std::string& target, Format format) : format_(format) {
  if (target == "off" || target.empty()) return;
  if (target == "-") {
    fd_ = 1;
    return;
  }
  owned_ = Fd(::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!owned_) throw SysError("open " + target);
  fd_ = owned_.get();
}

void AccessLog::format(std::string& out, const AccessLogEntry& e, std::string_view date) {
  out.append(e.peer.empty() ? std::string_view("-") : e.peer);
  out.append(" - ");
  append_token(out, e.user);
  out.append(" [");
  out.append(date);
  out.append("] ");
  append_quoted(out, e.request_line);
  fmt::format_to(std::back_inserter(out), " {} ", e.status);
  if (e.bytes == 0) out.push_back('-');
  else fmt::format_to(std::back_inserter(out), "{}", e.bytes);
  out.push_back(' ');
  append_quoted(out, e.referer);
  out.push_back(' ');
  append_quoted(out, e.user_agent);
  if (!e.request_id.empty()) {
    out.push_back(' ');
    append_quoted(out, e.request_id);
  }
  out.push_back('\n');
}

void AccessLog::format_json(std::string& out, const AccessLogEntry& e, std::string_view time) {
  out.append("{\"time\":\"").append(time).append("\",\"peer\":");
  append_json_string(out, e.peer);
  out.append(",\"request\":");
  append_json_string(out, e.request_line);
  fmt::format_to(std::back_inserter(out), ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3f}",
                 e.status, e.bytes, e.seconds * 1000.0);
  out.append(",\"referer\":");
  append_json_string(out, e.referer);
  out.append(",\"user_agent\":");
  append_json_string(out, e.user_agent);
  if (!e.user.empty()) {  // a TLS client certificate's subject
    out.append(",\"user\":");
    append_json_string(out, e.user);
  }
  if (!e.request_id.empty()) {
    out.append(",\"request_id\":");
    append_json_string(out, e.request_id);
  }
  out.append("}\n");
}

void AccessLog::write(const AccessLogEntry& entry) const {
  if (fd_ < 0) return;
  thread_local std::string line;
  line.clear();
  if (format_ == Format::Json) format_json(line, entry, current_iso_time());
  else format(line, entry, current_clf_date());
  write_n(fd_, line);  // a failed log write must not take the connection down
}

}  // namespace serverlab::http
