#include "timer_heap.hpp"

#include <cassert>
#include <utility>

namespace serverlab {

TimerId TimerHeap::add(std::uint64_t deadline_ms, TimerCallback callback) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.callback = std::move(callback);
  s.live = true;
  heap_.push_back({});
  place(heap_.size() - 1, Entry{deadline_ms, next_seq_++, slot});
  sift_up(heap_.size() - 1);
  return TimerId(slot, s.generation);
}

bool TimerHeap::pending(TimerId id) const {
  return id.valid() && id.slot() < slots_.size() && slots_[id.slot()].live &&
         slots_[id.slot()].generation == id.generation();
}

bool TimerHeap::cancel(TimerId id) {
  if (!pending(id)) return false;
  // Destroy the callback only after the heap is consistent again: its captures'
  // destructors may call back into this heap.
  TimerCallback dead = remove_at(slots_[id.slot()].heap_index);
  return true;
}

std::optional<std::uint64_t> TimerHeap::next_deadline() const {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().deadline;
}

std::size_t TimerHeap::run_expired(std::uint64_t now_ms) {
  const std::uint64_t seq_limit = next_seq_;  // timers added from here on wait
  std::size_t ran = 0;
  while (!heap_.empty() && heap_.front().deadline <= now_ms && heap_.front().seq < seq_limit) {
    // Move the callback out first: it may add timers (reallocating slots_) or
    // cancel its own id, which must then be a harmless no-op.
    TimerCallback callback = remove_at(0);
    callback();
    ++ran;
  }
  return ran;
}

TimerCallback TimerHeap::remove_at(std::size_t index) {
  assert(index < heap_.size());
  const std::uint32_t slot = heap_[index].slot;
  const Entry last = heap_.back();
  heap_.pop_back();
  if (index < heap_.size()) {
    // Fill the hole with the last entry, then restore the heap order around it.
    place(index, last);
    sift_up(index);
    sift_down(slots_[last.slot].heap_index);
  }
  Slot& s = slots_[slot];
  TimerCallback callback = std::move(s.callback);
  s.callback = nullptr;  // a moved-from std::function is only "valid": make it empty
  s.live = false;
  if (++s.generation == 0) s.generation = 1;  // 0 would make an id look empty
  free_slots_.push_back(slot);
  return callback;
}

void TimerHeap::place(std::size_t index, const Entry& entry) {
  heap_[index] = entry;
  slots_[entry.slot].heap_index = static_cast<std::uint32_t>(index);
}

void TimerHeap::sift_up(std::size_t index) {
  const Entry moving = heap_[index];
  while (index > 0) {
    const std::size_t parent = (index - 1) / 2;
    if (!before(moving, heap_[parent])) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, moving);
}

void TimerHeap::sift_down(std::size_t index) {
  const Entry moving = heap_[index];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * index + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], moving)) break;
    place(index, heap_[child]);
    index = child;
  }
  place(index, moving);
}

}  // namespace serverlab
