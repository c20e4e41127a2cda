// scoreboard.hpp: a shared-memory table where every worker posts what it is doing (Apache's
// scoreboard, shown by /server-status the way mod_status shows it).
//
// Why: the master needs to know which worker is least busy before it passes a connection, and
// an operator wants one page that says what every process is doing. Processes share no heap,
// so the table lives in one mmap(MAP_SHARED | MAP_ANONYMOUS) region made BEFORE fork: every
// child inherits the same physical pages at the same address. The region holds no pointers
// (addresses are per process), only fixed-size integers, and every field is a lock-free
// std::atomic: lock-free atomics are address-free, so they work between processes.
//
//   one mmap region, made by the master before the first fork
//   +------------------+------------------+------------------+-----+--------------------+
//   | ScoreboardHeader | ScoreboardSlot 0 | ScoreboardSlot 1 | ... | ScoreboardSlot n-1 |
//   | generation,      | worker 0 writes  | worker 1 writes  |     |                    |
//   | start, slots     | only this slot   | only this slot   |     |                    |
//   +------------------+------------------+------------------+-----+--------------------+
//   each block is 64 bytes (one cache line), so two workers never share a line
//
// Who writes what (one writer per field at any time, so no locks are needed):
//  - the master: the header, and a slot only at spawn (begin_spawn before fork, set_pid after)
//    and at reap (reap, after waitpid). Each of those bumps the slot's incarnation, so anyone
//    holding an old incarnation number can tell that the worker they knew is gone.
//  - a worker: only its own slot, through the ScoreboardSlot update methods.
//  - anyone: reads (totals, least_loaded, the renderers). A reader sees each field atomically but
//    not a consistent snapshot of the whole table; for a status page and a load hint that is fine.
//
// The state characters are mod_status's: '_' waiting, 'S' starting, 'R' reading, 'W' writing,
// 'C' closing, '.' open slot (no process). An event-driven worker serves many connections at
// once, so its state is that of the connection it touched last. (mod_status's 'K', keep-alive,
// is not used: a worker holding idle keep-alive connections among busy ones has no one state.)
//
// Nothing here blocks or allocates except create() (mmap) and the renderers (strings); the slot
// update methods are async-signal-safe and fine to call right after fork.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace serverlab {

namespace worker_state {
inline constexpr char kWaiting = '_';
inline constexpr char kStarting = 'S';
inline constexpr char kReading = 'R';
inline constexpr char kWriting = 'W';
inline constexpr char kClosing = 'C';
inline constexpr char kOpenSlot = '.';
}  // namespace worker_state

// Milliseconds on CLOCK_MONOTONIC (system-wide, so comparable between processes).
std::int64_t scoreboard_monotonic_ms();

// One worker's row. Lives only inside a Scoreboard's shared region.
struct alignas(64) ScoreboardSlot {
  // Written by the master at spawn and reap.
  std::atomic<std::uint64_t> incarnation{0};  // bumped at every spawn and every reap
  std::atomic<std::uint64_t> generation{0};   // the server generation the worker belongs to
  std::atomic<std::int64_t> start_time{0};    // unix seconds when spawned
  // Written by the worker (the master resets them at spawn, before the worker exists).
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::int64_t> last_heartbeat_ms{0};  // scoreboard_monotonic_ms()
  std::atomic<std::int32_t> pid{0};                // 0: no process (written by the master)
  std::atomic<std::uint32_t> active{0};            // connections the worker holds now
  std::atomic<char> state{worker_state::kOpenSlot};
  // Connections the worker has taken from its channel (passfd mode), wrapping. The master
  // counts what it sent; sent - received is what is still in flight in the channel.
  std::atomic<std::uint32_t> received{0};

  // [lab15:slot-update:begin]
  // [lab15:slot-update:stub] void set_state(char s) { (void)s; }
  // [lab15:slot-update:stub] void connection_opened() {}
  // [lab15:slot-update:stub] void connection_closed() {}
  // [lab15:slot-update:stub] void request_done(std::uint64_t bytes_sent) { (void)bytes_sent; }
  // [lab15:slot-update:stub] void heartbeat() {}
  // The worker's own updates. Relaxed ordering: each field has one writer, and readers want a
  // recent value, not an ordering between fields.
  void set_state(char s) { state.store(s, std::memory_order_relaxed); }
  void connection_opened() { active.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() {
    // Never wraps below zero, even if a worker's bookkeeping is off by one.
    std::uint32_t n = active.load(std::memory_order_relaxed);
    if (n > 0) active.store(n - 1, std::memory_order_relaxed);
  }
  void request_done(std::uint64_t response_bytes) {
    requests.fetch_add(1, std::memory_order_relaxed);
    bytes.fetch_add(response_bytes, std::memory_order_relaxed);
  }
  void heartbeat() {
    last_heartbeat_ms.store(scoreboard_monotonic_ms(), std::memory_order_relaxed);
  }
  // [lab15:slot-update:end]

  // A process owns the slot (spawned and not yet reaped).
  bool live() const {
    return pid.load(std::memory_order_acquire) != 0 &&
           state.load(std::memory_order_relaxed) != worker_state::kOpenSlot;
  }
};

struct alignas(64) ScoreboardHeader {
  std::atomic<std::uint64_t> generation{0};  // bumped by the master on a graceful restart
  std::atomic<std::int64_t> start_time{0};   // unix seconds when the scoreboard was made
  std::uint32_t slot_count = 0;              // fixed at create()
  // Counts of workers whose slot was reused: begin_spawn moves the old worker's counters
  // here before zeroing them, so the totals never go backwards (master only).
  std::atomic<std::uint64_t> retired_requests{0};
  std::atomic<std::uint64_t> retired_bytes{0};
  // The number of active workers, sampled once a second by the master (a ring: sample k is
  // at k % kWorkerHistory; worker_samples counts every sample ever recorded).
  static constexpr std::size_t kWorkerHistory = 120;
  std::atomic<std::uint64_t> worker_samples{0};
  std::atomic<std::uint16_t> worker_history[kWorkerHistory]{};
};

// What makes the region shareable: no hidden locks, no pointers, plain layout.
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<char>::is_always_lock_free);
static_assert(std::atomic<std::uint16_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<ScoreboardSlot>);
static_assert(std::is_standard_layout_v<ScoreboardHeader>);
static_assert(std::is_trivially_destructible_v<ScoreboardSlot>);
static_assert(std::is_trivially_destructible_v<ScoreboardHeader>);
static_assert(sizeof(ScoreboardSlot) == 64, "one cache line per worker");
static_assert(sizeof(int) == sizeof(std::int32_t), "pid_t is stored as int32");

