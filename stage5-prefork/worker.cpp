#include "worker.hpp"

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "access_log_timer.hpp"
#include "event_loop.hpp"
#include "fd_passing.hpp"
#include "http_server.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/tls/metrics.hpp"

namespace serverlab {

std::optional<AcceptMode> parse_accept_mode(std::string_view name) {
  if (name == "passfd") return AcceptMode::PassFd;
  if (name == "shared") return AcceptMode::Shared;
  if (name == "reuseport") return AcceptMode::ReusePort;
  return std::nullopt;
}

std::string_view accept_mode_name(AcceptMode mode) {
  switch (mode) {
    case AcceptMode::PassFd:
      return "passfd";
    case AcceptMode::Shared:
      return "shared";
    case AcceptMode::ReusePort:
      return "reuseport";
  }
  return "?";
}

namespace {

// The child inherited every descriptor the master had open: the master's epoll instance
// (shared with the master: touching it would change the master's interest list), its
// signalfd, the listening socket, the other workers' channel ends. Keep only our own.
void close_inherited_fds(int keep_a, int keep_b) {
  std::vector<int> doomed;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    while (const dirent* entry = ::readdir(dir)) {
      char* end = nullptr;
      const long fd = std::strtol(entry->d_name, &end, 10);
      if (end == entry->d_name || *end != '\0') continue;  // "." and ".."
      if (fd <= 2 || fd == own || fd == keep_a || fd == keep_b) continue;
      doomed.push_back(static_cast<int>(fd));
    }
    ::closedir(dir);
  }
  for (int fd : doomed) ::close(fd);
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<std::size_t>(cpu), &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    log::warn("worker {}: cannot pin to CPU {}: {}", ::getpid(), cpu, std::strerror(errno));
  }
}

// True when the query has `word` as one of its '&'-separated parts ("auto", "json").
bool query_has(std::string_view query, std::string_view word) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    if (query.substr(0, amp) == word) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

// GET /server-status: the scoreboard is shared, so any worker can render all of it.
void add_status_route(http::HttpService& service, const Scoreboard& board) {
  service.add_route("/server-status",
                    [&board](const http::Request& request, http::Response& response) {
                      if (query_has(request.query, "json")) {
                        response.set_owned_body("application/json", board.render_json());
                      } else if (query_has(request.query, "auto")) {
                        response.set_owned_body("text/plain; charset=utf-8", board.render_auto());
                      } else {
                        response.set_owned_body("text/html; charset=utf-8", board.render_html());
                      }
                      response.add_header("Cache-Control", "no-store");
                    });
}

// Mirrors the worker's request counts into its scoreboard slot at the moment they are
// counted (a request is on the board before its response is sent), and publishes how many
// connections the worker holds: the server's own count, set after every adopt and once per
// loop iteration (so it does not depend on when the driver makes or reuses sessions).
class SlotObserver final : public Metrics::Observer {
 public:
  explicit SlotObserver(ScoreboardSlot& slot) : slot_(slot) {}

  void on_connection_opened() override { mark(worker_state::kReading); }
  void on_request_done(int /*status*/, std::uint64_t bytes_sent) override {
    slot_.request_done(bytes_sent);
    mark(worker_state::kWriting);
  }

  void set_active(std::size_t open_connections) {
    slot_.active.store(static_cast<std::uint32_t>(open_connections), std::memory_order_relaxed);
  }
  // Once per loop iteration: a worker with no connection is waiting.
  void tick(std::size_t open_connections) {
    set_active(open_connections);
    slot_.heartbeat();
    if (open_connections == 0) mark(worker_state::kWaiting);
  }
  void draining() {
    draining_ = true;
    slot_.set_state(worker_state::kClosing);
  }

 private:
  void mark(char state) {
    if (!draining_) slot_.set_state(state);
  }

  ScoreboardSlot& slot_;
  bool draining_ = false;
};

// The worker's end of its channel, and the worker's reaction to the master's signals.
class WorkerControl final : public EventHandler {
 public:
  WorkerControl(EventLoop& loop, EpollHttpServer& server, Fd channel, ScoreboardSlot& slot,
                SlotObserver& observer)
      : loop_(loop),
        server_(server),
        channel_(std::move(channel)),
        slot_(slot),
        observer_(observer) {}
  ~WorkerControl() {
    loop_.cancel(settle_timer_);
    loop_.remove(channel_.get());
  }
  WorkerControl(const WorkerControl&) = delete;
  WorkerControl& operator=(const WorkerControl&) = delete;

  void start() {
    set_nonblocking(channel_.get());
    loop_.add(channel_.get(), kReadable, *this);
  }

  // The channel is readable: connections from the master, or EOF when the master is gone.
  void on_event(std::uint32_t /*events*/) override {
    if (!take_connections()) {
      log::warn("worker {}: the master is gone; draining", ::getpid());
      drain();
    }
  }

  // SIGQUIT/SIGINT, or the master vanished: serve what we have, then exit.
  void drain() {
    if (draining_) return;
    draining_ = true;
    observer_.draining();
    // The master stopped sending to us before it signalled, so everything it sent is in
    // the channel now: take it all, so no passed connection is dropped unserved.
    if (loop_.watching(channel_.get())) {
      take_connections();
      loop_.remove(channel_.get());
    }
    server_.stop_accepting();
    settle_deadline_ms_ = loop_.now_ms() + static_cast<std::uint64_t>(kDrainSettleMs);
    settle();
  }

