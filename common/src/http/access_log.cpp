#include "serverlab/http/access_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <vector>

#include "serverlab/http/date.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::http {
namespace {

// Writes `field` between double quotes, with '"' and '\\' escaped by a backslash
// and every byte outside printable ASCII (below 0x20, or 0x7f and up) written
// through the format `escape` ("\\x{:02X}" for CLF, "\\u{:04x}" for JSON): the
// line stays ASCII and one line whatever the bytes were. `empty` stands for an
// empty field.
void append_escaped(std::string& out, std::string_view field, std::string_view empty,
                    fmt::format_string<unsigned> escape) {
  out.push_back('"');
  if (field.empty()) out.append(empty);
  for (char c : field) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      fmt::format_to(std::back_inserter(out), escape, unsigned{u});
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// A quoted CLF field ("-" when empty).
void append_quoted(std::string& out, std::string_view field) {
  append_escaped(out, field, "-", "\\x{:02X}");
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
  append_escaped(out, field, "", "\\u{:04x}");
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

// Every AccessLog of the process, so a loop can flush them all (flush_due) and
// fork can write their buffers first. Never destroyed: an AccessLog in static
// storage may outlive any other static.
struct AccessLogRegistry {
  std::mutex mutex;  // taken before any AccessLog's own mutex, never after
  std::vector<const AccessLog*> logs;

  static AccessLogRegistry& get() {
    static auto* registry = new AccessLogRegistry;
    return *registry;
  }

  // fork: the parent writes every buffer and holds every lock across fork, so
  // the child starts with empty buffers and unlocked mutexes (pthread_atfork).
  static void before_fork() {
    AccessLogRegistry& r = get();
    r.mutex.lock();
    for (const AccessLog* log : r.logs) {
      log->mutex_.lock();
      log->flush_locked();
    }
  }
  static void after_fork() {
    AccessLogRegistry& r = get();
    for (const AccessLog* log : r.logs) {
      log->buffer_.clear();  // empty already: never write a line twice
      log->mutex_.unlock();
    }
    r.mutex.unlock();
  }
};

AccessLog::AccessLog(const std::string& target, Format format, Buffering buffering)
    : format_(format) {
  if (target == "off" || target.empty()) return;
  if (target == "-") {
    fd_ = 1;  // a pipe keeps only small writes whole: one line per write
    return;
  }
  owned_ = Fd(::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!owned_) throw SysError("open " + target);
  fd_ = owned_.get();
  flush_all();  // a new log: the old ones' lines go to their files first (reopen)
  if (buffering.size == 0 || buffering.flush_seconds <= 0) return;
  buffer_size_ = buffering.size;
  flush_interval_ = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(buffering.flush_seconds));
  buffer_.reserve(buffer_size_ + 4096);  // room for the line that passes the size

  static std::once_flag fork_hooks;
  std::call_once(fork_hooks, [] {
    ::pthread_atfork(&AccessLogRegistry::before_fork, &AccessLogRegistry::after_fork,
                     &AccessLogRegistry::after_fork);
  });
  AccessLogRegistry& r = AccessLogRegistry::get();
  std::lock_guard lock(r.mutex);
  r.logs.push_back(this);
}

AccessLog::~AccessLog() {
  if (!buffered()) return;
  AccessLogRegistry& r = AccessLogRegistry::get();
  {
    std::lock_guard lock(r.mutex);
    r.logs.erase(std::find(r.logs.begin(), r.logs.end(), this));
  }
  flush();
}

void AccessLog::flush() const {
  if (!buffered()) return;
  std::lock_guard lock(mutex_);
  flush_locked();
}

void AccessLog::flush_locked() const {
  if (buffer_.empty()) return;
  (void)write_n(fd_, buffer_);  // a failed log write must not take the server down
  buffer_.clear();
}

int AccessLog::due_in_ms(Clock::time_point now) const {
  if (buffer_.empty()) return static_cast<int>(
      std::chrono::ceil<std::chrono::milliseconds>(flush_interval_).count());
  auto left = std::chrono::ceil<std::chrono::milliseconds>(oldest_ + flush_interval_ - now);
  return static_cast<int>(std::clamp<long long>(left.count(), 0, INT_MAX));
}

void AccessLog::flush_all() {
  AccessLogRegistry& r = AccessLogRegistry::get();
  std::lock_guard lock(r.mutex);
  for (const AccessLog* log : r.logs) log->flush();
}

int AccessLog::flush_due(int wait_ms) {
  AccessLogRegistry& r = AccessLogRegistry::get();
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(r.mutex);
  if (!r.logs.empty()) wait_ms = wait_ms < 0 ? kMaxFlushWaitMs : std::min(wait_ms, kMaxFlushWaitMs);
  for (const AccessLog* log : r.logs) {
    std::lock_guard log_lock(log->mutex_);
    if (log->due_in_ms(now) == 0) log->flush_locked();
    const int due = log->due_in_ms(now);
    wait_ms = wait_ms < 0 ? due : std::min(wait_ms, due);
  }
  return wait_ms;
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
  if (!buffered()) {
    (void)write_n(fd_, line);  // a failed log write must not take the connection down
    return;
  }
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mutex_);
  if (buffer_.empty()) oldest_ = now;
  buffer_.append(line);
  if (buffer_.size() >= buffer_size_ || now - oldest_ >= flush_interval_) flush_locked();
}

}  // namespace serverlab::http
