#include "serverlab/http/access_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>

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

}  // namespace

AccessLog::AccessLog(const std::string& target) {
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
  out.push_back('\n');
}

void AccessLog::write(const AccessLogEntry& entry) const {
  if (fd_ < 0) return;
  thread_local std::string line;
  line.clear();
  format(line, entry, current_clf_date());
  write_n(fd_, line);  // a failed log write must not take the connection down
}

}  // namespace serverlab::http
