#include "deadline_timer.hpp"

#include <algorithm>
#include <cstdint>

namespace serverlab {

void DeadlineTimer::arm(Clock::time_point deadline) {
  if (loop_.timer_pending(id_)) {
    if (at_ <= deadline) return;  // fires first; passed() looks at the real deadline
    loop_.cancel(id_);
  }
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - loop_.now()).count();
  id_ = loop_.run_after(static_cast<std::uint64_t>(std::max<std::int64_t>(left, 0)), [this] {
    id_ = {};
    on_fire_();
  });
  at_ = deadline;
}

bool DeadlineTimer::passed(Clock::time_point deadline) {
  if (loop_.now() >= deadline) return true;
  arm(deadline);  // moved later meanwhile
  return false;
}

void DeadlineTimer::cancel() {
  loop_.cancel(id_);
  id_ = {};
}

}  // namespace serverlab
