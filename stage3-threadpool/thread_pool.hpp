// thread_pool.hpp: WorkerPool<T>, N threads that pop items from a BoundedQueue<T>
// and hand each to a handler (stage 3: the items are accepted connections).
//
// Why: the classic prethreaded server (UNP ch. 30 serv07/08, CS:APP's echoservert_pre):
// threads are made once at start-up, not per connection, and the bounded queue
// between the acceptor and the workers is both the hand-off and the back-pressure.
//
//   main thread                 queue (capacity Q)           workers 0..N-1
//   accept() --> submit(fd) --> [ fd | fd | . | . ] --> pop() --> handler(fd, id)
//                                                          busy_ counts workers inside handler
//
// std::thread, not raw pthreads: it is pthread_create underneath (native_handle()
// still reaches pthread_setname_np), but a failed start throws std::system_error
// instead of returning an errno we could forget to check, and a thread that is
// never joined terminates the program loudly instead of leaking silently.
//
// Shutdown: stop() closes the queue (no new items), lets the workers finish the
// items already queued (a handler sees stopping() == true and may make that
// quick, e.g. close a queued connection instead of serving it), and joins.
// stop(timeout) gives up waiting after `timeout` and returns false; the caller
// should then end the process (the threads are still running).
//
// A handler that throws has its exception logged; that worker carries on.
//
// Who may call: any thread for submit/try_submit/busy/queued/stopping. stop() must
// be called from one thread (normally main), never from inside a handler. The
// destructor calls stop() without a timeout. Signals: block them in main before
// constructing the pool (block_signals), so workers inherit the mask.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bounded_queue.hpp"

namespace serverlab {

namespace detail {
// Names the calling thread "<prefix><id>" (visible in top -H, gdb, /proc).
void name_this_thread(const std::string& prefix, std::size_t id) noexcept;
// Logs a handler's exception at error level; never throws.
void log_handler_failure(std::size_t worker, std::exception_ptr failure) noexcept;
}  // namespace detail

template <typename T>
class WorkerPool {
 public:
  // handler(item, worker_id) runs on a worker thread; worker_id is 0..threads-1.
  using Handler = std::function<void(T item, std::size_t worker)>;

  // Starts `threads` workers (>= 1) over a queue of `queue_capacity` (>= 1).
  // Throws std::invalid_argument for zeros, std::system_error if a thread cannot
  // start (the ones already started are stopped and joined first).
  WorkerPool(std::size_t threads, std::size_t queue_capacity, Handler handler,
             std::string thread_name = "worker-")
      : queue_(queue_capacity), handler_(std::move(handler)) {
    if (threads == 0) throw std::invalid_argument("WorkerPool needs at least one thread");
    if (!handler_) throw std::invalid_argument("WorkerPool needs a handler");
    threads_.reserve(threads);
    try {
      for (std::size_t id = 0; id < threads; ++id) {
        threads_.emplace_back([this, id, thread_name] { run(id, thread_name); });
      }
    } catch (...) {
      stop();
      throw;
    }
  }
  ~WorkerPool() { stop(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues an item, blocking while the queue is full (--overload block).
  // Returns false once the pool is stopping (the item is dropped).
  bool submit(T item) { return queue_.push(std::move(item)); }
  // Queues an item only if there is room now (--overload reject). On false the
  // item is left with the caller (e.g. to answer 503 on that connection).
  bool try_submit(T& item) { return queue_.try_push(item); }

  std::size_t threads() const { return threads_.size(); }
  // Workers inside the handler right now.
  std::size_t busy() const { return busy_.load(std::memory_order_relaxed); }
  // Items waiting for a worker.
  std::size_t queued() const { return queue_.size(); }
  std::size_t queue_capacity() const { return queue_.capacity(); }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Closes the queue, waits for the workers to drain it and exit, joins them.
  // Returns false if they had not all exited within `timeout` (none is joined
  // then; calling stop() again waits again). Idempotent once it returned true.
  template <typename Rep, typename Period>
  bool stop(std::chrono::duration<Rep, Period> timeout) {
    begin_stop();
    {
      std::unique_lock lock(exit_mutex_);
      if (!exit_cv_.wait_for(lock, timeout, [&] { return exited_ == threads_.size(); })) {
        return false;
      }
    }
    join_all();
    return true;
  }
  void stop() {
    begin_stop();
    join_all();
  }

 private:
  void begin_stop() {
    stopping_.store(true, std::memory_order_release);
    queue_.close();
  }

  void join_all() {
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void run(std::size_t id, const std::string& thread_name) {
    detail::name_this_thread(thread_name, id);
    while (std::optional<T> item = queue_.pop()) {
      busy_.fetch_add(1, std::memory_order_relaxed);
      try {
        handler_(std::move(*item), id);
      } catch (...) {
        detail::log_handler_failure(id, std::current_exception());
      }
      busy_.fetch_sub(1, std::memory_order_relaxed);
    }
    std::lock_guard lock(exit_mutex_);
    ++exited_;
    exit_cv_.notify_all();  // under the lock: stop() may destroy us right after waking
  }

  BoundedQueue<T> queue_;
  Handler handler_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> busy_{0};
  std::atomic<bool> stopping_{false};
  std::mutex exit_mutex_;
  std::condition_variable exit_cv_;
  std::size_t exited_ = 0;  // guarded by exit_mutex_
};

}  // namespace serverlab
