#include "master.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "fd_passing.hpp"
#include "serverlab/lab_stub.hpp"
#include "serverlab/log.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {

namespace {

constexpr std::uint64_t kTickMs = 100;         // recycling checks, retrying a paused accept
constexpr std::uint64_t kPausedTickMs = 10;    // while no worker has room
constexpr std::int64_t kQuickDeathMs = 2000;   // a worker that dies younger counts for backoff
constexpr std::uint64_t kMaxBackoffMs = 5000;  // respawn delay cap
constexpr double kKillMarginSeconds = 3.0;     // lingering close and exit, after the grace time
constexpr std::uint64_t kPoolMs = 1000;        // pool maintenance (Apache: once a second)
constexpr std::size_t kMaxSpawnRate = 32;      // Apache's MAX_SPAWN_RATE

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
  return "stopped";
}

// The CPUs this process may run on, in order (respects taskset and cgroups).
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(static_cast<std::size_t>(cpu), &set)) cpus.push_back(cpu);
    }
  }
  return cpus;
}

}  // namespace

WorkerExitVerdict judge_worker_exit(int wait_status) {
  if (WIFEXITED(wait_status)) {
    if (WEXITSTATUS(wait_status) == kWorkerExitFatalConfig) return WorkerExitVerdict::FatalConfig;
    if (WEXITSTATUS(wait_status) == kLabStubExit) return WorkerExitVerdict::LabStub;
  }
  return WorkerExitVerdict::Respawn;
}

Master::Master(MasterOptions options)
    : options_(std::move(options)),
      board_(Scoreboard::create(
          2 * static_cast<std::size_t>(std::max({options_.workers, options_.max_workers, 1})))) {
  const std::size_t lanes =
      static_cast<std::size_t>(std::max({options_.workers, options_.max_workers, 1}));
  lanes_.resize(lanes);
  workers_.resize(board_.size());
  if (options_.cpu_affinity) {
    const std::vector<int> cpus = allowed_cpus();
    for (std::size_t i = 0; i < lanes && !cpus.empty(); ++i) lanes_[i].cpu = cpus[i % cpus.size()];
  }

  const ServerOptions& server = options_.worker.config.server;
  if (options_.worker.accept == AcceptMode::ReusePort) {
    // Socket 0 gets the port (maybe chosen by the kernel); the others join it.
    const ListenOptions reuse{.backlog = 511, .reuse_port = true, .nonblocking = true};
    lanes_[0].reuseport = listen_tcp(server.bind, server.port, reuse);
    const std::uint16_t port = local_address(lanes_[0].reuseport.get()).port();
    for (std::size_t i = 1; i < lanes; ++i)
      lanes_[i].reuseport = listen_tcp(server.bind, port, reuse);
  } else {
    listener_ = listen_tcp(server.bind, server.port,
                           ListenOptions{.backlog = 511, .reuse_port = false, .nonblocking = true});
  }
  if (options_.worker.accept == AcceptMode::PassFd)
    dispatcher_.emplace(loop_, board_, options_.worker.worker_connections);
  // Before the first fork: every child inherits the mask, so these signals reach a worker
  // only through the signalfd it makes for itself.
  signals_.emplace(loop_,
                   std::initializer_list<int>{SIGCHLD, SIGHUP, SIGUSR1, SIGTERM, SIGINT, SIGQUIT},
                   [this](int signo) { on_signal(signo); });
}

Master::~Master() {
  dispatcher_.reset();
  loop_.cancel(tick_timer_);
  loop_.cancel(kill_timer_);
  loop_.cancel(pool_timer_);
  for (Lane& lane : lanes_) loop_.cancel(lane.respawn);
}

int Master::listen_fd_for(std::size_t lane) const {
  switch (options_.worker.accept) {
    case AcceptMode::PassFd:
      return -1;
    case AcceptMode::Shared:
      return listener_.get();
    case AcceptMode::ReusePort:
      return lanes_[lane].reuseport.get();
  }
  return -1;
}

int Master::run() {
  const auto first = static_cast<std::size_t>(std::max(options_.workers, 1));
  for (std::size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (lane >= first) {
      lanes_[lane].parked = true;  // room to grow into (--max-workers)
      continue;
    }
    if (!spawn(lane)) {
      ++lanes_[lane].quick_deaths;
      schedule_respawn(lane);
    }
  }
  // After the first fork, so that whoever reads this line finds every worker on the board.
  announce_listening(listener_ ? listener_.get() : lanes_[0].reuseport.get());
  log::info("http-prefork: {} worker(s) (at most {}), accept {}, {} connections each", first,
            lanes_.size(), accept_mode_name(options_.worker.accept),
            options_.worker.worker_connections);
  if (dispatcher_) dispatcher_->start(std::move(listener_));
  tick_timer_ = loop_.run_after(kTickMs, [this] { tick(); });
  pool_timer_ = loop_.run_after(kPoolMs, [this] { maintain_pool(); });
  loop_.run();
  log::info("http-prefork stopped");
  return exit_code_;
}

