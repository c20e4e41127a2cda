// log.hpp: leveled logging, as text lines or JSON lines, built on fmt.
//
//   log::info("client {} connected", peer);                    // message only
//   log::event(log::Level::Info, "conn close",
//              {{"peer", peer}, {"bytes_in", n}, {"ms", 1.5}});  // with fields
//
// Text:  2026-11-23T19:21:00.123Z INFO conn close peer=127.0.0.1:5000 bytes_in=12 ms=1.5
// JSON:  {"ts":"2026-11-23T19:21:00.123Z","level":"info","msg":"conn close","peer":"127.0.0.1:5000",...}
//
// A text record is always one line: control characters in the message or a
// value are escaped (\n, \xNN), so bytes from a peer cannot forge log lines.
// Every record is formatted first and then written with ONE write(2) under a
// mutex, so lines from different threads never tear or interleave (lab 07).
// Thread-safe. Not async-signal-safe: never log from a signal handler.
// Who may call: any thread; never a signal handler.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace serverlab::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3, Off = 4 };
enum class Format { Text, Json };

std::optional<Level> parse_level(std::string_view name);  // debug|info|warn|error|off
std::optional<Format> parse_format(std::string_view name);  // text|json
std::string_view level_name(Level level);

// Sets the threshold, the format and where records go (a descriptor the caller
// keeps open; stderr by default). Call from main before threads start.
void configure(Level level, Format format, int fd = 2);
bool enabled(Level level);
Format format();

// One field value: a string, an integer or a floating-point number.
class Value {
 public:
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(const std::string& s) : v_(s) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(bool b) : v_(std::string(b ? "true" : "false")) {}
  template <typename T>
    requires std::is_integral_v<T>
  Value(T n) : v_(static_cast<std::int64_t>(n)) {}
  Value(double d) : v_(d) {}
  const std::variant<std::string, std::int64_t, double>& get() const { return v_; }

 private:
  std::variant<std::string, std::int64_t, double> v_;
};
using Fields = std::initializer_list<std::pair<std::string_view, Value>>;

void event(Level level, std::string_view message, Fields fields = {});

// Formats the whole record (for tests and for sinks other than the log fd).
std::string format_record(Level level, Format format, std::string_view message, Fields fields);

// RateLimiter: a token bucket that keeps a flood of similar records (one per bad
// request, say) from filling a disk. It admits `burst` events at once, then one
// every 1/per_second seconds; the rest are counted, and the next admitted event
// learns how many were dropped before it, so its caller can write one
// "suppressed K similar messages" record first. No event is lost from the count.
//
//   static log::RateLimiter limiter(10, 10);
//   if (auto d = limiter.admit(); d.admitted) {
//     if (d.suppressed > 0) log::info("suppressed {} similar messages", d.suppressed);
//     log::info(...);
//   }
//
// How: the bucket is one atomic number, the "theoretical arrival time" (GCRA, the
// ATM cell-rate algorithm, equivalent to a token bucket): each admitted event pushes
// it 1/per_second into the future, and an event is refused while it is more than
// `burst` intervals ahead of now. A compare-and-swap loop updates it, so admit()
// is lock-free, never blocks and costs a few atomic operations.
// Thread-safe: any number of threads may call admit() at once. Counts are per
// process (each stage 5 worker has its own).
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  struct Decision {
    bool admitted = false;
    std::uint64_t suppressed = 0;  // admitted: events refused since the last admitted one
  };
  // per_second and burst must be >= 1.
  RateLimiter(int per_second, int burst);
  Decision admit(Clock::time_point now = Clock::now());

 private:
  std::int64_t interval_ns_;  // 1 s / per_second
  std::int64_t window_ns_;    // burst * interval: how far ahead the arrival time may run
  std::atomic<std::int64_t> arrival_ns_{0};
  std::atomic<std::uint64_t> refused_{0};
};

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Debug)) event(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Info)) event(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Warn)) event(Level::Warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Error)) event(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace serverlab::log
