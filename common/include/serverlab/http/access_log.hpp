// http/access_log.hpp: AccessLog, one line per response, in Combined Log Format
// (--access-log-format clf, the default) or as one JSON object (json).
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
// written as \" \\ and \xNN, so a client cannot forge a line. With request IDs
// on (--request-id on), the ID follows as one more quoted field.
//
// JSON lines (keys always in this order; user only for a TLS client certificate,
// request_id only with --request-id on):
//
//   {"time":"2000-10-10T13:55:36Z","peer":"127.0.0.1","request":"GET /a.html HTTP/1.1",
//    "status":200,"bytes":2326,"duration_ms":0.153,"referer":"","user_agent":"curl/8.0",
//    "request_id":"5f0c3a9e1b27d4c6-0000002a"}
//
// Strings are escaped as RFC 8259 asks (\" \\ \n \uXXXX for control bytes),
// and every byte from 0x7f up is written as \u00XX: the line is valid JSON and
// plain ASCII whatever the client sent (a non-ASCII byte reads back as the
// Latin-1 character of that value, so nothing is lost).
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
  std::string_view request_id{};  // empty: not written
  double seconds = 0;             // request start to response queued (JSON only)
};

class AccessLog {
 public:
  // `target`: "off" (nothing is written), "-" (stdout), or a file path that is
  // created if needed and appended to. Throws SysError when it cannot be opened.
  enum class Format { Clf, Json };
  explicit AccessLog(const std::string& target, Format format = Format::Clf);

  bool enabled() const { return fd_ >= 0; }
  void write(const AccessLogEntry& entry) const;

  // Appends one formatted line (with '\n') to `out`; `date` as current_clf_date().
  static void format(std::string& out, const AccessLogEntry& entry, std::string_view date);
  // Appends one JSON line (with '\n') to `out`; `time` as current_iso_time().
  static void format_json(std::string& out, const AccessLogEntry& entry, std::string_view time);

 private:
  Fd owned_;     // the file, when the target is a path
  int fd_ = -1;  // where lines go (1 for "-")
  Format format_ = Format::Clf;
};

}  // namespace serverlab::http
