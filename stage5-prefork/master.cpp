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

Master::Master(MasterOptions options)
    : options_(std::move(options)),
      board_(Scoreboard::create(2 * static_cast<std::size_t>(std::max(options_.workers, 1)))) {
  const std::size_t lanes = static_cast<std::size_t>(std::max(options_.workers, 1));
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
  // Before the first fork: every child inherits the mask, so these signals reach a worker
  // only through the signalfd it makes for itself.
  signals_.emplace(loop_, std::initializer_list<int>{SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT},
                   [this](int signo) { on_signal(signo); });
}

Master::~Master() {
  if (accepting_) loop_.remove(listener_.get());
  loop_.cancel(tick_timer_);
  loop_.cancel(kill_timer_);
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
  for (std::size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (!spawn(lane)) {
      ++lanes_[lane].quick_deaths;
      schedule_respawn(lane);
    }
  }
  // After the first fork, so that whoever reads this line finds every worker on the board.
  announce_listening(listener_ ? listener_.get() : lanes_[0].reuseport.get());
  log::info("http-prefork: {} worker(s), accept {}, {} connections each", lanes_.size(),
            accept_mode_name(options_.worker.accept), options_.worker.worker_connections);
  if (options_.worker.accept == AcceptMode::PassFd) {
    loop_.add(listener_.get(), kReadable, *this);
    accepting_ = true;
  }
  tick_timer_ = loop_.run_after(kTickMs, [this] { tick(); });
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
  w.sent = 0;
  w.started_ms = scoreboard_monotonic_ms();
  lanes_[lane].current = static_cast<int>(slot);
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
    if (stop_ != Stop::None || again.current >= 0 || again.fatal) return;
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
    const auto slot = static_cast<std::size_t>(found - workers_.begin());
    const Phase was = found->phase;
    const std::size_t lane = found->lane;
    const std::int64_t lived_ms = scoreboard_monotonic_ms() - found->started_ms;
    if (watched_slot_ == static_cast<int>(slot)) unwatch_channel();  // before the fd closes
    *found = Worker{};                                               // closes our channel end
    board_.reap(slot);

    Lane& l = lanes_[lane];
    const bool was_current = was == Phase::Active && l.current == static_cast<int>(slot);
    if (!was_current || stop_ != Stop::None) {
      log::debug("worker {} (slot {}) {}", pid, slot, describe_exit(status));
      continue;
    }
    l.current = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kWorkerExitFatalConfig) {
      log::error("worker {} (lane {}) cannot serve this configuration; not respawning it", pid,
                 lane);
      l.fatal = true;
      if (std::all_of(lanes_.begin(), lanes_.end(), [](const Lane& x) { return x.fatal; })) {
        exit_code_ = 1;
        begin_stop(Stop::Fast);
      }
      continue;
    }
    l.quick_deaths = lived_ms < kQuickDeathMs ? l.quick_deaths + 1 : 0;
    log::warn("worker {} (lane {}) {}; respawning", pid, lane, describe_exit(status));
    schedule_respawn(lane);
  }
  if (stop_ != Stop::None && all_children_gone()) loop_.stop();
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
      if (stop_ != Stop::None) break;
      log::info("SIGHUP: starting generation {}; the old workers drain", board_.next_generation());
      for (std::size_t lane = 0; lane < lanes_.size(); ++lane) recycle(lane);
      break;
    case SIGTERM:
      begin_stop(Stop::Fast);
      break;
    default:  // SIGINT, SIGQUIT
      begin_stop(Stop::Graceful);
      break;
  }
}

void Master::begin_stop(Stop how) {
  if (stop_ == Stop::Fast || stop_ == how) return;
  stop_ = how;
  log::info("{} shutdown: {} worker(s) to stop", how == Stop::Fast ? "fast" : "graceful",
            std::count_if(workers_.begin(), workers_.end(),
                          [](const Worker& w) { return w.phase != Phase::Empty; }));
  if (accepting_) loop_.remove(listener_.get());
  accepting_ = false;
  listener_.reset();  // new clients are refused from now on (workers close their copies)
  held_.reset();
  unwatch_channel();
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
  if (held_) {
    std::string peer = std::move(held_peer_);
    Fd connection = std::move(held_);
    if (!hand_over(connection, peer)) {
      held_ = std::move(connection);
      held_peer_ = std::move(peer);
      if (full_slot_ >= 0) watch_channel(full_slot_);
    }
  }
  if (!accepting_ && !held_ && listener_ && options_.worker.accept == AcceptMode::PassFd) {
    std::vector<char> none(workers_.size(), 0);
    if (pick_worker(none) >= 0) resume_accepting();
  }
  check_recycling();
  const bool waiting = held_ || (options_.worker.accept == AcceptMode::PassFd && !accepting_);
  tick_timer_ = loop_.run_after(waiting ? kPausedTickMs : kTickMs, [this] { tick(); });
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

// ------------------------------------------------------------------ passfd

void Master::on_event(std::uint32_t /*events*/) { accept_connections(); }

void Master::accept_connections() {
  while (accepting_ && !held_) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd =
        ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC);
    if (fd < 0) {
      switch (classify_accept_error(errno)) {
        case AcceptFailure::Retry:
          continue;
        case AcceptFailure::Drained:
          return;
        case AcceptFailure::OutOfFds:  // and ENOBUFS, ENOMEM: back off; the tick tries again soon
        case AcceptFailure::Resources:
          log::warn("accept4: {}", std::strerror(errno));
          pause_accepting();
          return;
      }
    }
    Fd connection(fd);
    std::string peer = SocketAddress{address, length}.host();
    if (!hand_over(connection, peer)) {
      held_ = std::move(connection);  // nobody has room: hold it, stop accepting
      held_peer_ = std::move(peer);
      pause_accepting();
      if (full_slot_ >= 0) watch_channel(full_slot_);
      return;
    }
  }
}

