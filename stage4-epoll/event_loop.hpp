// event_loop.hpp: EventLoop, a single-threaded epoll reactor with timers (stage 4).
//
// Why: one thread can serve thousands of connections if it never blocks on any
// one of them. Every descriptor is non-blocking; the loop asks the kernel which
// ones are ready (epoll_wait) and calls that descriptor's handler, which does as
// much I/O as it can without blocking and returns. Stage 5's workers run this
// same loop, one per process.
//
// One iteration, in phases (run() repeats it until stop()):
//
//        +---------------------------------------------------------+
//        |  1. timers     update the cached clock (now_ms); run    |
//        |                every timer that is due, in order        |
//        |  2. before     call the before_sleep hook (flush logs,  |
//        |     sleep      publish counters, flush pending output)  |
//        |  3. poll       epoll_wait, timeout = 0 if stopping, else|
//        |                until the earliest timer, else forever   |
//        |  4. dispatch   update the clock; for each ready fd whose|
//        |                registration is still current, call     |
//        |                handler.on_event(events)                 |
//        +---------------------------(stop()? return)--------------+
//
// Registrations: a table indexed by fd (a vector, grown on demand) holds each
// fd's handler, interest mask and a generation number, which is also packed into
// the epoll_event. A handler removed during dispatch -- even one whose event is
// later in the same epoll_wait batch, even if its fd number was closed and reused
// by a new add() in between -- is not called: the slot no longer matches.
//
// Level- vs edge-triggered: by default an fd that stays readable is reported on
// every iteration (level-triggered). With LoopOptions::edge_triggered every
// registration gets EPOLLET: an fd is reported once when it becomes ready and
// not again until new data arrives, so handlers must read/write until EAGAIN.
//
// Signals: SignalWatcher blocks signals and reads them from a signalfd, which is
// just one more fd in the loop (no work is ever done in a signal handler).
//
// Errors: setup calls (constructor, add, modify) throw SysError naming the syscall.
// epoll_wait failing with anything but EINTR (the epoll fd itself is broken) is
// logged and ends run()/run_once() with SysError("epoll_wait"): the loop does not
// spin on an error that would repeat forever.
//
// Exceptions from handlers: none leaves dispatch. A handler that throws is caught
// in the loop, logged, and its registration removed (the fd stays open: its owner
// closes it); the rest of the batch is still delivered and the loop goes on.
// Handlers should still report their own errors as values and close their own
// connection; the catch is the last line of defence (handler_errors() counts it).
// Timer callbacks and the before_sleep hook are not guarded: what they throw ends
// run() (it is the caller's bug, and the loop's state stays consistent).
//
// Who may call: the thread that created the loop, and only it (NOT thread-safe).
// Every method, stop() included, is called on that thread, normally from a
// handler, timer or hook. Handlers and timers must not block. Handlers are owned
// elsewhere and must stay alive while registered.
//
// Callbacks are std::function. libstdc++ keeps a callable of up to two pointers
// that is trivially copyable ([this], [this, lane], [&a, &b]) inside the object,
// so arming a timer or setting the hook with such a capture never allocates
// (stage4_alloc_test checks it); a larger capture works but allocates.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "serverlab/fd.hpp"
#include "timer_heap.hpp"

namespace serverlab {

inline constexpr std::uint32_t kReadable = EPOLLIN;
inline constexpr std::uint32_t kWritable = EPOLLOUT;
inline constexpr std::uint32_t kPeerClosed = EPOLLRDHUP;

// Something that reacts to readiness on one fd. The loop does not own it.
// Who may call on_event: the EventLoop it is registered with, on the loop thread.
class EventHandler {
 public:
  // `events` is what epoll reported for the fd, limited to the interest mask plus
  // EPOLLERR and EPOLLHUP (which epoll always reports). Runs on the loop thread.
  // Should not throw; if it does, the loop logs it and removes the registration.
  virtual void on_event(std::uint32_t events) = 0;

 protected:
  ~EventHandler() = default;
};

struct LoopOptions {
  bool edge_triggered = false;  // add EPOLLET to every registration
  int initial_events = 64;      // epoll_wait batch size; doubles when a batch fills it
};

class EventLoop {
 public:
  using Hook = std::function<void()>;

