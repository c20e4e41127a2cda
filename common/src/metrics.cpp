#include "serverlab/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>

namespace serverlab {
namespace {

// Registered status codes each get a slot; the last six slots are "1xx".."5xx"
// (any other code of that class) and "other" (outside 100..599).
constexpr int kKnownStatuses[] = {
    100, 101, 102, 103,                                                    //
    200, 201, 202, 203, 204, 205, 206, 207, 208, 226,                      //
    300, 301, 302, 303, 304, 305, 307, 308,                                //
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413,  //
    414, 415, 416, 417, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,  //
    500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
constexpr std::size_t kKnownCount = std::size(kKnownStatuses);
constexpr std::size_t kStatusSlots = kKnownCount + 6;
constexpr std::size_t kOtherStatusSlot = kStatusSlots - 1;

// 100..599 -> slot, built once at compile time so request_done is a table load.
constexpr std::array<std::uint8_t, 500> make_status_table() {
  std::array<std::uint8_t, 500> table{};
  for (std::size_t code = 100; code < 600; ++code) {
    table[code - 100] = static_cast<std::uint8_t>(kKnownCount + code / 100 - 1);
  }
  for (std::size_t i = 0; i < kKnownCount; ++i) {
    table[static_cast<std::size_t>(kKnownStatuses[i] - 100)] = static_cast<std::uint8_t>(i);
  }
  return table;
}
constexpr auto kStatusTable = make_status_table();
static_assert(kStatusSlots < 256);

std::size_t status_slot(int status) {
  if (status < 100 || status > 599) return kOtherStatusSlot;
  return kStatusTable[static_cast<std::size_t>(status - 100)];
}

std::string status_label(std::size_t slot) {
  if (slot < kKnownCount) return std::to_string(kKnownStatuses[slot]);
  if (slot == kOtherStatusSlot) return "other";
  return fmt::format("{}xx", slot - kKnownCount + 1);
}

constexpr std::size_t kBuckets = Metrics::kDurationBuckets.size() + 1;  // + the +Inf bucket
constexpr std::size_t kErrorKindCount = Metrics::kErrorKinds.size();

std::size_t error_slot(std::string_view kind) {
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    if (Metrics::kErrorKinds[i] == kind) return i;
  }
  return kErrorKindCount;
}

// Each thread gets a shard index once, round-robin, shared by all registries.
std::atomic<std::size_t> g_next_shard{0};
thread_local const std::size_t t_shard =
    g_next_shard.fetch_add(1, std::memory_order_relaxed) % Metrics::kShards;

// Prometheus sample values: shortest round-trip decimal; NaN and infinities
// spelled the way the text format wants them.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// HELP text escapes backslash and newline.
std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Label values escape backslash, double quote and newline.
std::string escape_label(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help),
                 name, type);
}

}  // namespace

// One thread's counters. alignas keeps two shards from sharing a cache line, so
// threads on different shards never bounce a line between cores.
struct alignas(64) Metrics::Shard {
  std::atomic<std::uint64_t> requests[kMethods][kStatusSlots]{};
  std::atomic<std::uint64_t> response_bytes{0};
  std::atomic<std::uint64_t> connections_opened{0};
  std::atomic<std::uint64_t> connections_closed{0};
  std::atomic<std::uint64_t> duration_buckets[kBuckets]{};  // per bucket, not cumulative
  std::atomic<std::uint64_t> duration_sum_ns{0};
  std::atomic<std::uint64_t> errors[kErrorKindCount]{};
};

Metrics::Metrics() : shards_(std::make_unique<Shard[]>(kShards)) {}
Metrics::~Metrics() = default;

Metrics::Shard& Metrics::local_shard() { return shards_[t_shard]; }

std::uint64_t Metrics::sum(std::atomic<std::uint64_t> Shard::*field) const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    total += (shards_[i].*field).load(std::memory_order_relaxed);
  }
  return total;
}

void Metrics::connection_opened() {
  local_shard().connections_opened.fetch_add(1, std::memory_order_relaxed);
  if (observer_ != nullptr) observer_->on_connection_opened();
}

void Metrics::connection_closed() {
  local_shard().connections_closed.fetch_add(1, std::memory_order_relaxed);
  if (observer_ != nullptr) observer_->on_connection_closed();
}

void Metrics::request_done(http::Method method, int status, std::uint64_t bytes_sent,
                           double seconds) {
  Shard& shard = local_shard();
  auto m = static_cast<std::size_t>(method);
  if (m >= kMethods) m = kMethods - 1;
  shard.requests[m][status_slot(status)].fetch_add(1, std::memory_order_relaxed);
  shard.response_bytes.fetch_add(bytes_sent, std::memory_order_relaxed);

  if (!(seconds > 0)) seconds = 0;  // also maps NaN to 0
  std::size_t bucket = 0;
  while (bucket < kDurationBuckets.size() && seconds > kDurationBuckets[bucket]) ++bucket;
  shard.duration_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  // Nanoseconds in a uint64 hold ~584 years; clamp anything absurd.
  double ns = std::min(seconds * 1e9, 1e18);
  shard.duration_sum_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  if (observer_ != nullptr) observer_->on_request_done(status, bytes_sent);
}