// ------------------------------------------------------------------ workers

bool Master::spawn(std::size_t lane) {
  std::size_t slot = workers_.size();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].phase == Phase::Empty) {
      slot = i;
      break;
    }
  }
  if (slot == workers_.size()) {
    log::warn("no free scoreboard slot for lane {} (old workers still draining)", lane);
    return false;
  }
  Fd mine;
  Fd theirs;
  try {
    std::tie(mine, theirs) = make_fd_channel();
    set_nonblocking(mine.get());  // a stuck worker must never block the master
  } catch (const SysError& e) {
    log::error("cannot make a worker channel: {}", e.what());
    return false;
  }

  board_.begin_spawn(slot);
  std::fflush(nullptr);  // or the child would write our buffered output a second time
  const pid_t pid = ::fork();
  if (pid < 0) {
    log::error("fork: {}", std::strerror(errno));
    board_.reap(slot);
    return false;
  }
  if (pid == 0) {
    const WorkerLaunch launch{.slot = slot,
                              .channel_fd = theirs.get(),
                              .listen_fd = listen_fd_for(lane),
                              .cpu = lanes_[lane].cpu};
    run_worker(options_.worker, launch, board_);  // never returns
  }
  board_.set_pid(slot, pid);
  Worker& w = workers_[slot];
  w.phase = Phase::Active;
  w.pid = pid;
  w.lane = lane;
  w.channel = std::move(mine);
  w.started_ms = scoreboard_monotonic_ms();
  w.config_version = config_version_;
  lanes_[lane].current = static_cast<int>(slot);
  if (dispatcher_) dispatcher_->add_worker(slot, w.channel.get());
  log::debug("worker {} started (slot {}, lane {}, generation {})", pid, slot, lane,
             board_.generation());
  return true;
}

void Master::schedule_respawn(std::size_t lane) {
  Lane& l = lanes_[lane];
  loop_.cancel(l.respawn);
  std::uint64_t delay = 0;
  if (l.quick_deaths > 0) {
    const int shift = std::min(l.quick_deaths - 1, 10);
    delay = std::min<std::uint64_t>(100ull << shift, kMaxBackoffMs);
  }
  l.respawn = loop_.run_after(delay, [this, lane] {
    Lane& again = lanes_[lane];
    again.respawn = {};
    if (stop_ != Stop::None || again.current >= 0 || again.fatal || again.parked) return;
    if (!spawn(lane)) {
      ++again.quick_deaths;
      schedule_respawn(lane);
    }
  });
}

void Master::recycle(std::size_t lane) {
  const int old = lanes_[lane].current;
  if (old < 0) return;       // a respawn is pending; it starts in the current generation anyway
  if (!spawn(lane)) return;  // keep the old worker serving; the tick retries
  // Not picked any more from here on, so everything sent to it is already in its channel
  // when the signal arrives: it takes all of that before it stops.
  Worker& w = workers_[static_cast<std::size_t>(old)];
  if (dispatcher_) dispatcher_->retire_worker(static_cast<std::size_t>(old));
  w.phase = Phase::Draining;  // the worker shows 'C' on the board itself
  ::kill(w.pid, SIGQUIT);
}

void Master::reap_children() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;  // 0: none left to reap now; -1 (ECHILD): no children at all
    auto found = std::find_if(workers_.begin(), workers_.end(), [pid](const Worker& w) {
      return w.phase != Phase::Empty && w.pid == pid;
    });
    if (found == workers_.end()) continue;
    on_worker_exit(static_cast<std::size_t>(found - workers_.begin()), pid, status);
  }
  if (stop_ != Stop::None && all_children_gone()) loop_.stop();
}