struct ScoreboardTotals {
  std::uint64_t requests = 0;  // "Total Accesses"
  std::uint64_t bytes = 0;
  std::uint64_t active_connections = 0;  // summed over live workers
  std::uint32_t live_workers = 0;
  std::uint32_t busy_workers = 0;  // live and not waiting or starting
  std::uint32_t idle_workers = 0;  // live and waiting ('_')
};

// What the master knows that the board does not, for Scoreboard::least_loaded. Every span is
// either empty or has one entry per slot.
struct PickRequest {
  std::optional<std::uint64_t> generation;  // only slots of this generation (nullopt: any)
  std::size_t start = 0;                    // ties: the first found scanning from here
  std::span<const std::uint32_t> sent;      // per slot, connections the master sent (wrapping);
                                            // empty: nothing is in flight
  std::span<const char> skip;               // per slot, nonzero: never pick it (draining, or
                                            // already tried); empty: skip none
  std::uint64_t limit = 0;                  // a slot whose load is >= limit is full; 0: no limit
};

class Scoreboard {
 public:
  // Maps a zeroed shared region for `slots` workers. Call before fork. Throws SysError (mmap)
  // or std::invalid_argument (slots == 0 or absurdly large).
  static Scoreboard create(std::size_t slots);

  Scoreboard(Scoreboard&& other) noexcept;
  Scoreboard& operator=(Scoreboard&& other) noexcept;
  Scoreboard(const Scoreboard&) = delete;
  Scoreboard& operator=(const Scoreboard&) = delete;
  // Unmaps this process's view (the other processes keep theirs).
  ~Scoreboard();

  std::size_t size() const { return slots_; }
  // Throws std::out_of_range for i >= size().
  ScoreboardSlot& slot(std::size_t i);
  const ScoreboardSlot& slot(std::size_t i) const;

  std::uint64_t generation() const;
  // Master only: starts a new server generation (graceful restart); returns it.
  std::uint64_t next_generation();
  std::int64_t start_time() const;

  // Master only, at spawn: before fork, reset slot i for a new worker of the current generation
  // (incarnation bumped, counters moved to the header's retired totals and zeroed, state 'S');
  // after fork, in the parent, record its pid (the worker may also write its own pid, the same
  // value, so that it never shows 0 for itself). Returns the new incarnation.
  std::uint64_t begin_spawn(std::size_t i);
  void set_pid(std::size_t i, pid_t pid);
  // Master only, after waitpid: the slot is open again ('.', pid 0, incarnation bumped).
  void reap(std::size_t i);
  // The slot whose live worker has this pid (the master's waitpid loop uses it).
  std::optional<std::size_t> find_pid(pid_t pid) const;

  // The master's pick (passfd): the live slot with the least load, where a slot's load is its
  // active connections plus the ones in flight (sent by the master, not yet received by the
  // worker: sent[i] - received, modulo 2^32). Ties go to the first one found scanning from
  // request.start (wrapping), so a master that passes last pick + 1 spreads equal load
  // round-robin. nullopt when no slot qualifies. See PickRequest for the filters.
  // Who may call: anyone (it only reads); the master calls it for every connection it passes.
  std::optional<std::size_t> least_loaded(const PickRequest& request) const;
  // The same with only a generation and a start: nothing in flight, no limit, nothing skipped.
  std::optional<std::size_t> least_loaded(std::uint64_t generation, std::size_t start = 0) const;

  // Master only, once a second: records how many workers are active now.
  void record_worker_count(std::uint32_t active_workers);
  // The recorded samples, oldest first (at most kWorkerHistory of them).
  std::vector<std::uint32_t> worker_history() const;

  ScoreboardTotals totals() const;
  // The state characters of every slot in order, e.g. "_RW.".
  std::string state_string() const;

  // mod_status-style renderers.
  std::string render_html() const;  // a full HTML page with totals and one table row per slot
  std::string render_auto() const;  // "Total Accesses: N\nTotal kBytes: N\n...Scoreboard: _W.\n"
  std::string render_json() const;  // {"generation", "uptime_seconds", "totals", "workers": [..]}

 private:
  Scoreboard(void* base, std::size_t map_bytes, std::size_t slots);
  ScoreboardHeader& header() const;
  ScoreboardSlot* slots_begin() const;

  void* base_ = nullptr;
  std::size_t map_bytes_ = 0;
  std::size_t slots_ = 0;
};

}  // namespace serverlab
