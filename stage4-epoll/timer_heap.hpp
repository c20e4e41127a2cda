// timer_heap.hpp: TimerHeap, one-shot timers in a binary min-heap, cancellable by id.
//
// Why: an event loop needs "the earliest deadline" (it becomes epoll_wait's
// timeout) and "run everything that is due", both cheap with thousands of
// connections each holding a header or keep-alive timer. redis keeps timers in
// an unsorted list (O(n) per iteration); a heap makes both O(log n).
//
//   heap_ (min-heap on (deadline, seq))          slots_ (one per timer, reused)
//              [0] t=100 slot 2                  +-------+-------+-------+------+
//             /                \ (parent)        | cb    | cb    | cb    | free |
//   [1] t=250 slot 0    [2] t=900 slot 1         | gen 3 | gen 1 | gen 7 |      |
//                                                | at 1  | at 2  | at 0  |      |
//   each slot knows its heap position ("at"),    +-------+-------+-------+------+
//   so cancel() removes the entry at once: no tombstones pile up in the heap.
//
// A TimerId is (slot, generation). Firing or cancelling a timer bumps its slot's
// generation, so a stale id (a timer that already fired, or was cancelled, whose
// slot now holds another timer) is recognised and ignored by cancel().
//
// Order: timers fire by deadline; equal deadlines fire in the order they were
// added. run_expired(now) runs only timers that existed when it was called: a
// timer added by a callback (even a 0 ms one) waits for the next call, so a timer
// that re-arms itself cannot starve the rest of the loop.
//
// Deadlines are plain milliseconds on whatever monotonic clock the caller uses
// (EventLoop passes CLOCK_MONOTONIC ms). Callbacks may add and cancel timers,
// including their own id (a no-op then). A callback that throws leaves the heap
// consistent (it was taken out before the call) and the exception goes to the
// caller of run_expired().
//
// Who may call: the owner's thread only (not thread-safe); in the servers, that
// is EventLoop on the loop thread (run_after, cancel), never the code directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace serverlab {

// Names one timer. Default-constructed: names no timer (cancel() ignores it).
class TimerId {
 public:
  constexpr TimerId() = default;
  constexpr bool valid() const { return value_ != 0; }
  friend constexpr bool operator==(TimerId, TimerId) = default;

 private:
  friend class TimerHeap;
  constexpr TimerId(std::uint32_t slot, std::uint32_t generation)
      : value_(std::uint64_t{generation} << 32 | slot) {}
  constexpr std::uint32_t slot() const { return static_cast<std::uint32_t>(value_); }
  constexpr std::uint32_t generation() const { return static_cast<std::uint32_t>(value_ >> 32); }
  std::uint64_t value_ = 0;
};

// A timer's callback. Up to two pointers of trivially copyable capture are stored
// without allocating (see event_loop.hpp).
using TimerCallback = std::function<void()>;

class TimerHeap {
 public:
  // Schedules `callback` to run once at `deadline_ms` (or the first
  // run_expired(now) with now >= deadline_ms).
  TimerId add(std::uint64_t deadline_ms, TimerCallback callback);

  // Cancels a pending timer: its callback never runs and is destroyed now.
  // Returns false (and does nothing) if the timer already fired, was cancelled, or
  // `id` is empty.
  bool cancel(TimerId id);

  bool pending(TimerId id) const;
  std::size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }

  // The earliest deadline, or nullopt when no timer is pending.
  std::optional<std::uint64_t> next_deadline() const;

  // Runs, in order, every timer due at `now_ms` that was pending when the call
  // began. Returns how many ran.
  std::size_t run_expired(std::uint64_t now_ms);

 private:
  struct Entry {
    std::uint64_t deadline;
    std::uint64_t seq;  // insertion order: the tie-break for equal deadlines
    std::uint32_t slot;
  };
  struct Slot {
    TimerCallback callback;
    std::uint32_t generation = 1;
    std::uint32_t heap_index = 0;
    bool live = false;
  };

  static bool before(const Entry& a, const Entry& b) {
    return a.deadline != b.deadline ? a.deadline < b.deadline : a.seq < b.seq;
  }
  void place(std::size_t index, const Entry& entry);
  void sift_up(std::size_t index);
  void sift_down(std::size_t index);
  // Takes the entry at heap position `index` out; returns its slot's callback.
  TimerCallback remove_at(std::size_t index);

  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace serverlab
