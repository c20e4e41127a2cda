#include "serverlab/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "serverlab/rio.hpp"

namespace serverlab::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::atomic<int> g_format{static_cast<int>(Format::Text)};
std::atomic<int> g_fd{2};
std::mutex g_write_mutex;

// RFC 3339 UTC timestamp with milliseconds.
std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", text, ms);
}

constexpr std::string_view kUpperNames[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

// Text records must stay one line each, whatever bytes a peer put in a value:
// control characters are escaped (\n, \r, \t, \xNN), so a value can never
// forge a second log line. Quoting (and escaping of '"' and '\\') applies when
// the value is empty or holds a space, tab, quote, '=' or control character.
bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

void append_escaped(std::string& out, std::string_view s, bool escape_quotes) {
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (is_control(c)) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else if (escape_quotes && (c == '"' || c == '\\')) (out += '\\') += c;
    else out += c;
  }
}

void append_text_value(std::string& out, std::string_view v) {
  bool quote = v.empty() || v.find_first_of(" \t\"=") != std::string_view::npos ||
               std::any_of(v.begin(), v.end(), is_control);
  if (!quote) {
    append_escaped(out, v, false);
    return;
  }
  out += '"';
  append_escaped(out, v, true);
  out += '"';
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
  if (name == "debug") return Level::Debug;
  if (name == "info") return Level::Info;
  if (name == "warn") return Level::Warn;
  if (name == "error") return Level::Error;
  if (name == "off") return Level::Off;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view name) {
  if (name == "text") return Format::Text;
  if (name == "json") return Format::Json;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  constexpr std::string_view names[] = {"debug", "info", "warn", "error", "off"};
  return names[static_cast<int>(level)];
}

void configure(Level level, Format fmt_, int fd) {
  g_level = static_cast<int>(level);
  g_format = static_cast<int>(fmt_);
  g_fd = fd;
}

bool enabled(Level level) {
  return level != Level::Off && static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

Format format() { return static_cast<Format>(g_format.load(std::memory_order_relaxed)); }

std::string format_record(Level level, Format fmt_, std::string_view message, Fields fields) {
  if (fmt_ == Format::Json) {
    nlohmann::ordered_json j;
    j["ts"] = timestamp();
    j["level"] = level_name(level);
    j["msg"] = message;
    for (const auto& [key, value] : fields) {
      std::visit([&, k = std::string(key)](const auto& v) { j[k] = v; }, value.get());
    }
    // Invalid UTF-8 (a peer's bytes) is replaced rather than thrown on.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string line = fmt::format("{} {} ", timestamp(), kUpperNames[static_cast<int>(level)]);
  append_escaped(line, message, false);
  for (const auto& [key, value] : fields) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            line += fmt::format(" {}=", key);
            append_text_value(line, v);
          } else {
            line += fmt::format(" {}={}", key, v);
          }
        },
        value.get());
  }
  line += '\n';
  return line;
}

RateLimiter::RateLimiter(int per_second, int burst)
    : interval_ns_(1'000'000'000 / std::max(per_second, 1)),
      window_ns_(interval_ns_ * std::max(burst, 1)) {}

RateLimiter::Decision RateLimiter::admit(Clock::time_point now) {
  const std::int64_t t =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::int64_t arrival = arrival_ns_.load(std::memory_order_relaxed);
  for (;;) {
    std::int64_t next = std::max(arrival, t) + interval_ns_;
    if (next - t > window_ns_) {  // the bucket is empty
      refused_.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    if (arrival_ns_.compare_exchange_weak(arrival, next, std::memory_order_relaxed)) break;
  }
  Decision d;
  d.admitted = true;
  if (refused_.load(std::memory_order_relaxed) != 0)
    d.suppressed = refused_.exchange(0, std::memory_order_relaxed);
  return d;
}

void event(Level level, std::string_view message, Fields fields) {
  if (!enabled(level)) return;
  std::string record = format_record(level, format(), message, fields);
  std::lock_guard lock(g_write_mutex);
  (void)write_n(g_fd.load(), record);  // one write per record: lines never interleave
}

}  // namespace serverlab::log
