#include "fairness.hpp"

namespace serverlab {

Fairness::Fairness(std::size_t threads)
    : threads_(threads), slots_(std::make_unique<Slot[]>(threads)) {}

const std::atomic<bool>* Fairness::begin(std::size_t id) {
  Slot& slot = slots_[id];
  slot.park = false;
  slot.since = Clock::now().time_since_epoch().count();
  return &slot.park;
}

void Fairness::end(std::size_t id) { slots_[id].since = 0; }

void Fairness::rebalance(std::size_t queued) {
  std::size_t asked = 0;
  for (std::size_t i = 0; i < threads_; ++i) {
    if (slots_[i].since.load() != 0 && slots_[i].park.load()) ++asked;
  }
  const auto latest = (Clock::now() - kMinHold).time_since_epoch().count();
  for (; queued > asked; ++asked) {
    Slot* oldest = nullptr;
    for (std::size_t i = 0; i < threads_; ++i) {
      const auto since = slots_[i].since.load();
      if (since != 0 && since <= latest && !slots_[i].park.load() &&
          (oldest == nullptr || since < oldest->since.load())) {
        oldest = &slots_[i];
      }
    }
    if (oldest == nullptr) return;  // nobody has had a fair turn yet
    oldest->park = true;
  }
}

}  // namespace serverlab
