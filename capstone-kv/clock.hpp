// clock.hpp: the two clocks kv-server reads, in the units its callers want.
//
//   wall_ms()       milliseconds since the Unix epoch (CLOCK_REALTIME): key expiry
//                   times are absolute (EXPIREAT speaks in them), LASTSAVE, TIME
//   monotonic_us()  microseconds of CLOCK_MONOTONIC: time budgets (the active
//                   expiry cycle), never affected by the wall clock being set
//
// Who may call: anyone, any thread.
#pragma once

#include <time.h>

#include <cstdint>

namespace serverlab::kv {

inline std::int64_t wall_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

inline std::uint64_t monotonic_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace serverlab::kv
