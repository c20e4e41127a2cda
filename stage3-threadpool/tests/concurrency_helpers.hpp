// concurrency_helpers.hpp: small tools for the stage 3 tests. A Gate that
// threads wait on until the test opens it, eventually(), a bounded poll for a
// condition, and a watchdog on every test of the binary that includes this.
// Blocking is proven by "still not done after a bounded wait", never by measuring
// how fast something happened.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
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

// The watchdog. A lost wake-up (a missing notify_one, a notify before the state
// change, an `if` where a `while` belongs) leaves a thread asleep forever, and the
// test's join() with it: without this, only ctest's timeout (minutes) would end
// the run, with no word on why. Every test here finishes in well under a second
// (a few under TSan); one still running after kBudget is stuck, so the watchdog
// names the test and the likely cause, and ends the process with status 1.
class Watchdog : public ::testing::EmptyTestEventListener {
 public:
  static constexpr auto kBudget = 15s;

  Watchdog() : thread_([this] { watch(); }) {}
  ~Watchdog() override {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void OnTestStart(const ::testing::TestInfo& test) override {
    std::lock_guard lock(mutex_);
    name_ = std::string(test.test_suite_name()) + "." + test.name();
    deadline_ = std::chrono::steady_clock::now() + kBudget;
    armed_ = true;
    cv_.notify_one();
  }
  void OnTestEnd(const ::testing::TestInfo&) override {
    std::lock_guard lock(mutex_);
    armed_ = false;
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    while (!done_) {
      if (!armed_) {
        cv_.wait(lock);
      } else if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ &&
                 std::chrono::steady_clock::now() >= deadline_) {
        std::fprintf(stderr,
                     "\nWATCHDOG: %s still running after %lld s: a thread blocked in the "
                     "queue or the pool was never woken. A lost wake-up: look for a missing "
                     "notify_one()/notify_all(), or a wait not re-checking its condition.\n",
                     name_.c_str(), static_cast<long long>(kBudget.count()));
        std::fflush(stderr);
        std::_Exit(1);
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool armed_ = false;
  std::string name_;
  std::chrono::steady_clock::time_point deadline_{};
  std::thread thread_;  // last: starts after the members it reads
};

// Installs one Watchdog in every test binary that includes this header (gtest
// owns and deletes it at exit).
inline const bool kWatchdogInstalled = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new Watchdog);
  return true;
}();

}  // namespace serverlab::testing
