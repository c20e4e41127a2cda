// master.hpp: the master process of http-prefork (stage 5): it owns the listening socket,
// forks the workers, hands out connections, and keeps the right number of workers alive.
//
// Why a separate process that serves nothing: a worker can crash, leak, or be recycled
// while the server as a whole keeps its port and keeps answering (UNP ch. 30's serv05 for
// the shape, nginx's master loop for the process management, Apache for the scoreboard).
//
//   http-prefork (master)         one EventLoop: listener (passfd), signalfd, a tick timer
//     |-- worker, lane 0          stage 4's loop + its channel end (+ its listening socket
//     |-- worker, lane 1            in shared / reuseport mode)
//     `-- ...
//   scoreboard: one MAP_SHARED region, 2 x --workers slots (room for an old generation
//   draining next to its replacements)
//
// A "lane" is a worker position 0..N-1: lane i is pinned to CPU i mod ncpu, owns SO_REUSEPORT
// socket i, and always has one active worker; during a recycle its old worker drains in
// another slot while the new one serves.
//
// passfd: accept -> pick the active worker with the least load (its active connections on
// the scoreboard + what was sent but not yet received) -> send_fd -> close our copy. When
// every worker is at --worker-connections the listener leaves the interest set until the
// tick finds room; the kernel's backlog holds the clients meanwhile.
//
// Signals (read from a signalfd, handled on the loop; nothing runs in a handler):
//   SIGCHLD          reap with waitpid(-1, WNOHANG) until none is left; an active worker
//                    that died is respawned (after a backoff when it keeps dying young), a
//                    worker that exits with kWorkerExitFatalConfig is not
//   SIGHUP           graceful recycle: a new generation starts, the old one drains and exits
//   SIGTERM          fast shutdown: SIGTERM to every worker; SIGKILL after --shutdown-timeout
//   SIGQUIT, SIGINT  graceful shutdown: SIGQUIT to every worker (they drain); SIGKILL after
//                    --shutdown-timeout plus the drain settle time
// --max-requests-per-worker recycles one worker the same way as SIGHUP does every worker.
//
// Single-threaded; not thread-safe. The constructor throws SysError (sockets, mmap); run()
// never throws for per-connection or per-worker trouble.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "scoreboard.hpp"
#include "serverlab/fd.hpp"
#include "worker.hpp"

namespace serverlab {

struct MasterOptions {
  WorkerOptions worker;
  int workers = 1;                 // --workers (lanes)
  std::uint64_t max_requests = 0;  // --max-requests-per-worker, 0: never recycle
  bool cpu_affinity = false;       // --cpu-affinity auto
};

class Master final : public EventHandler {
 public:
  // Binds the listening socket(s) and maps the scoreboard. Throws SysError.
  explicit Master(MasterOptions options);
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Prints "listening on ADDR:PORT", forks the workers and supervises them until a stop
  // signal and the exit of the last child. Returns the process exit status: 0 after a
  // signalled stop, 1 when no worker could be kept running.
  int run();

  // The listening socket is readable (passfd mode).
  void on_event(std::uint32_t events) override;

 private:
  enum class Phase { Empty, Active, Draining };
  enum class Stop { None, Graceful, Fast };

  struct Worker {
    Phase phase = Phase::Empty;
    pid_t pid = 0;
    std::size_t lane = 0;
    Fd channel;              // the master's end
    std::uint32_t sent = 0;  // connections sent (wraps, like the slot's `received`)
    std::int64_t started_ms = 0;
  };
  struct Lane {
    int current = -1;      // slot of its active worker, -1 while waiting to respawn
    int quick_deaths = 0;  // consecutive deaths soon after spawn (for the backoff)
    bool fatal = false;    // its worker refused the configuration: never respawn
    TimerId respawn;
    Fd reuseport;  // --accept reuseport: this lane's socket
    int cpu = -1;
  };

  bool spawn(std::size_t lane);
  void schedule_respawn(std::size_t lane);
  void recycle(std::size_t lane);  // replace a lane's worker; the old one drains
  void reap_children();
  void on_signal(int signo);
  void begin_stop(Stop how);
  void signal_workers(int signo);
  void tick();
  void check_recycling();
  void accept_connections();
  int pick_worker(const std::vector<char>& skip);  // slot, or -1 when nobody has room
  bool hand_over(Fd& connection, const std::string& peer);
  void pause_accepting();
  void resume_accepting();
  bool all_children_gone() const;
  int listen_fd_for(std::size_t lane) const;
  // passfd, channel full: watch that worker's channel and send the held connection the
  // moment the worker has taken something from it (not at the next tick).
  void watch_channel(int slot);
  void unwatch_channel();
  void on_channel_room();

  // The EventHandler for a watched channel (the Master itself handles the listener).
  struct ChannelRoom final : EventHandler {
    explicit ChannelRoom(Master& m) : master(m) {}
    void on_event(std::uint32_t /*events*/) override { master.on_channel_room(); }
    Master& master;
  };

  MasterOptions options_;
  EventLoop loop_;
  Fd listener_;  // passfd: accepted here; shared: inherited by the workers
  Scoreboard board_;
  std::vector<Worker> workers_;  // indexed by scoreboard slot
  std::vector<Lane> lanes_;
  Fd held_;  // accepted, waiting for a worker with room (passfd)
  std::string held_peer_;
  int full_slot_ = -1;     // set by hand_over: a worker whose channel was full, or -1
  int watched_slot_ = -1;  // whose channel channel_room_ watches, or -1
  ChannelRoom channel_room_{*this};
  bool accepting_ = false;
  std::size_t next_pick_ = 0;
  Stop stop_ = Stop::None;
  TimerId tick_timer_;
  TimerId kill_timer_;
  int exit_code_ = 0;
  std::optional<SignalWatcher> signals_;  // last: removed from loop_ first
};

}  // namespace serverlab