  explicit EventLoop(LoopOptions options = {});  // throws SysError("epoll_create1")
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches `fd` (which should be non-blocking) for `events` (kReadable |
  // kWritable | kPeerClosed). The fd must not be registered already.
  void add(int fd, std::uint32_t events, EventHandler& handler);
  // Changes the interest mask of a registered fd.
  void modify(int fd, std::uint32_t events);
  // Stops watching `fd`; a no-op for an fd that is not registered. Call it before
  // closing the fd. Safe from any handler, including the fd's own.
  void remove(int fd) noexcept;
  bool watching(int fd) const;
  std::uint32_t interest(int fd) const;  // 0 when not watched
  std::size_t watched_count() const { return watched_; }

  // Runs `callback` once, `ms` milliseconds after the loop's cached time (the
  // clock read at the start of this iteration's timers or dispatch phase).
  TimerId run_after(std::uint64_t ms, TimerCallback callback);
  // Cancels a pending timer (it never runs); false if it already ran or was cancelled.
  bool cancel(TimerId id) { return timers_.cancel(id); }
  bool timer_pending(TimerId id) const { return timers_.pending(id); }
  std::size_t timer_count() const { return timers_.size(); }

  // Called once per iteration, after the timers and before epoll_wait.
  void set_before_sleep(Hook hook) { before_sleep_ = std::move(hook); }

  // Runs iterations until stop(); then clears the stop request and returns (so
  // run() can be called again). If stop() was called before run(), run() returns
  // at once. Throws SysError("epoll_wait") if epoll_wait fails (not EINTR), and
  // whatever a timer callback or the before_sleep hook throws.
  void run();
  // Runs one iteration, waiting at most `max_wait_ms` in epoll_wait (-1: as long
  // as the timers allow). Returns the number of handlers called. For tests and
  // for embedding the loop in another one. Throws as run() does.
  std::size_t run_once(int max_wait_ms = -1);
  // Asks run() to return after the current iteration; the rest of the current
  // dispatch batch is still delivered. Call from a handler, timer or hook.
  void stop() { stop_requested_ = true; }
  bool stopping() const { return stop_requested_; }

  // The time, read once per phase (after epoll_wait returns and before the
  // timers run) and cached: handlers, timers and sessions that need "now" for a
  // deadline, a log line or a Date header use it instead of reading the clock
  // again (about five reads per HTTP/2 request before). It may be stale by the
  // time the current batch of handlers has taken (normally well under a
  // millisecond); timeouts are seconds. now() is steady_clock (CLOCK_MONOTONIC),
  // now_ms() the same reading in whole milliseconds (the timers' unit). now()
  // returns a reference to the loop's own copy, so a session can keep it
  // (Http2Session::use_clock) and always see the current value.
  const std::chrono::steady_clock::time_point& now() const { return now_; }
  std::uint64_t now_ms() const { return now_ms_; }
  void update_time();

  bool edge_triggered() const { return options_.edge_triggered; }
  std::uint64_t iterations() const { return iterations_; }
  // Handlers that threw (each one was logged and its registration removed).
  std::uint64_t handler_errors() const { return handler_errors_; }
  int epoll_fd() const { return epoll_.get(); }

 private:
  struct Registration {
    EventHandler* handler = nullptr;  // null: not watched
    std::uint32_t events = 0;         // interest, without EPOLLET
    std::uint32_t generation = 0;     // bumped by every add(); 0 is never current
  };

  void control(int op, int fd, std::uint32_t events, std::uint32_t generation);
  int poll_timeout(int max_wait_ms) const;
  std::size_t dispatch(int ready);
  // Calls one handler; catches what it throws (see "Exceptions" above). Takes
  // copies, never a reference into table_, which the handler may grow.
  void deliver(EventHandler* handler, int fd, std::uint32_t generation,
               std::uint32_t events) noexcept;
  void drop_thrower(int fd, std::uint32_t generation, const char* what) noexcept;

  LoopOptions options_;
  Fd epoll_;
  std::vector<Registration> table_;  // indexed by fd
  std::size_t watched_ = 0;
  std::vector<epoll_event> ready_;
  TimerHeap timers_;
  Hook before_sleep_;
  std::chrono::steady_clock::time_point now_{};
  std::uint64_t now_ms_ = 0;
  std::uint64_t iterations_ = 0;
  std::uint64_t handler_errors_ = 0;
  bool stop_requested_ = false;
};

// Delivers signals to the loop through a signalfd.
//
//   SignalWatcher signals(loop, {SIGINT, SIGTERM}, [&loop](int) { loop.stop(); });
//
// The constructor blocks the signals in the calling thread (block_signals), so
// make it in main() before any thread starts. Each delivered signal number is
// passed to the callback on the loop thread.
//
// Who may call: main() (or a worker's main), on the loop's thread, before any
// other thread exists; destroy it before the loop.
class SignalWatcher final : public EventHandler {
 public:
  using Callback = std::function<void(int)>;

  SignalWatcher(EventLoop& loop, std::initializer_list<int> signals, Callback on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  void on_event(std::uint32_t events) override;
  int fd() const { return fd_.get(); }

 private:
  EventLoop& loop_;
  Fd fd_;
  Callback on_signal_;
};

}  // namespace serverlab