void Master::on_worker_exit(std::size_t slot, pid_t pid, int status) {
  Worker& w = workers_[slot];
  const Phase was = w.phase;
  const std::size_t lane = w.lane;
  const std::int64_t lived_ms = scoreboard_monotonic_ms() - w.started_ms;
  if (dispatcher_) dispatcher_->forget_worker(slot);  // before the channel closes
  w = Worker{};                                       // closes our channel end
  board_.reap(slot);

  const WorkerExitVerdict verdict = judge_worker_exit(status);
  if (verdict == WorkerExitVerdict::LabStub) {
    log::error("worker {} reached an unwritten lab region (its line above names it); stopping",
               pid);
    exit_code_ = 1;
    begin_stop(Stop::Fast);
    return;
  }
  Lane& l = lanes_[lane];
  const bool was_current = was == Phase::Active && l.current == static_cast<int>(slot);
  if (!was_current || stop_ != Stop::None) {
    log::debug("worker {} (slot {}) {}", pid, slot, describe_exit(status));
    return;
  }
  l.current = -1;
  if (verdict == WorkerExitVerdict::FatalConfig) {
    log::error("worker {} (lane {}) cannot serve this configuration; not respawning it", pid, lane);
    l.fatal = true;
    if (std::all_of(lanes_.begin(), lanes_.end(),
                    [](const Lane& x) { return x.fatal || x.parked; })) {
      exit_code_ = 1;
      begin_stop(Stop::Fast);
    }
    return;
  }
  l.quick_deaths = lived_ms < kQuickDeathMs ? l.quick_deaths + 1 : 0;
  log::warn("worker {} (lane {}) {}; respawning", pid, lane, describe_exit(status));
  schedule_respawn(lane);
}

bool Master::all_children_gone() const {
  return std::all_of(workers_.begin(), workers_.end(),
                     [](const Worker& w) { return w.phase == Phase::Empty; });
}

void Master::signal_workers(int signo) {
  for (const Worker& w : workers_) {
    if (w.phase != Phase::Empty) ::kill(w.pid, signo);
  }
}

// ------------------------------------------------------------------ signals

void Master::on_signal(int signo) {
  switch (signo) {
    case SIGCHLD:
      reap_children();
      break;
    case SIGHUP:
    case SIGUSR1:
      reload(signo);
      break;
    case SIGTERM:
      begin_stop(Stop::Fast);
      break;
    default:  // SIGINT, SIGQUIT
      begin_stop(Stop::Graceful);
      break;
  }
}

// SIGHUP: validate the configuration again (the reloader), then start a generation with
// it; SIGUSR1: a generation with the running one (its workers reopen their logs). A lane
// whose new worker cannot start now (no free slot while an older generation drains)
// keeps its old worker until the tick succeeds (recycle_stale_workers).
void Master::reload(int signo) {
  if (stop_ != Stop::None) return;
  if (signo == SIGHUP && reloader_) {
    std::optional<MasterOptions> next = reloader_(options_);
    if (!next) return;  // the reloader logged why; the running generation keeps serving
    options_.worker = std::move(next->worker);
    options_.max_requests = next->max_requests;
    options_.min_spare = next->min_spare;
    options_.max_spare = next->max_spare;
  }
  ++config_version_;
  log::info("{}: starting generation {}; the old workers drain",
            signo == SIGHUP ? "SIGHUP: configuration reloaded" : "SIGUSR1: reopening logs",
            board_.next_generation());
  for (std::size_t lane = 0; lane < lanes_.size(); ++lane) recycle(lane);
}

void Master::recycle_stale_workers() {
  const bool slot_free = std::any_of(workers_.begin(), workers_.end(),
                                     [](const Worker& w) { return w.phase == Phase::Empty; });
  if (!slot_free) return;  // an older generation still drains: next tick
  for (std::size_t lane = 0; lane < lanes_.size(); ++lane) {
    const int slot = lanes_[lane].current;
    if (slot >= 0 && workers_[static_cast<std::size_t>(slot)].config_version < config_version_)
      recycle(lane);
  }
}

void Master::begin_stop(Stop how) {
  if (stop_ == Stop::Fast && how == Stop::Fast) {
    // Asked to stop fast a second time (or by SIGTERM after a fatal exit): do not wait.
    signal_workers(SIGKILL);
    return;
  }
  if (stop_ == Stop::Fast || stop_ == how) return;
  stop_ = how;
  log::info("{} shutdown: {} worker(s) to stop", how == Stop::Fast ? "fast" : "graceful",
            std::count_if(workers_.begin(), workers_.end(),
                          [](const Worker& w) { return w.phase != Phase::Empty; }));
  if (dispatcher_) dispatcher_->stop();
  listener_.reset();  // new clients are refused from now on (workers close their copies)
  loop_.cancel(pool_timer_);
  for (Lane& lane : lanes_) {
    loop_.cancel(lane.respawn);
    lane.reuseport.reset();
  }
  signal_workers(how == Stop::Fast ? SIGTERM : SIGQUIT);

  double grace = options_.worker.config.server.shutdown_timeout + kKillMarginSeconds;
  if (how == Stop::Graceful) grace += static_cast<double>(kDrainSettleMs) / 1000.0;
  loop_.cancel(kill_timer_);
  kill_timer_ = loop_.run_after(static_cast<std::uint64_t>(grace * 1000.0), [this] {
    kill_timer_ = {};
    log::warn("workers still running after the shutdown timeout: SIGKILL");
    signal_workers(SIGKILL);
  });
  if (all_children_gone()) loop_.stop();
}

