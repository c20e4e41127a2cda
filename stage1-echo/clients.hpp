// clients.hpp: Clients, the live connections of echo-server's TCP model: one worker
// thread each, counted so that the accept loop can hold the client limit.
//
//   accept loop --spawn(conn)--> [ worker thread: serve(fd), then finished() ]
//        ^                                                   |
//        +-------- wake_fd() readable: a worker has ended ---+
//
// A worker closes its own connection when it ends (under the lock, so that
// shutdown_all() never touches a descriptor number that has been reused), parks its
// std::thread in done_ and signals wake_fd(); the accept loop joins it later with
// join_finished(). A thread cannot join itself, hence the hand-over.
//
// Who may call: spawn, join_finished and the destructor: the accept loop's thread
// only. live, wait_all and shutdown_all: any thread. Every member is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "serverlab/fd.hpp"

namespace serverlab::echo {

class Clients {
 public:
  using Clock = std::chrono::steady_clock;

  Clients();  // throws SysError if the eventfd cannot be made
  ~Clients();  // joins the workers that have finished (call wait_all first)
  Clients(const Clients&) = delete;
  Clients& operator=(const Clients&) = delete;

  // Readable when a worker has finished (the accept loop waits on it when full).
  int wake_fd() const { return wake_.get(); }

  // Serves conn on a new thread: serve(fd), then the connection is closed.
  // Throws std::system_error if no thread can be made (conn is then closed).
  template <typename Serve>
  void spawn(Fd conn, Serve serve) {
    std::lock_guard lock(mu_);
    const std::uint64_t id = next_id_++;
    const int fd = conn.get();
    std::thread worker([this, id, serve, conn = std::move(conn)]() mutable {
      serve(conn.get());
      finished(id, conn);
    });
    live_.emplace(id, Entry{fd, std::move(worker)});
  }

  // How many workers are serving now.
  std::size_t live() const;

  // Joins workers that have returned; drains the wake eventfd.
  void join_finished();

  // Waits until every worker has returned or the deadline passes. True if all have.
  bool wait_all(Clock::time_point deadline);

  // Cuts every live connection off: blocked reads see EOF, blocked writes EPIPE.
  void shutdown_all();

 private:
  struct Entry {
    int fd;
    std::thread thread;
  };

  // The worker's last step: close the connection, hand the thread over, wake the loop.
  void finished(std::uint64_t id, Fd& conn);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Entry> live_;  // guarded by mu_
  std::vector<std::thread> done_;        // guarded by mu_
  std::uint64_t next_id_ = 0;            // guarded by mu_
  Fd wake_;
};

}  // namespace serverlab::echo
