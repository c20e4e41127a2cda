// dispatcher.hpp: the master's passfd half (--accept passfd): accept on the listening socket,
// pick a worker for each connection, and pass it down that worker's channel.
//
// Why a class of its own: the master has two jobs that share nothing but the scoreboard.
// Keeping workers alive (fork, reap, respawn, signals) is master.cpp; moving connections
// from the listening socket into workers is this file. The master tells the dispatcher
// which slots hold a worker it may send to (add_worker, retire_worker, forget_worker).
//
//   listener readable
//     -> accept4, up to kAcceptBurst per wake-up
//     -> pick: Scoreboard::least_loaded (active + in flight, under --worker-connections)
//     -> append to that worker's outbox (at most kMaxFdsPerMessage connections)
//   end of the wake-up (or a full outbox)
//     -> send_fds: one sendmsg per worker carries its whole outbox (SCM_RIGHTS with several
//        descriptors, the peers' addresses in the payload), then close our copies
//
// Batching is what keeps passfd close to reuseport under connection churn: N connections
// accepted in one wake-up cost one sendmsg per worker and one wake-up of each worker, not N.
//
// Back-pressure: a channel holds what fits in its send buffer. When a send would block, that
// worker is "blocked": it keeps its outbox, is not picked, and its channel is watched for
// EPOLLOUT so the outbox goes the moment the worker has taken something. When nobody can take
// a connection (every worker full or blocked), the dispatcher holds that one connection and
// takes the listener out of the interest set; the kernel's backlog holds new clients until
// the master's tick() (or a channel turning writable) finds room.
//
// Errors never leave the class: a failed epoll_ctl is logged and the tick retries; a worker
// whose channel is broken (it died) loses the connections in its outbox, logged; everything
// else is the worker's or the client's business.
//
// Who may call: the Master, on its own loop's thread. Single-threaded; not thread-safe.
// Slots are the scoreboard's indices; every slot argument must be < board.size().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "fd_passing.hpp"
#include "scoreboard.hpp"
#include "serverlab/fd.hpp"

namespace serverlab {

class Dispatcher final : public EventHandler {
 public:
  // Most connections accepted in one wake-up before the loop gets a turn (signals, timers).
  static constexpr int kAcceptBurst = 64;

  Dispatcher(EventLoop& loop, const Scoreboard& board, int worker_connections);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts accepting on `listener` (non-blocking). Setup: throws SysError (epoll_ctl).
  void start(Fd listener);
  // Stops accepting for good: sends what is queued if it can, closes the rest and the
  // listening socket (new clients are refused from then on). Never throws.
  void stop() noexcept;

  // The worker in `slot` may be sent connections over `channel` (non-blocking; the master
  // keeps owning it).
  void add_worker(std::size_t slot, int channel);
  // Never pick this worker again (it is about to drain): its outbox is sent first, so what
  // was picked for it is in its channel before it is told to drain.
  void retire_worker(std::size_t slot);
  // The worker is gone (reaped) and its channel is about to close: forget it.
  void forget_worker(std::size_t slot);

  // Called by the master's tick: retries what is held or blocked, resumes accepting when a
  // worker has room.
  void tick();
  // True while something waits for room (a held connection, a blocked outbox, a paused
  // listener): the master then ticks every 10 ms instead of 100.
  bool waiting() const;

  // The listening socket is readable.
  void on_event(std::uint32_t events) override;

 private:
  // Connections picked for one worker and not sent yet.
  struct Outbox {
    std::array<Fd, kMaxFdsPerMessage> fds;
    std::size_t count = 0;
    std::string peers;  // their addresses, '\n'-separated, in the order of fds
  };
  // The EventHandler of a watched (full) channel.
  struct ChannelRoom final : EventHandler {
    ChannelRoom(Dispatcher& d, std::size_t s) : dispatcher(&d), slot(s) {}
    void on_event(std::uint32_t /*events*/) override { dispatcher->on_channel_room(slot); }
    Dispatcher* dispatcher;
    std::size_t slot;
  };
  struct Route {
    Route(Dispatcher& d, std::size_t slot) : room(d, slot) {
      outbox.peers.reserve(kMaxFdsPerMessage * 48);  // IPv6 text is at most 45 bytes
    }
    int channel = -1;      // -1: no worker we may send to
    bool blocked = false;  // its last send would have blocked; the outbox waits
    bool watched = false;  // its channel is in the loop (waiting for EPOLLOUT)
    bool dirty = false;    // listed in dirty_
    Outbox outbox;
    ChannelRoom room;
  };

  void accept_burst();
  // Picks a worker for `connection` and puts it in its outbox. False when nobody has room
  // (the connection is left with the caller).
  bool route(Fd& connection, const std::string& peer);
  int pick();  // slot, or -1
  void flush(std::size_t slot);
  void flush_all();
  void drop_outbox(std::size_t slot, const char* why);
  void block(std::size_t slot);
  void on_channel_room(std::size_t slot);
  void watch(std::size_t slot);
  void unwatch(std::size_t slot) noexcept;
  void update_skip(std::size_t slot);
  bool retry_held();
  void pause_accepting();
  void resume_accepting();

  EventLoop& loop_;
  const Scoreboard& board_;
  std::uint64_t limit_;
  Fd listener_;
  bool accepting_ = false;
  bool stopped_ = false;
  std::vector<Route> routes_;        // one per slot
  std::vector<std::uint32_t> sent_;  // per slot: connections picked for it (wraps)
  std::vector<char> skip_;           // per slot: 1 = never pick (no worker, retired, blocked)
  std::vector<std::size_t> dirty_;   // slots whose outbox may hold connections (each once)
  Fd held_;                          // nobody had room for it
  std::string held_peer_;
  std::size_t next_pick_ = 0;
};

}  // namespace serverlab
