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
//
// Buffering (--access-log-buffer SIZE, --access-log-flush SEC; nginx's
// `access_log ... buffer=32k flush=1s`): a file log keeps whole lines in memory
// and writes them with one write(2) when
//   - the buffer holds SIZE bytes or more (checked after each line);
//   - its oldest line is SEC seconds old: checked at the next write(), and by
//     flush_due(), which the servers call from their loop (stage 4/5: a loop
//     timer; stage 3: the acceptor's poll timeout), so an idle server's lines
//     are written too;
//   - flush() is called (stage 2: after each connection);
//   - a new AccessLog is opened (SIGHUP/SIGUSR1 build a new service: the old
//     service's lines go to the old file first);
//   - the AccessLog is destroyed (a clean exit on SIGTERM/SIGINT: no line is lost);
//   - the process forks (every buffer is written first, so a child never
//     inherits and writes a second time lines its parent still holds).
// A crash or SIGKILL loses at most the buffered lines. SIZE 0 writes each line
// at once, as does stdout ("-"): a pipe keeps only writes of PIPE_BUF bytes whole,
// so one line per write(2) there. Each flush is a run of whole lines on an
// O_APPEND descriptor: lines of several threads or processes never tear or
// interleave (a local file system writes one O_APPEND write(2) whole).
//
// Thread-safety: write() formats into a thread_local buffer; then, buffered, it
// appends the line under the log's mutex (a write(2) that flushes happens under
// it too); unbuffered, it issues one write(2) with no lock. write() and flush()
// block on the disk or the stdout pipe.
// Who may call: any thread, concurrently; never a signal handler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
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

// How a file log buffers (see the top of this file). size 0 or flush_seconds
// <= 0: every line is written at once.
struct AccessLogBuffering {
  std::size_t size = 32 * 1024;  // --access-log-buffer
  double flush_seconds = 1.0;    // --access-log-flush
};

class AccessLog {
 public:
  enum class Format { Clf, Json };
  using Buffering = AccessLogBuffering;

  // `target`: "off" (nothing is written), "-" (stdout, never buffered), or a file
  // path that is created if needed and appended to. Throws SysError when it cannot
  // be opened. Writes the lines every other AccessLog of the process holds first
  // (a new log means a reload or a reopen).
  explicit AccessLog(const std::string& target, Format format = Format::Clf,
                     Buffering buffering = Buffering{});
  ~AccessLog();  // writes the buffered lines
  AccessLog(const AccessLog&) = delete;  // registered by address (flush_due, fork)
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return fd_ >= 0; }
  bool buffered() const { return buffer_size_ > 0; }
  void write(const AccessLogEntry& entry) const;
  // Writes the buffered lines now.
  void flush() const;

  // Every AccessLog of the process: flush_all() writes every buffer now;
  // flush_due() writes those whose oldest line is older than their flush
  // interval and returns how long a caller may sleep before the next one is due:
  // ms, at most `wait_ms` and at most kMaxFlushWaitMs while any log buffers (a
  // reload may open one with a shorter interval); -1 when no log buffers and
  // wait_ms is -1. For a poll timeout or a loop timer:
  //   poll(fds, n, AccessLog::flush_due(timeout));
  static void flush_all();
  static int flush_due(int wait_ms = -1);
  static constexpr int kMaxFlushWaitMs = 1000;

  // Appends one formatted line (with '\n') to `out`; `date` as current_clf_date().
  static void format(std::string& out, const AccessLogEntry& entry, std::string_view date);
  // Appends one JSON line (with '\n') to `out`; `time` as current_iso_time().
  static void format_json(std::string& out, const AccessLogEntry& entry, std::string_view time);

 private:
  using Clock = std::chrono::steady_clock;
  friend struct AccessLogRegistry;  // flushes and locks the buffers around fork

  void flush_locked() const;  // mutex_ held
  // ms until the oldest buffered line is due (the whole interval when empty).
  int due_in_ms(Clock::time_point now) const;

  Fd owned_;     // the file, when the target is a path
  int fd_ = -1;  // where lines go (1 for "-")
  Format format_ = Format::Clf;
  std::size_t buffer_size_ = 0;  // 0: unbuffered
  Clock::duration flush_interval_{};
  mutable std::mutex mutex_;              // guards buffer_ and oldest_
  mutable std::string buffer_;            // whole lines not yet written
  mutable Clock::time_point oldest_{};    // when the first line of buffer_ came
};

}  // namespace serverlab::http