int Master::pick_worker(const std::vector<char>& skip) {
  // The least loaded active worker with room. Its load is what the scoreboard says it holds
  // plus what we sent that it has not taken from its channel yet (the board lags behind a
  // burst). Ties go to the first found from the slot after the last pick: round-robin.
  int best = -1;
  std::uint64_t best_load = 0;
  const std::size_t n = workers_.size();
  const auto limit = static_cast<std::uint64_t>(options_.worker.worker_connections);
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (next_pick_ + k) % n;
    const Worker& w = workers_[i];
    if (w.phase != Phase::Active || skip[i] != 0) continue;
    const ScoreboardSlot& s = board_.slot(i);
    const std::uint32_t received = s.received.load(std::memory_order_acquire);
    const std::uint32_t active = s.active.load(std::memory_order_relaxed);
    const std::uint64_t load = std::uint64_t{active} + std::uint32_t(w.sent - received);
    if (load >= limit) continue;
    if (best < 0 || load < best_load) {
      best = static_cast<int>(i);
      best_load = load;
    }
  }
  if (best >= 0) next_pick_ = static_cast<std::size_t>(best) + 1;
  return best;
}

bool Master::hand_over(Fd& connection, const std::string& peer) {
  std::vector<char> tried(workers_.size(), 0);
  full_slot_ = -1;
  for (std::size_t attempt = 0; attempt < workers_.size(); ++attempt) {
    const int i = pick_worker(tried);
    if (i < 0) return false;
    Worker& w = workers_[static_cast<std::size_t>(i)];
    const IoResult sent = send_fd(w.channel.get(), connection.get(), peer);
    if (sent.is_ok()) {
      ++w.sent;
      connection.reset();  // the worker has its own copy now
      return true;
    }
    // A full channel (WouldBlock) or a worker that just died (EPIPE, reaped on SIGCHLD):
    // try the next one.
    if (sent.is_error() && sent.error != EPIPE) {
      log::warn("send_fd to worker {}: {}", w.pid, std::strerror(sent.error));
    }
    if (sent.status == IoResult::Status::WouldBlock && full_slot_ < 0) full_slot_ = i;
    tried[static_cast<std::size_t>(i)] = 1;
  }
  return false;
}

void Master::pause_accepting() {
  if (!accepting_) return;
  loop_.modify(listener_.get(), 0);  // the kernel's backlog holds new clients meanwhile
  accepting_ = false;
}

void Master::resume_accepting() {
  if (accepting_ || !listener_ || stop_ != Stop::None) return;
  loop_.modify(listener_.get(), kReadable);
  accepting_ = true;
}

// A channel holds what fits in its send buffer (about 280 connections with Debian's
// default net.core.wmem_default), so a burst of new connections can fill it while the
// worker is busy. Waiting for the 10 ms tick then caps the accept rate and lets the
// listen queue overflow (clients wait for a SYN retransmit), so the master watches the
// full channel instead: it turns writable as soon as the worker has taken from it.
void Master::watch_channel(int slot) {
  if (watched_slot_ >= 0 || slot < 0) return;
  const Worker& w = workers_[static_cast<std::size_t>(slot)];
  if (!w.channel) return;
  loop_.add(w.channel.get(), kWritable, channel_room_);
  watched_slot_ = slot;
}

void Master::unwatch_channel() {
  if (watched_slot_ < 0) return;
  loop_.remove(workers_[static_cast<std::size_t>(watched_slot_)].channel.get());
  watched_slot_ = -1;
}

void Master::on_channel_room() {
  unwatch_channel();
  if (stop_ != Stop::None || !held_) return;
  std::string peer = std::move(held_peer_);
  Fd connection = std::move(held_);
  if (!hand_over(connection, peer)) {  // taken by another burst already: watch again
    held_ = std::move(connection);
    held_peer_ = std::move(peer);
    if (full_slot_ >= 0) watch_channel(full_slot_);
    return;
  }
  resume_accepting();
  accept_connections();
}

}  // namespace serverlab
