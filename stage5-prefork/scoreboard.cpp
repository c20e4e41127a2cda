#include "scoreboard.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <ctime>
#include <new>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "serverlab/sys_error.hpp"

namespace serverlab {

namespace {

constexpr std::size_t kMaxSlots = 1 << 16;

std::int64_t unix_seconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

const char* state_name(char s) {
  switch (s) {
    case worker_state::kWaiting:
      return "waiting";
    case worker_state::kStarting:
      return "starting";
    case worker_state::kReading:
      return "reading";
    case worker_state::kWriting:
      return "writing";
    case worker_state::kClosing:
      return "closing";
    case worker_state::kOpenSlot:
      return "open";
    default:
      return "unknown";
  }
}

// A state character safe to print in any of the renderers.
char printable_state(char s) { return (s >= 0x21 && s <= 0x7e) ? s : '?'; }

}  // namespace

std::int64_t scoreboard_monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Scoreboard Scoreboard::create(std::size_t slots) {
  if (slots == 0 || slots > kMaxSlots) {
    throw std::invalid_argument("scoreboard: slot count must be 1.." + std::to_string(kMaxSlots));
  }
  const std::size_t bytes = sizeof(ScoreboardHeader) + slots * sizeof(ScoreboardSlot);
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw SysError("mmap");

  // Begin the objects' lifetimes in the fresh (zeroed, page-aligned) region. After fork every
  // process sees these same objects; no constructor ever runs on them again.
  auto* header = new (base) ScoreboardHeader;
  header->slot_count = static_cast<std::uint32_t>(slots);
  header->start_time.store(unix_seconds(), std::memory_order_relaxed);
  auto* first =
      reinterpret_cast<ScoreboardSlot*>(static_cast<char*>(base) + sizeof(ScoreboardHeader));
  for (std::size_t i = 0; i < slots; ++i) new (first + i) ScoreboardSlot;
  return Scoreboard(base, bytes, slots);
}

Scoreboard::Scoreboard(void* base, std::size_t map_bytes, std::size_t slots)
    : base_(base), map_bytes_(map_bytes), slots_(slots) {}

Scoreboard::Scoreboard(Scoreboard&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      map_bytes_(std::exchange(other.map_bytes_, 0)),
      slots_(std::exchange(other.slots_, 0)) {}

Scoreboard& Scoreboard::operator=(Scoreboard&& other) noexcept {
  if (this != &other) {
    if (base_ != nullptr) ::munmap(base_, map_bytes_);
    base_ = std::exchange(other.base_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
    slots_ = std::exchange(other.slots_, 0);
  }
  return *this;
}

Scoreboard::~Scoreboard() {
  // The objects are trivially destructible; unmapping ends this process's view only.
  if (base_ != nullptr) ::munmap(base_, map_bytes_);
}

ScoreboardHeader& Scoreboard::header() const {
  return *std::launder(static_cast<ScoreboardHeader*>(base_));
}

ScoreboardSlot* Scoreboard::slots_begin() const {
  return std::launder(
      reinterpret_cast<ScoreboardSlot*>(static_cast<char*>(base_) + sizeof(ScoreboardHeader)));
}

ScoreboardSlot& Scoreboard::slot(std::size_t i) {
  if (i >= slots_) throw std::out_of_range("scoreboard: no slot " + std::to_string(i));
  return slots_begin()[i];
}

const ScoreboardSlot& Scoreboard::slot(std::size_t i) const {
  if (i >= slots_) throw std::out_of_range("scoreboard: no slot " + std::to_string(i));
  return slots_begin()[i];
}

std::uint64_t Scoreboard::generation() const {
  return header().generation.load(std::memory_order_acquire);
}

std::uint64_t Scoreboard::next_generation() {
  return header().generation.fetch_add(1, std::memory_order_acq_rel) + 1;
}

std::int64_t Scoreboard::start_time() const {
  return header().start_time.load(std::memory_order_relaxed);
}

std::uint64_t Scoreboard::begin_spawn(std::size_t i) {
  ScoreboardSlot& s = slot(i);
  // No process writes this slot now (it was never used, or its worker was reaped), so the
  // master may reset the worker's fields before fork makes the worker exist.
  header().retired_requests.fetch_add(s.requests.exchange(0, std::memory_order_relaxed),
                                      std::memory_order_relaxed);
  header().retired_bytes.fetch_add(s.bytes.exchange(0, std::memory_order_relaxed),
                                   std::memory_order_relaxed);
  s.active.store(0, std::memory_order_relaxed);
  s.received.store(0, std::memory_order_relaxed);
  s.last_heartbeat_ms.store(scoreboard_monotonic_ms(), std::memory_order_relaxed);
  s.start_time.store(unix_seconds(), std::memory_order_relaxed);
  s.generation.store(generation(), std::memory_order_relaxed);
  s.pid.store(0, std::memory_order_relaxed);
  s.state.store(worker_state::kStarting, std::memory_order_relaxed);
  return s.incarnation.fetch_add(1, std::memory_order_acq_rel) + 1;
}

void Scoreboard::set_pid(std::size_t i, pid_t pid) {
  slot(i).pid.store(static_cast<std::int32_t>(pid), std::memory_order_release);
}

void Scoreboard::reap(std::size_t i) {
  ScoreboardSlot& s = slot(i);
  s.state.store(worker_state::kOpenSlot, std::memory_order_relaxed);
  s.active.store(0, std::memory_order_relaxed);
  s.pid.store(0, std::memory_order_release);
  s.incarnation.fetch_add(1, std::memory_order_acq_rel);
}

std::optional<std::size_t> Scoreboard::find_pid(pid_t pid) const {
  if (pid <= 0) return std::nullopt;
  for (std::size_t i = 0; i < slots_; ++i) {
    if (slots_begin()[i].pid.load(std::memory_order_acquire) == pid) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Scoreboard::least_loaded(std::uint64_t generation,
                                                    std::size_t start) const {
  PickRequest request;
  request.generation = generation;
  request.start = start;
  return least_loaded(request);
}

std::optional<std::size_t> Scoreboard::least_loaded(const PickRequest& request) const {
  // [lab16:least-loaded:begin]
  // [lab16:least-loaded:stub] (void)request;
  // [lab16:least-loaded:stub] return std::nullopt;
  std::optional<std::size_t> best;
  std::uint64_t best_load = 0;
  for (std::size_t k = 0; k < slots_; ++k) {
    const std::size_t i = (request.start + k) % slots_;
    const ScoreboardSlot& s = slots_begin()[i];
    if (!s.live()) continue;
    if (!request.skip.empty() && request.skip[i] != 0) continue;
    if (request.generation && s.generation.load(std::memory_order_relaxed) != *request.generation)
      continue;
    std::uint64_t load = s.active.load(std::memory_order_relaxed);
    if (!request.sent.empty()) {
      // Unsigned subtraction is modulo 2^32, so it stays right when either counter wraps.
      const std::uint32_t received = s.received.load(std::memory_order_acquire);
      load += static_cast<std::uint32_t>(request.sent[i] - received);
    }
    if (request.limit != 0 && load >= request.limit) continue;
    if (!best || load < best_load) {
      best = i;
      best_load = load;
    }
  }
  return best;
  // [lab16:least-loaded:end]
}

void Scoreboard::record_worker_count(std::uint32_t active_workers) {
  ScoreboardHeader& h = header();
  const std::uint64_t k = h.worker_samples.load(std::memory_order_relaxed);
  const auto clamped = static_cast<std::uint16_t>(std::min<std::uint32_t>(active_workers, 0xFFFF));
  h.worker_history[k % ScoreboardHeader::kWorkerHistory].store(clamped, std::memory_order_relaxed);
  h.worker_samples.store(k + 1, std::memory_order_release);
}

std::vector<std::uint32_t> Scoreboard::worker_history() const {
  const ScoreboardHeader& h = header();
  const std::uint64_t total = h.worker_samples.load(std::memory_order_acquire);
  const std::uint64_t n = std::min<std::uint64_t>(total, ScoreboardHeader::kWorkerHistory);
  std::vector<std::uint32_t> out;
  out.reserve(n);
  for (std::uint64_t k = total - n; k < total; ++k)
    out.push_back(
        h.worker_history[k % ScoreboardHeader::kWorkerHistory].load(std::memory_order_relaxed));
  return out;
}

ScoreboardTotals Scoreboard::totals() const {
  ScoreboardTotals t;
  t.requests = header().retired_requests.load(std::memory_order_relaxed);
  t.bytes = header().retired_bytes.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < slots_; ++i) {
    const ScoreboardSlot& s = slots_begin()[i];
    // Counters of reaped workers stay in their slot until it is respawned, then move to the
    // header's retired totals.
    t.requests += s.requests.load(std::memory_order_relaxed);
    t.bytes += s.bytes.load(std::memory_order_relaxed);
    if (!s.live()) continue;
    ++t.live_workers;
    t.active_connections += s.active.load(std::memory_order_relaxed);
    const char st = s.state.load(std::memory_order_relaxed);
    if (st == worker_state::kWaiting) {
      ++t.idle_workers;
    } else if (st != worker_state::kStarting) {
      ++t.busy_workers;
    }
  }
  return t;
}

std::string Scoreboard::state_string() const {
  std::string out;
  out.reserve(slots_);
  for (std::size_t i = 0; i < slots_; ++i) {
    out += printable_state(slots_begin()[i].state.load(std::memory_order_relaxed));
  }
  return out;
}

std::string Scoreboard::render_auto() const {
  const ScoreboardTotals t = totals();
  std::string out;
  out += "Total Accesses: " + std::to_string(t.requests) + "\n";
  out += "Total kBytes: " + std::to_string(t.bytes / 1024) + "\n";
  out += "Uptime: " + std::to_string(unix_seconds() - start_time()) + "\n";
  out += "ConnsTotal: " + std::to_string(t.active_connections) + "\n";
  out += "BusyWorkers: " + std::to_string(t.busy_workers) + "\n";
  out += "IdleWorkers: " + std::to_string(t.idle_workers) + "\n";
  out += "Scoreboard: " + state_string() + "\n";
  return out;
}

std::string Scoreboard::render_json() const {
  const ScoreboardTotals t = totals();
  const std::int64_t now_ms = scoreboard_monotonic_ms();
  nlohmann::json workers = nlohmann::json::array();
  for (std::size_t i = 0; i < slots_; ++i) {
    const ScoreboardSlot& s = slots_begin()[i];
    const char st = printable_state(s.state.load(std::memory_order_relaxed));
    const bool live = s.live();
    workers.push_back({
        {"slot", i},
        {"pid", s.pid.load(std::memory_order_acquire)},
        {"state", std::string(1, st)},
        {"state_name", state_name(st)},
        {"generation", s.generation.load(std::memory_order_relaxed)},
        {"incarnation", s.incarnation.load(std::memory_order_relaxed)},
        {"active_connections", s.active.load(std::memory_order_relaxed)},
        {"requests", s.requests.load(std::memory_order_relaxed)},
        {"bytes", s.bytes.load(std::memory_order_relaxed)},
        {"start_time", s.start_time.load(std::memory_order_relaxed)},
        {"heartbeat_age_ms",
         live ? nlohmann::json(now_ms - s.last_heartbeat_ms.load(std::memory_order_relaxed))
              : nlohmann::json(nullptr)},
    });
  }
  nlohmann::json doc = {
      {"generation", generation()},
      {"start_time", start_time()},
      {"uptime_seconds", unix_seconds() - start_time()},
      {"scoreboard", state_string()},
      {"totals",
       {
           {"requests", t.requests},
           {"bytes", t.bytes},
           {"active_connections", t.active_connections},
           {"live_workers", t.live_workers},
           {"busy_workers", t.busy_workers},
           {"idle_workers", t.idle_workers},
       }},
      {"workers", std::move(workers)},
      {"worker_history", worker_history()},
  };
  return doc.dump(2) + "\n";
}

std::string Scoreboard::render_html() const {
  const ScoreboardTotals t = totals();
  const std::int64_t now_ms = scoreboard_monotonic_ms();
  // Every value below is a number or a state character from printable_state that is not one
  // of HTML's special characters, so nothing needs escaping except a stray '<', '>' or '&'.
  auto cell_state = [](char c) -> std::string {
    switch (c) {
      case '<':
        return "&lt;";
      case '>':
        return "&gt;";
      case '&':
        return "&amp;";
      default:
        return std::string(1, c);
    }
  };
  std::string scoreboard;
  for (char c : state_string()) scoreboard += cell_state(c);

  std::string out;
  out +=
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Server Status</title>"
      "</head>\n<body>\n<h1>Server Status</h1>\n<dl>\n";
  out += "<dt>Generation</dt><dd>" + std::to_string(generation()) + "</dd>\n";
  out += "<dt>Uptime</dt><dd>" + std::to_string(unix_seconds() - start_time()) + " s</dd>\n";
  out += "<dt>Total accesses</dt><dd>" + std::to_string(t.requests) + "</dd>\n";
  out += "<dt>Total traffic</dt><dd>" + std::to_string(t.bytes / 1024) + " kB</dd>\n";
  out += "<dt>Connections</dt><dd>" + std::to_string(t.active_connections) + "</dd>\n";
  out += "<dt>Workers</dt><dd>" + std::to_string(t.busy_workers) + " busy, " +
         std::to_string(t.idle_workers) + " idle</dd>\n</dl>\n";
  out += "<pre>" + scoreboard + "</pre>\n";
  std::string history;
  for (std::uint32_t n : worker_history())
    history += (history.empty() ? "" : " ") + std::to_string(n);
  out += "<p>Active workers, one sample a second, oldest first: <code>" + history + "</code></p>\n";
  out +=
      "<p>Key: <code>_</code> waiting, <code>S</code> starting, <code>R</code> reading, "
      "<code>W</code> writing, <code>C</code> closing, "
      "<code>.</code> open slot</p>\n";
  out +=
      "<table>\n<tr><th>Slot</th><th>PID</th><th>Gen</th><th>State</th><th>Conns</th>"
      "<th>Requests</th><th>kB</th><th>Heartbeat age (ms)</th></tr>\n";
  for (std::size_t i = 0; i < slots_; ++i) {
    const ScoreboardSlot& s = slots_begin()[i];
    const bool live = s.live();
    out += "<tr><td>" + std::to_string(i) + "</td><td>" +
           std::to_string(s.pid.load(std::memory_order_acquire)) + "</td><td>" +
           std::to_string(s.generation.load(std::memory_order_relaxed)) + "</td><td>" +
           cell_state(printable_state(s.state.load(std::memory_order_relaxed))) + "</td><td>" +
           std::to_string(s.active.load(std::memory_order_relaxed)) + "</td><td>" +
           std::to_string(s.requests.load(std::memory_order_relaxed)) + "</td><td>" +
           std::to_string(s.bytes.load(std::memory_order_relaxed) / 1024) + "</td><td>" +
           (live ? std::to_string(now_ms - s.last_heartbeat_ms.load(std::memory_order_relaxed))
                 : std::string("-")) +
           "</td></tr>\n";
  }
  out += "</table>\n</body></html>\n";
  return out;
}

}  // namespace serverlab
