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
//   scoreboard: one MAP_SHARED region, 2 x max(--workers, --max-workers) slots (room for
//   an old generation draining next to its replacements)
//
// A "lane" is a worker position 0..N-1: lane i is pinned to CPU i mod ncpu, owns SO_REUSEPORT
// socket i, and always has one active worker; during a recycle its old worker drains in
// another slot while the new one serves.
//
// passfd: the Dispatcher (dispatcher.hpp) accepts, picks the least-loaded worker and sends
// each wake-up's connections in batches; the master only tells it which workers exist.
//
// Signals (read from a signalfd, handled on the loop; nothing runs in a handler):
//   SIGCHLD          reap with waitpid(-1, WNOHANG) until none is left; an active worker
//                    that died is respawned (after a backoff when it keeps dying young), a
//                    worker that exits with kWorkerExitFatalConfig is not, and one that exits
//                    with kLabStubExit (it reached an unwritten lab region) stops the server
//                    with exit status 1: its last line on stderr says which region
//   SIGHUP           reload: the reloader (set_reloader) re-reads the configuration and
//                    validates it; valid, a new generation starts with it and the old one
//                    drains and exits; invalid, one log line says why and nothing changes
//                    (without a reloader: a new generation with the same configuration)
//   SIGUSR1          reopen logs: a new generation with the running configuration (each
//                    worker opens its access log anew); the old one drains
//   SIGTERM          fast shutdown: SIGTERM to every worker; SIGKILL after --shutdown-timeout
//                    (a second SIGTERM: SIGKILL at once)
//   SIGQUIT, SIGINT  graceful shutdown: SIGQUIT to every worker (they drain); SIGKILL after
//                    --shutdown-timeout plus the drain settle time
// --max-requests-per-worker recycles one worker the same way as SIGHUP does every worker.
// With --max-workers above --workers the pool grows and shrinks with the load (see
// MasterOptions); lanes beyond the running ones are parked (no worker, not respawned).
// The master records the active worker count once a second on the scoreboard, so
// /server-status shows it over time.
//
// Who may call: main(), once, in a single-threaded process. The constructor throws SysError
// (sockets, mmap); run() never throws for per-connection or per-worker trouble: nothing that
// runs inside the loop's handlers lets an exception out.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dispatcher.hpp"
#include "event_loop.hpp"
#include "scoreboard.hpp"
#include "serverlab/fd.hpp"
#include "worker.hpp"

namespace serverlab {

// What the master does about a worker that ended with this waitpid status.
enum class WorkerExitVerdict {
  Respawn,      // crashed, killed, or exited: start a new one (with backoff when it dies young)
  FatalConfig,  // kWorkerExitFatalConfig: its lane is never respawned
  LabStub,      // kLabStubExit: an unwritten lab region; respawning cannot help: stop the server
};
WorkerExitVerdict judge_worker_exit(int wait_status);

struct MasterOptions {
  WorkerOptions worker;
  int workers = 1;  // --workers: lanes started at once, and the pool's floor
  // Dynamic scaling (Apache prefork's model), on when max_workers > workers: once a second
  // the master counts the spare (idle or starting) workers. Fewer than min_spare: it starts
  // 1, then 2, 4, ... up to 32 a second while still short, up to max_workers. More than
  // max_spare: it retires one idle worker a second (gracefully: it drains) down to workers.
  int max_workers = 0;             // --max-workers, 0: the same as workers (no scaling)
  int min_spare = 1;               // --min-spare
  int max_spare = 2;               // --max-spare
  std::uint64_t max_requests = 0;  // --max-requests-per-worker, 0: never recycle
  bool cpu_affinity = false;       // --cpu-affinity auto
};

// The master's SIGHUP hook: given the running options, returns the options to run
// from now on (already validated), or nullopt to keep the running ones (having
// logged why). Called on the master's loop; must not throw.
using Reloader = std::function<std::optional<MasterOptions>(const MasterOptions& running)>;

class Master final {
 public:
  // Binds the listening socket(s) and maps the scoreboard. Throws SysError.
  explicit Master(MasterOptions options);
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Prints "listening on ADDR:PORT", forks the workers and supervises them until a stop
  // signal and the exit of the last child. Returns the process exit status: 0 after a
  // signalled stop, 1 when no worker could be kept running or a worker reached a lab stub.
  int run();

  // What SIGHUP calls (see Reloader). Set before run().
  void set_reloader(Reloader reloader) { reloader_ = std::move(reloader); }

 private:
  enum class Phase { Empty, Active, Draining };
  enum class Stop { None, Graceful, Fast };

  struct Worker {
    Phase phase = Phase::Empty;
    pid_t pid = 0;
    std::size_t lane = 0;
    Fd channel;  // the master's end
    std::int64_t started_ms = 0;
    std::uint64_t config_version = 0;  // the configuration it was started with
  };
  struct Lane {
    int current = -1;      // slot of its active worker, -1 while waiting to respawn
    int quick_deaths = 0;  // consecutive deaths soon after spawn (for the backoff)
    bool fatal = false;    // its worker refused the configuration: never respawn
    TimerId respawn;
    bool parked = false;  // scaled down (or not started yet): no worker, none respawned
    Fd reuseport;         // --accept reuseport: this lane's socket
    int cpu = -1;
  };

  bool spawn(std::size_t lane);
  void schedule_respawn(std::size_t lane);
  void recycle(std::size_t lane);  // replace a lane's worker; the old one drains
  void reap_children();
  void on_worker_exit(std::size_t slot, pid_t pid, int status);
  void on_signal(int signo);
  void begin_stop(Stop how);
  void signal_workers(int signo);
  void tick();
  void check_recycling();
  void reload(int signo);        // SIGHUP, SIGUSR1
  void recycle_stale_workers();  // lanes still on an older configuration
  void maintain_pool();  // once a second: record the worker count; scale when enabled
  bool scaling() const { return options_.max_workers > options_.workers; }
  void grow(std::size_t count);
  void shrink_by_one();
  bool all_children_gone() const;
  int listen_fd_for(std::size_t lane) const;

  MasterOptions options_;
  EventLoop loop_;
  Fd listener_;  // passfd: handed to the dispatcher at run(); shared: inherited by the workers
  Scoreboard board_;
  std::vector<Worker> workers_;  // indexed by scoreboard slot
  std::vector<Lane> lanes_;
  std::optional<Dispatcher> dispatcher_;  // passfd only
  Stop stop_ = Stop::None;
  TimerId tick_timer_;
  TimerId kill_timer_;
  TimerId pool_timer_;
  std::size_t spawn_rate_ = 1;  // workers to start in the next second while short of spares
  int exit_code_ = 0;
  Reloader reloader_;
  std::uint64_t config_version_ = 0;      // +1 per applied reload
  std::optional<SignalWatcher> signals_;  // last: removed from loop_ first
};

}  // namespace serverlab
