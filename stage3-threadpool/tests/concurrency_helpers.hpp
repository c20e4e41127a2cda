// concurrency_helpers.hpp: small tools for the stage 3 tests. A Gate that
// threads wait on until the test opens it, and eventually(), a bounded poll for a
// condition. Blocking is proven by "still not done after a bounded wait",
// never by measuring how fast something happened.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace serverlab::testing {

using namespace std::chrono_literals;

class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Polls `condition` until it holds or `deadline` passes; returns its last value.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds deadline = 5s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// How long a test watches a thread it expects to stay blocked. Long enough that a
// non-blocking bug shows up; a slow machine can only make the check weaker,
// never make a correct queue fail.
constexpr auto kStaysBlocked = 100ms;

}  // namespace serverlab::testing
