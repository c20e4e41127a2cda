// bounded_queue.hpp: BoundedQueue<T>, a fixed-capacity FIFO shared by producer and
// consumer threads (CS:APP's sbuf, muduo's BoundedBlockingQueue, in C++20).
//
// Why: stage 3's main thread accepts connections and push()es them; N workers
// pop() them. The bound is the back-pressure: when every worker is busy and the
// queue is full, the acceptor either blocks (--overload block, so the kernel's
// listen backlog absorbs the burst) or sheds load with try_push() (--overload
// reject: 503 without a worker).
//
//        push / try_push                                  pop
//   acceptor ---------> [ T | T | T | . | . ] (capacity) ------> workers
//                       mutex_ guards items_ and closed_
//                       not_full_  : producers wait here while size == capacity
//                       not_empty_ : consumers wait here while size == 0
//
// The std:: primitives and the pthread calls they stand for (lab 08):
//   std::mutex                     pthread_mutex_t
//   std::unique_lock(m)            pthread_mutex_lock(&m) ... pthread_mutex_unlock(&m)
//   cv.wait(lock)                  pthread_cond_wait(&cv, &m): atomically unlock + sleep,
//                                  relock before returning
//   cv.notify_one()                pthread_cond_signal(&cv)
//   cv.notify_all()                pthread_cond_broadcast(&cv)
//
// close() ends the queue: push()/try_push() then refuse (return false), pop()
// keeps handing out what is left and returns nullopt once the queue is drained.
// Every waiter on either side is woken by close().
//
// Who may call: any thread; every member is thread-safe. push() and pop() block; try_push(),
// close(), size() and capacity() never block for long (only on the mutex). Not
// async-signal-safe: never call from a signal handler.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

namespace serverlab {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("BoundedQueue capacity must be > 0");
  }
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Appends `item`, blocking while the queue is full. Returns false if the queue is
  // closed, or is closed while push waits for room. push takes `item` by value, so
  // it owns it: a refused item is simply destroyed when push returns (a refused
  // connection's Fd closes its socket). To keep the item on failure, use try_push.
  bool push(T item) {
    // [lab08:bounded-queue-push:begin]
    // [lab08:bounded-queue-push:stub] (void)item;
    // [lab08:bounded-queue-push:stub] return false;
    std::unique_lock lock(mutex_);
    // A while loop, never an if: a wait can return without a notify (a spurious
    // wakeup), and even after a real notify another producer may take the free
    // slot before this thread gets the mutex back (a stolen wakeup). Only the
    // re-checked condition says whether there is room now.
    while (items_.size() >= capacity_ && !closed_) not_full_.wait(lock);
    if (closed_) return false;
    items_.push_back(std::move(item));
    lock.unlock();  // the woken consumer need not wait for our unlock
    not_empty_.notify_one();
    return true;
    // [lab08:bounded-queue-push:end]
  }

  // Appends `item` if there is room now. Returns false, without blocking, when the
  // queue is full or closed; `item` is then left untouched (still the caller's).
  bool try_push(T& item) {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || items_.size() >= capacity_) return false;
      items_.push_back(std::move(item));
    }
    not_empty_.notify_one();
    return true;
  }
  // For rvalues the caller does not need back (the item is dropped on failure).
  bool try_push(T&& item) { return try_push(item); }

  // Removes the oldest item, blocking while the queue is empty. Returns nullopt
  // only when the queue is closed and drained.
  std::optional<T> pop() {
    // [lab08:bounded-queue-pop:begin]
    // [lab08:bounded-queue-pop:stub] return std::nullopt;
    std::unique_lock lock(mutex_);
    // Same reason for the while loop as in push(): re-check after every wakeup.
    while (items_.empty() && !closed_) not_empty_.wait(lock);
    if (items_.empty()) return std::nullopt;  // closed and drained
    T item = std::move(items_.front());
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return item;
    // [lab08:bounded-queue-pop:end]
  }

  // Like pop() but never blocks: nullopt when nothing is queued right now.
  std::optional<T> try_pop() {
    std::unique_lock lock(mutex_);
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return item;
  }

  // Refuses further pushes and wakes every waiter (broadcast on both sides).
  // Idempotent.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;  // guarded by mutex_
  bool closed_ = false;  // guarded by mutex_
};

}  // namespace serverlab