void Metrics::error(std::string_view kind) {
  std::size_t slot = error_slot(kind);
  if (slot < kErrorKindCount) {
    local_shard().errors[slot].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::lock_guard lock(mutex_);
  auto it = other_errors_.find(kind);
  if (it == other_errors_.end()) it = other_errors_.emplace(std::string(kind), 0).first;
  ++it->second;
}

bool Metrics::valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  if (!alpha(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
  if (!valid_metric_name(name)) throw std::invalid_argument("metric name: " + name);
  if (!read) throw std::invalid_argument("metric " + name + ": no read function");
  std::lock_guard lock(mutex_);
  bool taken = name.starts_with("serverlab_requests") || name.starts_with("serverlab_response") ||
               name.starts_with("serverlab_connections") ||
               name.starts_with("serverlab_request_duration") ||
               name.starts_with("serverlab_errors");
  for (const Gauge& g : gauges_) taken = taken || g.name == name;
  if (taken) throw std::invalid_argument("metric name already in use: " + name);
  gauges_.push_back(Gauge{std::move(name), std::move(help), std::move(read)});
}

std::string_view Metrics::method_label(http::Method method) {
  static constexpr std::string_view kNames[kMethods] = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "other"};
  auto m = static_cast<std::size_t>(method);
  return m < kMethods ? kNames[m] : kNames[kMethods - 1];
}

std::uint64_t Metrics::requests(http::Method method, int status) const {
  auto m = static_cast<std::size_t>(method);
  if (m >= kMethods) m = kMethods - 1;
  std::size_t s = status_slot(status);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    total += shards_[i].requests[m][s].load(std::memory_order_relaxed);
  }
  return total;
}

std::uint64_t Metrics::requests_total() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    for (const auto& row : shards_[i].requests) {
      for (const auto& cell : row) total += cell.load(std::memory_order_relaxed);
    }
  }
  return total;
}

std::uint64_t Metrics::connections_total() const { return sum(&Shard::connections_opened); }

std::int64_t Metrics::connections_open() const {
  // Closed is read first: a connection closed between the two reads is then
  // counted as still open, never as a negative count.
  auto closed = sum(&Shard::connections_closed);
  auto opened = sum(&Shard::connections_opened);
  return static_cast<std::int64_t>(opened) - static_cast<std::int64_t>(closed);
}

std::uint64_t Metrics::errors(std::string_view kind) const {
  std::size_t slot = error_slot(kind);
  if (slot < kErrorKindCount) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < kShards; ++i) {
      total += shards_[i].errors[slot].load(std::memory_order_relaxed);
    }
    return total;
  }
  std::lock_guard lock(mutex_);
  auto it = other_errors_.find(kind);
  return it == other_errors_.end() ? 0 : it->second;
}

std::string Metrics::render_prometheus() const {
  std::string out;
  out.reserve(4096);
  auto put = std::back_inserter(out);

  family(out, "serverlab_requests_total", "counter", "HTTP responses sent, by method and status.");
  for (std::size_t m = 0; m < kMethods; ++m) {
    for (std::size_t s = 0; s < kStatusSlots; ++s) {
      std::uint64_t n = 0;
      for (std::size_t i = 0; i < kShards; ++i) {
        n += shards_[i].requests[m][s].load(std::memory_order_relaxed);
      }
      if (n == 0) continue;
      fmt::format_to(put, "serverlab_requests_total{{method=\"{}\",status=\"{}\"}} {}\n",
                     method_label(static_cast<http::Method>(m)), status_label(s), n);
    }
  }

  family(out, "serverlab_response_bytes_total", "counter",
         "Bytes of HTTP responses sent (head and body).");
  fmt::format_to(put, "serverlab_response_bytes_total {}\n", sum(&Shard::response_bytes));

  family(out, "serverlab_connections_open", "gauge", "Client connections open now.");
  fmt::format_to(put, "serverlab_connections_open {}\n", connections_open());

  family(out, "serverlab_connections_total", "counter", "Client connections accepted.");
  fmt::format_to(put, "serverlab_connections_total {}\n", connections_total());

  // Buckets are read once each, then made cumulative, so +Inf always equals _count.
  family(out, "serverlab_request_duration_seconds", "histogram",
         "Time from a complete request head to the last response byte handed to the kernel.");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < kBuckets; ++b) {
    for (std::size_t i = 0; i < kShards; ++i) {
      cumulative += shards_[i].duration_buckets[b].load(std::memory_order_relaxed);
    }
    std::string le = b < kDurationBuckets.size() ? format_value(kDurationBuckets[b]) : "+Inf";
    fmt::format_to(put, "serverlab_request_duration_seconds_bucket{{le=\"{}\"}} {}\n", le,
                   cumulative);
  }
  double sum_seconds = static_cast<double>(sum(&Shard::duration_sum_ns)) / 1e9;
  fmt::format_to(put, "serverlab_request_duration_seconds_sum {}\n", format_value(sum_seconds));
  fmt::format_to(put, "serverlab_request_duration_seconds_count {}\n", cumulative);

  family(out, "serverlab_errors_total", "counter", "Errors by kind (parse, io, timeout, ...).");
  for (std::size_t k = 0; k < kErrorKindCount; ++k) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < kShards; ++i) {
      n += shards_[i].errors[k].load(std::memory_order_relaxed);
    }
    fmt::format_to(put, "serverlab_errors_total{{kind=\"{}\"}} {}\n", kErrorKinds[k], n);
  }

  std::lock_guard lock(mutex_);
  for (const auto& [kind, n] : other_errors_) {
    fmt::format_to(put, "serverlab_errors_total{{kind=\"{}\"}} {}\n", escape_label(kind), n);
  }
  for (const Gauge& g : gauges_) {
    family(out, g.name, "gauge", g.help);
    fmt::format_to(put, "{} {}\n", g.name, format_value(g.read()));
  }
  return out;
}

}  // namespace serverlab