  // SIGTERM: close everything now.
  void stop_now() {
    draining_ = true;
    observer_.draining();
    loop_.remove(channel_.get());
    if (!server_.shutting_down()) server_.shutdown();
    server_.shutdown();  // the second call closes whatever is still open
  }

 private:
  // Takes every connection queued in the channel. False when the channel reached EOF.
  // One message carries a batch (send_fds): its descriptors, and their peers' addresses
  // joined by '\n' in the same order.
  bool take_connections() {
    char payload[kMaxFdsPerMessage * 64];
    for (;;) {
      RecvFdsResult r = recv_fds(channel_.get(), std::span<char>(payload, sizeof payload));
      using S = RecvFdsResult::Status;
      switch (r.status) {
        case S::Ok:
          adopt_batch(r, std::string_view(payload, r.bytes));
          continue;
        case S::Truncated:
        case S::TooManyFds:
          log::warn("worker {}: dropped a malformed channel message", ::getpid());
          slot_.received.fetch_add(1, std::memory_order_release);
          continue;
        case S::NoFd:
          continue;  // the master sends nothing else; ignore unknown messages
        case S::WouldBlock:
          return true;
        case S::Eof:
          return false;
        case S::Error:
          log::error("worker {}: channel: {}", ::getpid(), std::strerror(r.error));
          return false;
      }
    }
  }

  void adopt_batch(RecvFdsResult& batch, std::string_view peers) {
    for (std::size_t i = 0; i < batch.count; ++i) {
      const std::size_t newline = peers.find('\n');
      server_.adopt(std::move(batch.fds[i]), peers.substr(0, newline));
      peers = newline == std::string_view::npos ? std::string_view{} : peers.substr(newline + 1);
    }
    // active first, then received: the master adds what it sent but we have not received,
    // so it may briefly count a connection twice, never zero times.
    observer_.set_active(server_.connection_count());
    slot_.received.fetch_add(static_cast<std::uint32_t>(batch.count), std::memory_order_release);
  }

  // Connections that have not sent their first request yet would be closed as idle by
  // shutdown(); give them until the settle deadline (or until nothing is open).
  void settle() {
    settle_timer_ = {};
    if (server_.shutting_down()) return;
    if (server_.connection_count() == 0 || loop_.now_ms() >= settle_deadline_ms_) {
      server_.shutdown();
      return;
    }
    settle_timer_ = loop_.run_after(10, [this] { settle(); });
  }

  EventLoop& loop_;
  EpollHttpServer& server_;
  Fd channel_;
  ScoreboardSlot& slot_;
  SlotObserver& observer_;
  bool draining_ = false;
  std::uint64_t settle_deadline_ms_ = 0;
  TimerId settle_timer_;
};

int worker_main(const WorkerOptions& options, const WorkerLaunch& launch, Scoreboard& board) {
  close_inherited_fds(launch.channel_fd, launch.listen_fd);
  Fd channel(launch.channel_fd);
  Fd listener(launch.listen_fd);
  // The master records our pid after fork returns in the parent, but in shared/reuseport
  // mode we may answer /server-status before it gets there: write the same value ourselves.
  board.set_pid(launch.slot, ::getpid());
  ScoreboardSlot& slot = board.slot(launch.slot);
  if (launch.cpu >= 0) pin_to_cpu(launch.cpu);

  Metrics metrics;
  SlotObserver observer(slot);
  metrics.set_observer(&observer);
  std::optional<http::HttpService> service;
  try {
    service.emplace(options.config, &metrics);
  } catch (const std::exception& e) {
    log::error("worker {}: cannot serve: {}", ::getpid(), e.what());
    return kWorkerExitFatalConfig;
  }
  if (options.config.admin_on()) add_status_route(*service, board);
  if (options.tls != nullptr) tls::add_metrics(metrics, *options.tls);  // this worker's counts

  EventLoop loop;
  EpollServerOptions server_options;
  // passfd: the master enforces --worker-connections before it sends.
  server_options.max_connections = options.accept == AcceptMode::PassFd
                                       ? 0
                                       : static_cast<std::size_t>(options.worker_connections);
  server_options.shutdown_timeout = options.config.server.shutdown_timeout;
  server_options.exclusive_accept = options.accept == AcceptMode::Shared;
  server_options.tls = options.tls;
  EpollHttpServer server(loop, *service, server_options);
  WorkerControl control(loop, server, std::move(channel), slot, observer);
  SignalWatcher signals(loop, {SIGTERM, SIGINT, SIGQUIT}, [&control](int signo) {
    if (signo == SIGTERM) {
      control.stop_now();
    } else {
      control.drain();
    }
  });
  control.start();
  if (listener) server.listen(std::move(listener));
  observer.tick(0);

  loop.set_before_sleep([&server, &observer] {
    server.before_sleep();
    observer.tick(server.connection_count());
  });
  flush_access_logs_on_timer(loop);
  loop.run();
  server.before_sleep();
  return 0;
}

}  // namespace

#ifdef SERVERLAB_COVERAGE
// gcov's runtime writes its counters at exit(); a worker ends with _exit(), so a coverage
// build (the `coverage` preset defines SERVERLAB_COVERAGE) writes them first.
extern "C" void __gcov_dump();
#endif

void run_worker(const WorkerOptions& options, const WorkerLaunch& launch, Scoreboard& board) {
  int code = 1;
  try {
    code = worker_main(options, launch, board);
  } catch (const std::exception& e) {
    log::error("worker {}: {}", ::getpid(), e.what());
  }
  std::fflush(nullptr);
#ifdef SERVERLAB_COVERAGE
  __gcov_dump();
#endif
  ::_exit(code);
}

}  // namespace serverlab