// ------------------------------------------------------------------ the tick

void Master::tick() {
  tick_timer_ = {};
  if (stop_ != Stop::None) return;
  if (dispatcher_) dispatcher_->tick();
  check_recycling();
  recycle_stale_workers();
  const bool waiting = dispatcher_ && dispatcher_->waiting();
  tick_timer_ = loop_.run_after(waiting ? kPausedTickMs : kTickMs, [this] { tick(); });
}

// ------------------------------------------------------------------ the pool

void Master::maintain_pool() {
  pool_timer_ = {};
  if (stop_ != Stop::None) return;
  std::size_t active = 0;
  std::size_t spare = 0;  // idle ('_') or about to be ('S')
  for (const Lane& lane : lanes_) {
    if (lane.current < 0) continue;
    ++active;
    const char state = board_.slot(static_cast<std::size_t>(lane.current)).state.load();
    if (state == worker_state::kWaiting || state == worker_state::kStarting) ++spare;
  }
  if (scaling()) {
    const auto min_spare = static_cast<std::size_t>(options_.min_spare);
    const auto max_spare = static_cast<std::size_t>(options_.max_spare);
    if (spare < min_spare && active < lanes_.size()) {
      grow(spawn_rate_);
      spawn_rate_ = std::min(spawn_rate_ * 2, kMaxSpawnRate);  // still short next second: faster
    } else {
      spawn_rate_ = 1;
      if (spare > max_spare && active > static_cast<std::size_t>(options_.workers)) shrink_by_one();
    }
  }
  // After this second's decision, so the chart shows what the pool has now.
  board_.record_worker_count(static_cast<std::uint32_t>(
      std::count_if(lanes_.begin(), lanes_.end(), [](const Lane& l) { return l.current >= 0; })));
  pool_timer_ = loop_.run_after(kPoolMs, [this] { maintain_pool(); });
}

// Starts up to `count` workers on parked lanes, lowest lane first.
void Master::grow(std::size_t count) {
  for (std::size_t lane = 0; lane < lanes_.size() && count > 0; ++lane) {
    Lane& l = lanes_[lane];
    if (!l.parked || l.fatal) continue;
    l.parked = false;
    l.quick_deaths = 0;
    if (!spawn(lane)) {
      l.parked = true;  // no free slot (old workers draining) or fork failed: next second
      return;
    }
    log::info("pool: started a worker on lane {} (short of spare workers)", lane);
    --count;
  }
}

// Retires the idle worker on the highest lane: it drains (no request is cut off) and its
// lane is parked.
void Master::shrink_by_one() {
  for (std::size_t lane = lanes_.size(); lane-- > static_cast<std::size_t>(options_.workers);) {
    Lane& l = lanes_[lane];
    if (l.current < 0) continue;
    const auto slot = static_cast<std::size_t>(l.current);
    if (board_.slot(slot).state.load() != worker_state::kWaiting) continue;
    Worker& w = workers_[slot];
    if (dispatcher_) dispatcher_->retire_worker(slot);
    w.phase = Phase::Draining;
    l.current = -1;
    l.parked = true;
    ::kill(w.pid, SIGQUIT);
    log::info("pool: retiring worker {} (lane {}): more spare workers than --max-spare", w.pid,
              lane);
    return;
  }
}

void Master::check_recycling() {
  if (options_.max_requests == 0 || stop_ != Stop::None) return;
  for (std::size_t lane = 0; lane < lanes_.size(); ++lane) {
    const int slot = lanes_[lane].current;
    if (slot < 0) continue;
    const std::uint64_t served =
        board_.slot(static_cast<std::size_t>(slot)).requests.load(std::memory_order_relaxed);
    if (served >= options_.max_requests) {
      log::info("worker {} served {} requests: recycling it",
                workers_[static_cast<std::size_t>(slot)].pid, served);
      recycle(lane);
    }
  }
}

}  // namespace serverlab
