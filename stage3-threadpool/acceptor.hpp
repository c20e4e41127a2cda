// acceptor.hpp: Acceptor, stage 3's main thread. It accepts connections, keeps each
// one in a poll(2) set until its request head has arrived, and only then queues it
// for a worker. Workers give back keep-alive connections that go idle (parked, see
// serve.hpp), and those wait here for their next request the same way.
//
//   poll(stop fd, returns eventfd, listener, every waiting connection):
//     listener readable    -> accept4 -> waiting set (deadline: --header-timeout)
//     connection readable  -> read what came -> head complete? -> pool.submit(Ready)
//     returns eventfd      -> parked connections from workers -> waiting set
//                             (deadline: their keep-alive timeout)
//     a deadline passed    -> partial head: 408 + close; nothing sent: quiet close
//     connections queued   -> Fairness::rebalance (every kTickMs)
//
// Why (slowloris): a client that sends its head one byte every few seconds costs a
// blocking worker its whole thread until the header timeout. A few hundred such
// clients take every worker and a normal client waits for the whole attack. Here a
// slow head costs only a pollfd and the bytes so far; a worker gets a connection
// only when it has a whole request to answer (Apache's event MPM does the same).
// The price: one more hand-off (a wake-up of this thread and a queue push) per new
// connection and per keep-alive request that arrives after its connection parked.
//
// --max-conns-per-ip: a new connection takes its address's place (a Slot) at
// accept; over the limit it gets 429 + close at once (middleware_state.hpp). The
// Slot travels with the connection (waiting set, queue, worker, parked, back)
// and frees the place wherever the connection closes.
//
// Limits: poll(2) scans the whole set on every wake-up, O(waiting connections);
// fine for hundreds, and the reason stage 4 moves to epoll. Out of descriptors,
// new clients are accepted and closed at once (SpareFd). A head longer than
// --max-header-bytes goes to a worker as it is, which answers 431.
//
// Who may call: run() and the constructor, the main thread only; give_back() and
// waiting() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fairness.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/middleware_state.hpp"
#include "serverlab/http/serve.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/http/session.hpp"
#include "serverlab/reload.hpp"
#include "serverlab/socket.hpp"
#include "thread_pool.hpp"

namespace serverlab {

// A connection with a complete request head, ready for a worker.
struct Ready {
  Fd fd;
  http::ConnectionLimiter::Slot slot;  // its place under --max-conns-per-ip, to its end
  std::string peer;
  std::string head;                               // bytes read so far: parse these first
  std::optional<http::HttpSession::Carry> carry;  // set: a parked connection coming back
};

class Acceptor {
 public:
  // `reject_when_full`: --overload reject (503 when the queue is full) rather than
  // block. Throws SysError if the eventfd or the spare descriptor cannot be had.
  // `services` holds the current HttpService (swapped on SIGHUP): each use takes
  // the one current at that moment, so a reload reaches waiting connections too.
  Acceptor(Fd listener, int stop_fd, const Snapshot<http::HttpService>& services,
           bool reject_when_full);

  // Announces the listening address (the first stdout line), then serves until
  // stop_fd is readable, then closes the listener and every waiting
  // connection (without serving them). Main thread only.
  void run(WorkerPool<Ready>& pool, Fairness& fairness);
  // A worker hands back a connection parked between requests. After run() has
  // returned the connection is closed instead. Any thread.
  // `slot` is the connection's place under --max-conns-per-ip (Ready::slot).
  void give_back(http::ParkedConnection parked, http::ConnectionLimiter::Slot slot);
  // HTTPS: the head arrives encrypted, so a new connection goes to a worker as
  // soon as its first bytes (the ClientHello) arrive; the worker does the
  // handshake. Call before run().
  void set_tls(bool on) { tls_ = on; }
  // Connections in the waiting set now (a gauge). Any thread.
  std::size_t waiting() const { return waiting_count_.load(std::memory_order_relaxed); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Waiting {
    Fd fd;
    http::ConnectionLimiter::Slot slot;
    std::string peer;
    std::string head;
    std::optional<http::HttpSession::Carry> carry;
    Clock::time_point deadline;
  };

  int poll_timeout(const WorkerPool<Ready>& pool) const;
  void accept_clients();
  void take_returned();
  void on_readable(std::size_t i, WorkerPool<Ready>& pool);
  void hand_off(std::size_t i, WorkerPool<Ready>& pool);
  void expire_deadlines();
  void drop(std::size_t i, int status);  // status 0: close quietly
  void remove(std::size_t i);

  Fd listener_;
  int stop_fd_;
  std::shared_ptr<const http::HttpService> service() const { return services_.get(); }

  const Snapshot<http::HttpService>& services_;
  bool reject_when_full_;
  bool tls_ = false;  // see set_tls()
  Fd returns_;  // eventfd: a worker gave a connection back
  SpareFd spare_;
  Clock::time_point accept_resume_{};  // accepting paused until then (out of resources)
  std::vector<Waiting> waiting_;       // main thread only
  std::atomic<std::size_t> waiting_count_{0};

  std::mutex returned_mutex_;
  struct Returned {
    http::ParkedConnection parked;
    http::ConnectionLimiter::Slot slot;
  };
  std::vector<Returned> returned_;  // guarded by returned_mutex_
  bool closed_ = false;                           // guarded by returned_mutex_: run() is over
};

// Answers `status` on a connection without a worker and without blocking (a
// best-effort send), then shuts it down with a one-pass lingering close. For 503
// (--overload reject, with Retry-After) and 408 (a head that never completed).
void answer_and_close(Fd client, int status, const http::HttpService& service);

}  // namespace serverlab
