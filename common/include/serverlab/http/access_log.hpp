// http/access_log.hpp: AccessLog, one line per response in Combined Log Format.
//
//   127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a.html HTTP/1.1" 200 2326 "-" "curl/8.0"
//   host      ident authuser [date, UTC]       "request line"        status bytes "referer" "user-agent"
//
// authuser is the TLS client certificate's subject when the client sent one
// (mutual TLS), with spaces and other unsafe bytes as \xNN so it stays one field:
//   127.0.0.1 - CN=alice,O=serverlab\x20test [10/Oct/2000:13:55:36 +0000] ...
//
// bytes is the body length sent ('-' when none, as Apache's %b). Quotes,
// backslashes and bytes outside printable ASCII in the quoted fields are
// written as \" \\ and \xNN, so a client cannot forge a line.
//
// Why: the same format Apache and nginx write, so the usual tools read it.
// Thread-safety: write() formats into a thread_local buffer and issues ONE
// write(2) on an O_APPEND descriptor, so concurrent lines never interleave
// (no lock). write() blocks on the disk or the stdout pipe.
// Who may call: any thread, concurrently; never a signal handler.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "serverlab/fd.hpp"

namespace serverlab::http {

struct AccessLogEntry {
  std::string_view peer;          // client address without the port
  std::string_view request_line;  // "GET /a HTTP/1.1" (empty: '-')
  int status = 0;
  std::uint64_t bytes = 0;
  std::string_view referer;       // empty: '-'
  std::string_view user_agent;    // empty: '-'
  std::string_view user;          // authuser: a client certificate's subject; empty: '-'
};

class AccessLog {
 public:
  // `target`: "off" (nothing is written), "-" (stdout), or a file path that is
  // created if needed and appended to. Throws SysError when it cannot be opened.
  explicit AccessLog(const std::string& target);

  bool enabled() const { return fd_ >= 0; }
  void write(const AccessLogEntry& entry) const;

  // Appends one formatted line (with '\n') to `out`; `date` as current_clf_date().
  static void format(std::string& out, const AccessLogEntry& entry, std::string_view date);

 private:
  Fd owned_;     // the file, when the target is a path
  int fd_ = -1;  // where lines go (1 for "-")
};

}  // namespace serverlab::http
