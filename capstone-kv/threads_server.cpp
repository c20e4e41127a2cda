// threads_server.cpp: --model threads: acceptor, workers, shard locks (threads_server.hpp).
#include "threads_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "client.hpp"
#include "clock.hpp"
#include "commands.hpp"
#include "glob.hpp"
#include "kv_server.hpp"
#include "serverlab/log.hpp"
#include "serverlab/resp/parser.hpp"
#include "serverlab/resp/writer.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "store.hpp"
#include "thread_pool.hpp"

namespace serverlab::kv {

namespace {

constexpr std::size_t kReadSize = 64 * 1024;
// Replies beyond this are sent before the next command of a pipeline runs, so a
// pipeline of large replies does not pile up in memory.
constexpr std::size_t kSendAt = 1 << 20;
// A client whose input holds no whole command past this is closed (as the epoll model).
constexpr std::size_t kMaxQueryBuffer = std::size_t{1} << 30;

// Writes all of `bytes` (blocking socket). False when the peer is gone.
bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// A worker's connection, as the acceptor hands it over.
struct Connection {
  Fd fd;
  std::string peer;
};

// The locks one command holds, taken in ascending shard order, released at scope end.
class CommandLocks {
 public:
  CommandLocks(std::vector<std::shared_mutex>& locks, const std::vector<std::size_t>& shards,
               bool exclusive)
      : locks_(locks), shards_(shards), exclusive_(exclusive) {
    for (std::size_t s : shards_) exclusive_ ? locks_[s].lock() : locks_[s].lock_shared();
    if (!exclusive_) reader_.emplace();
  }
  ~CommandLocks() {
    reader_.reset();
    for (auto it = shards_.rbegin(); it != shards_.rend(); ++it)
      exclusive_ ? locks_[*it].unlock() : locks_[*it].unlock_shared();
  }
  CommandLocks(const CommandLocks&) = delete;
  CommandLocks& operator=(const CommandLocks&) = delete;

 private:
  std::vector<std::shared_mutex>& locks_;
  const std::vector<std::size_t>& shards_;
  bool exclusive_;
  std::optional<SharedAccess> reader_;  // readers hide expired keys, never delete them
};

// --timeout: a recv that waits this long gives up (EAGAIN) and the client goes.
// `applied` is what the socket has now (0: no timeout); set only on a change.
void apply_idle_timeout(int fd, double timeout_s, double& applied) {
  if (timeout_s == applied) return;
  const auto us = static_cast<long>(timeout_s * 1e6);
  timeval tv{us / 1'000'000, us % 1'000'000};  // {0, 0}: wait for ever
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  applied = timeout_s;
}

}  // namespace

ThreadsServer::ThreadsServer(KvServer& server, ThreadsOptions options)
    : server_(server), options_(options), locks_(std::max<std::size_t>(options.shards, 1)) {
  server_.db().reshard(locks_.size());
  server_.set_threads(this);
}

void ThreadsServer::run(Fd listener, int signal_fd) {
  set_nonblocking(listener.get());
  // The options this thread reads (maxclients, hz), refreshed every time round:
  // a CONFIG SET takes effect at the next accept or tick.
  OptionsPin options(server_);
  // The queue's own bound is never reached: connected_ < maxclients is checked
  // before each submit, and CONFIG SET may raise maxclients at any time.
  WorkerPool<Connection> pool(
      options_.threads, std::numeric_limits<std::size_t>::max(),
      [this](Connection c, std::size_t) {
        if (!stopping_.load(std::memory_order_acquire)) serve(c.fd.get(), c.peer);
        connected_.fetch_sub(1, std::memory_order_relaxed);
      },
      "kv-worker-");
  while (true) {
    const int tick_ms = 1000 / std::max(server_.options().hz, 1);
    const int ready = wait_readable(listener.get(), signal_fd, tick_ms);
    options.refresh();  // after the wait: a CONFIG SET made during it counts
    if (ready == signal_fd && read_signal(signal_fd) != 0) break;
    if (ready == -1) {
      expire_some();
      reap_bgsave();
      continue;
    }
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listener.get(), reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_CLOEXEC);
    if (fd < 0) {
      if (classify_accept_error(errno) == AcceptFailure::Resources)
        log::warn("accept4: {}", std::strerror(errno));
      continue;
    }
    count(server_.stats().connections);
    Connection c{Fd(fd), SocketAddress{address, length}.to_string()};
    set_nodelay(c.fd.get());
    const bool room = connected_.load(std::memory_order_relaxed) < server_.options().max_clients;
    if (room) connected_.fetch_add(1, std::memory_order_relaxed);
    if (!room || !pool.try_submit(c)) {
      if (room) connected_.fetch_sub(1, std::memory_order_relaxed);
      static constexpr std::string_view kFull = "-ERR max number of clients reached\r\n";
      (void)!::send(c.fd.get(), kFull.data(), kFull.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      count(server_.stats().rejected);
    }
  }
  // Stop: no new clients; every connected one is shut so its worker's recv returns.
  listener.reset();
  stopping_.store(true, std::memory_order_release);
  shut_all_clients();
  pool.stop();
}

void ThreadsServer::shut_all_clients() {
  std::lock_guard lock(open_mutex_);
  for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
}

// The active expiry cycle of one shard per tick, under that shard's lock: the
// other shards keep serving meanwhile. Over hz ticks a second, every shard gets
// hz / shards cycles a second.
void ThreadsServer::expire_some() {
  const std::size_t s = next_expire_shard_;
  next_expire_shard_ = (next_expire_shard_ + 1) % locks_.size();
  const std::uint64_t budget_us = 250'000 / static_cast<std::uint64_t>(std::max(server_.options().hz, 1));
  std::unique_lock lock(locks_[s]);
  server_.db().shard(s).active_expire_cycle(wall_ms(), budget_us, monotonic_us);
}

// BGSAVE runs under every shard's exclusive lock (kKeyspace | kLockExclusive):
// the fork sees one consistent keyspace, and KvServer's save state (the child's
// pid, LASTSAVE's time) is guarded by those locks: its writers hold them all
// exclusively, its readers (INFO, LASTSAVE, SAVE) at least shared. So the
// acceptor peeks, without reaping, whether a child has ended (the only children
// kv-server has are BGSAVE's), and only then takes every lock to collect it.
void ThreadsServer::reap_bgsave() {
  siginfo_t info{};
  if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
  std::vector<std::size_t> all(locks_.size());
  for (std::size_t s = 0; s < all.size(); ++s) all[s] = s;
  CommandLocks held(locks_, all, true);
  server_.reap_child(false);
}

void ThreadsServer::serve(int fd, const std::string& peer) {
  {
    std::lock_guard lock(open_mutex_);
    if (stopping_.load(std::memory_order_acquire)) return;
    open_.insert(fd);
  }
  // The options every command of this connection reads (parser limits, maxmemory,
  // requirepass, ...): pinned here, refreshed before each batch of commands, so a
  // CONFIG SET by any client is seen from this client's next batch on.
  OptionsPin options(server_);
  double timeout_applied = 0;  // SO_RCVTIMEO of the socket: none yet
  // The connection's state; never registered with the (idle) loop, no fd of its own.
  Client client(server_, Fd(), next_id_.fetch_add(1, std::memory_order_relaxed), peer);
  WorkerSession session;
  session.fd = fd;
  client.session = &session;
  client.created_ms = client.last_active_ms = now_ms();
  publish_info(session, client);
  {
    std::lock_guard lock(clients_mutex_);
    sessions_.insert(&session);
  }
  std::string& out = client.out();
  std::string in;
  std::size_t need = 0;
  resp::Command command;
  std::vector<std::size_t> shards;
  bool open = true;
  char chunk[kReadSize];
  while (open) {
    if (client.subscriptions() > 0) {
      // A subscriber waits for its socket and for publishers (the eventfd).
      pollfd waits[2] = {{fd, POLLIN, 0}, {session.wake_fd.get(), POLLIN, 0}};
      if (::poll(waits, 2, 1000) < 0 && errno != EINTR) break;
      if (stopping_.load(std::memory_order_acquire)) break;
      if (waits[1].revents & POLLIN) {
        std::uint64_t ignored = 0;
        (void)!::read(session.wake_fd.get(), &ignored, sizeof ignored);
        if (!send_pushed(session)) break;
      }
      if (!(waits[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    }
    // CONFIG SET timeout: the wait for the next command uses the value of the last batch.
    apply_idle_timeout(fd, server_.options().idle_timeout, timeout_applied);
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) count(server_.stats().timeouts);
      break;
    }
    count(server_.stats().bytes_in, static_cast<std::uint64_t>(n));
    client.last_active_ms = now_ms();
    in.append(chunk, static_cast<std::size_t>(n));
    options.refresh();
    if (need > in.size()) continue;  // the bulk being read is not all here
    std::size_t used = 0;
    while (open && used < in.size()) {
      const std::string_view rest = std::string_view(in).substr(used);
      const resp::ParseResult r = resp::parse_command(rest, command, server_.options().limits);
      if (r.kind == resp::ParseResult::Incomplete) {
        need = r.need;  // counted from `used`, which becomes the front below
        break;
      }
      if (r.kind == resp::ParseResult::Error) {
        resp::write_error(out, std::string("ERR Protocol error: ") + std::string(r.error));
        open = false;
        break;
      }
      need = 0;
      if (!command.args.empty()) {
        if (equals_nocase(command.args[0], "quit")) open = false;
        const CommandSpec* spec = check_command(server_, client, command.args);
        if (spec != nullptr) {
          {
            const bool exclusive = lock_set(client, *spec, command.args, shards);
            CommandLocks held(locks_, shards, exclusive);
            Context ctx{server_, client, server_.db(), command.args, out, wall_ms()};
            spec->handler(ctx);
          }
          if (client.blocked.active) {
            publish_info(session, client);  // CLIENT LIST shows it blocked
            if (!wait_blocked(session, client, out)) open = false;
            options.refresh();  // the wait may have been long: the rest sees the latest
          }
        }
      }
      used += r.consumed;
      if (out.size() >= kSendAt) {
        if (!send_all(fd, out)) open = false;
        count(server_.stats().bytes_out, out.size());
        out.clear();
      }
    }
    in.erase(0, used);
    publish_info(session, client);
    if (in.size() > kMaxQueryBuffer) open = false;
    if (!out.empty()) {
      if (!send_all(fd, out)) open = false;
      count(server_.stats().bytes_out, out.size());
      out.clear();
    }
    if (out.capacity() > 64 * 1024) std::string().swap(out);
    if (open && session.wake_fd.get() >= 0 && !send_pushed(session)) open = false;
  }
  {
    std::lock_guard lock(clients_mutex_);
    sessions_.erase(&session);
  }
  leave_pubsub(client);
  forget(client);
  std::lock_guard lock(open_mutex_);
  open_.erase(fd);  // before the Fd closes: shut_all_clients never sees a reused number
}

// The shards `spec` must lock, in ascending order, into `shards`; returns whether
// exclusively. A command that may end a WATCH (EXEC, DISCARD, UNWATCH, RESET)
// also locks the watched keys' shards: unwatching edits their watcher lists.
bool ThreadsServer::lock_set(const Client& client, const CommandSpec& spec,
                             std::span<const std::string_view> args,
                             std::vector<std::size_t>& shards) {
  shards.clear();
  bool exclusive = (spec.flags & (kWrite | kLockExclusive)) != 0;
  bool all = (spec.flags & kKeyspace) != 0;
  add_key_shards(spec, args, shards);
  const bool ends_watch = spec.name == "exec" || spec.name == "discard" ||
                          spec.name == "unwatch" || spec.name == "reset";
  if (ends_watch) {
    exclusive = true;
    for (const std::string& key : client.watched) shards.push_back(server_.db().shard_of(key));
  }
  if (spec.name == "exec" && client.multi.active) {
    // EXEC runs the queue at once: it locks, exclusively, every shard a queued
    // command needs, before the first one runs (all of them if one is keyspace-wide).
    std::vector<std::string_view> words;
    for (const auto& queued : client.multi.queued) {
      const CommandSpec* inner = find_command(queued[0]);
      if (inner == nullptr) continue;
      words.assign(queued.begin(), queued.end());
      all = all || (inner->flags & kKeyspace) != 0;
      add_key_shards(*inner, words, shards);
    }
  }
  if (all) {
    shards.clear();
    for (std::size_t s = 0; s < locks_.size(); ++s) shards.push_back(s);
  }
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  return exclusive;
}

void ThreadsServer::add_key_shards(const CommandSpec& spec, std::span<const std::string_view> args,
                                   std::vector<std::size_t>& shards) {
  thread_local std::vector<std::size_t> positions;  // reused: no allocation per command
  key_positions(spec, args.size(), positions);
  for (std::size_t p : positions) shards.push_back(server_.db().shard_of(args[p]));
}

// ---- blocking pops
//
// Each key has a line of sessions (blocked_on_), in the order they blocked. A
// push signals the first in line only; that worker runs its command again under
// the command's locks. Served, it leaves every line and signals the next first
// (the list may still hold data: RPUSH q a b serves two clients, the first to
// block first). Not served (someone else popped in between), it keeps its place.
//
// Lock order: shard locks, then blocked_mutex_ (block() and signal_list_ready()
// run inside commands); wait_blocked() takes blocked_mutex_ alone, never a shard
// lock while holding it.

void ThreadsServer::block(Client& c, std::vector<std::string> keys,
                          std::vector<std::string> command, double timeout_s) {
  WorkerSession& s = *c.session;
  c.blocked.active = true;
  std::lock_guard lock(blocked_mutex_);
  if (s.registered) return;  // a retry that found no data: same place in line
  c.blocked.command = std::move(command);
  s.keys = std::move(keys);
  constexpr double kForever = 1e9;  // s (31 years): past this, as 0; no clock overflow
  s.deadline = timeout_s > 0 && timeout_s < kForever
                   ? std::chrono::steady_clock::now() +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(timeout_s))
                   : std::chrono::steady_clock::time_point::max();
  for (const std::string& key : s.keys) blocked_on_[key].push_back(&s);
  s.registered = true;
  s.signaled = false;
  blocked_count_.fetch_add(1, std::memory_order_relaxed);
}

void ThreadsServer::signal_list_ready(std::string_view key) {
  // Whoever blocked on `key` did so under its shard's lock, which the pusher
  // holds now: a count of 0 read here means nobody waits on it.
  if (blocked_count_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(blocked_mutex_);
  auto it = blocked_on_.find(std::string(key));
  if (it == blocked_on_.end() || it->second.empty()) return;
  WorkerSession* first = it->second.front();
  first->signaled = true;
  first->wake.notify_one();
}

void ThreadsServer::unregister_blocked(WorkerSession& s) {
  if (!s.registered) return;
  for (const std::string& key : s.keys) {
    auto it = blocked_on_.find(key);
    if (it == blocked_on_.end()) continue;
    std::deque<WorkerSession*>& line = it->second;
    const bool was_first = !line.empty() && line.front() == &s;
    std::erase(line, &s);
    if (line.empty()) {
      blocked_on_.erase(it);
    } else if (was_first) {
      line.front()->signaled = true;  // it may have data left for the next one
      line.front()->wake.notify_one();
    }
  }
  s.registered = false;
  s.signaled = false;
  blocked_count_.fetch_sub(1, std::memory_order_relaxed);
}

// Runs `args` for `client` under its locks (check_command done). False when it
// blocked again.
bool ThreadsServer::run_locked(Client& client, std::span<const std::string_view> args,
                               std::string& out) {
  const CommandSpec* spec = find_command(args[0]);
  std::vector<std::size_t> shards;
  const bool exclusive = lock_set(client, *spec, args, shards);
  CommandLocks held(locks_, shards, exclusive);
  client.blocked.active = false;
  Context ctx{server_, client, server_.db(), args, out, wall_ms()};
  spec->handler(ctx);
  if (client.blocked.active) return false;
  std::lock_guard lock(blocked_mutex_);  // served: leave the lines while the locks hold
  unregister_blocked(*client.session);
  return true;
}

// The worker of a blocked client: sends what is queued, then waits for a
// signal, the timeout, the client hanging up or the server stopping. The wait
// is at most kBlockedPollMs at a time, so a hang-up is noticed that soon.
// False when the connection must close.
bool ThreadsServer::wait_blocked(WorkerSession& s, Client& client, std::string& out) {
  constexpr auto kBlockedPoll = std::chrono::milliseconds(100);
  if (!out.empty()) {
    if (!send_all(s.fd, out)) {
      std::lock_guard lock(blocked_mutex_);
      unregister_blocked(s);
      return false;
    }
    count(server_.stats().bytes_out, out.size());
    out.clear();
  }
  while (true) {
    enum { kRetry, kTimeout, kStop, kCheck } action = kCheck;
    {
      std::unique_lock lock(blocked_mutex_);
      const auto until = std::min(std::chrono::steady_clock::now() + kBlockedPoll, s.deadline);
      s.wake.wait_until(lock, until, [&] { return s.signaled || stopping_.load(); });
      if (s.signaled) {
        s.signaled = false;
        action = kRetry;
      } else if (stopping_.load()) {
        action = kStop;
      } else if (std::chrono::steady_clock::now() >= s.deadline) {
        action = kTimeout;
      }
      if (action == kStop || action == kTimeout) unregister_blocked(s);
    }
    if (action == kStop) return false;
    if (action == kTimeout) {
      resp::write_null_array(out);
      client.blocked = {};
      return true;
    }
    if (action == kRetry) {
      const std::vector<std::string> words = client.blocked.command;
      const std::vector<std::string_view> args(words.begin(), words.end());
      if (run_locked(client, args, out)) {
        client.blocked = {};
        return true;
      }
      continue;
    }
    pollfd p{s.fd, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
      std::lock_guard lock(blocked_mutex_);
      unregister_blocked(s);
      return false;
    }
  }
}

// ---- pub/sub
//
// The client's own sets (Client::channels, patterns) belong to its worker. The
// registry (channels_, patterns_) is what publishers read, under pubsub_mutex_.
// PUBLISH appends the frame to each subscriber's `pushed` under that session's
// out_mutex and wakes its worker through the eventfd; the worker sends it. A
// subscriber whose unsent bytes pass --output-limit is dropped: marked (so no
// publisher counts it again), its socket shut down (so its worker, perhaps stuck
// in send(), returns and closes).

bool ThreadsServer::subscribe(Client& c, std::string_view channel) {
  if (!c.channels.emplace(channel).second) return false;
  WorkerSession& s = *c.session;
  if (s.wake_fd.get() < 0) s.wake_fd = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::lock_guard lock(pubsub_mutex_);
  channels_[std::string(channel)].push_back(&s);
  added_subscription(s);
  return true;
}

bool ThreadsServer::unsubscribe(Client& c, std::string_view channel) {
  auto mine = c.channels.find(channel);
  if (mine == c.channels.end()) return false;
  c.channels.erase(mine);
  std::lock_guard lock(pubsub_mutex_);
  auto it = channels_.find(std::string(channel));
  if (it != channels_.end()) {
    std::erase(it->second, c.session);
    if (it->second.empty()) channels_.erase(it);
  }
  removed_subscription(*c.session);
  return true;
}

bool ThreadsServer::psubscribe(Client& c, std::string_view pattern) {
  if (!c.patterns.emplace(pattern).second) return false;
  WorkerSession& s = *c.session;
  if (s.wake_fd.get() < 0) s.wake_fd = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::lock_guard lock(pubsub_mutex_);
  patterns_.emplace_back(std::string(pattern), &s);
  added_subscription(s);
  return true;
}

bool ThreadsServer::punsubscribe(Client& c, std::string_view pattern) {
  auto mine = c.patterns.find(pattern);
  if (mine == c.patterns.end()) return false;
  c.patterns.erase(mine);
  std::lock_guard lock(pubsub_mutex_);
  std::erase_if(patterns_, [&](const auto& p) { return p.second == c.session && p.first == pattern; });
  removed_subscription(*c.session);
  return true;
}

void ThreadsServer::added_subscription(WorkerSession& s) {
  if (s.subscriptions++ == 0) pubsub_clients_.fetch_add(1, std::memory_order_relaxed);
}

void ThreadsServer::removed_subscription(WorkerSession& s) {
  if (--s.subscriptions == 0) pubsub_clients_.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t ThreadsServer::publish(std::string_view channel, std::string_view message) {
  std::string frame;
  std::size_t receivers = 0;
  std::lock_guard lock(pubsub_mutex_);
  auto it = channels_.find(std::string(channel));
  if (it != channels_.end()) {
    write_message_push(frame, channel, message);
    for (WorkerSession* s : it->second) receivers += deliver(*s, frame) ? 1 : 0;
  }
  for (const auto& [pattern, s] : patterns_) {
    if (!glob_match(pattern, channel)) continue;
    frame.clear();
    write_pmessage_push(frame, pattern, channel, message);
    receivers += deliver(*s, frame) ? 1 : 0;
  }
  count(server_.stats().pubsub_messages, receivers);
  return receivers;
}

bool ThreadsServer::deliver(WorkerSession& s, std::string_view frame) {
  if (s.dropped) return false;
  std::lock_guard lock(s.out_mutex);
  s.pushed += frame;
  if (s.pushed.size() + s.in_flight > server_.options().output_limit) {
    s.dropped = true;
    s.pushed.clear();
    count(server_.stats().output_limit_disconnects);
    ::shutdown(s.fd, SHUT_RDWR);
    return true;  // it was a receiver of this one, as in the epoll model
  }
  const std::uint64_t one = 1;
  (void)!::write(s.wake_fd.get(), &one, sizeof one);
  return true;
}

// The owner sends what publishers queued. False when the peer is gone.
bool ThreadsServer::send_pushed(WorkerSession& s) {
  std::string batch;
  {
    std::lock_guard lock(s.out_mutex);
    batch.swap(s.pushed);
    s.in_flight = batch.size();
  }
  if (batch.empty()) return true;
  const bool ok = send_all(s.fd, batch);
  if (ok) count(server_.stats().bytes_out, batch.size());
  std::lock_guard lock(s.out_mutex);
  s.in_flight = 0;
  return ok;
}

std::vector<std::string> ThreadsServer::channels(std::string_view pattern) {
  std::vector<std::string> out;
  std::lock_guard lock(pubsub_mutex_);
  for (const auto& [name, sessions] : channels_) {
    const bool live = std::any_of(sessions.begin(), sessions.end(),
                                  [](const WorkerSession* s) { return !s->dropped; });
    if (live && (pattern.empty() || glob_match(pattern, name))) out.push_back(name);
  }
  return out;
}

std::size_t ThreadsServer::subscribers(std::string_view channel) {
  std::lock_guard lock(pubsub_mutex_);
  auto it = channels_.find(std::string(channel));
  if (it == channels_.end()) return 0;
  return static_cast<std::size_t>(std::count_if(
      it->second.begin(), it->second.end(), [](const WorkerSession* s) { return !s->dropped; }));
}

std::size_t ThreadsServer::pattern_count() {
  std::lock_guard lock(pubsub_mutex_);
  return static_cast<std::size_t>(std::count_if(
      patterns_.begin(), patterns_.end(), [](const auto& p) { return !p.second->dropped; }));
}

// A client that leaves: out of the registry before its session is freed.
void ThreadsServer::leave_pubsub(Client& client) {
  std::vector<std::string> names(client.channels.begin(), client.channels.end());
  for (const std::string& name : names) unsubscribe(client, name);
  names.assign(client.patterns.begin(), client.patterns.end());
  for (const std::string& name : names) punsubscribe(client, name);
}

// ---- CLIENT LIST / INFO

std::int64_t ThreadsServer::now_ms() { return static_cast<std::int64_t>(monotonic_us() / 1000); }

void ThreadsServer::complete_info(const Client& c, ClientInfo& info) const { info.fd = c.session->fd; }

void ThreadsServer::publish_info(WorkerSession& session, const Client& client) {
  std::lock_guard lock(session.info_mutex);
  client.fill_info(session.info);  // in place: the strings keep their buffers
  complete_info(client, session.info);
}

std::vector<ClientInfo> ThreadsServer::client_infos(const Client& self) {
  std::vector<ClientInfo> out;
  {
    std::lock_guard lock(clients_mutex_);
    for (WorkerSession* s : sessions_) {
      if (s == self.session) continue;
      std::lock_guard info_lock(s->info_mutex);
      out.push_back(s->info);
    }
  }
  out.push_back(self.info());
  complete_info(self, out.back());
  std::sort(out.begin(), out.end(), [](const ClientInfo& a, const ClientInfo& b) { return a.id < b.id; });
  return out;
}

// A client that leaves: its WATCH marks go, under the watched keys' locks.
void ThreadsServer::forget(Client& client) {
  if (client.watched.empty()) return;
  std::vector<std::size_t> shards;
  for (const std::string& key : client.watched) shards.push_back(server_.db().shard_of(key));
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  CommandLocks held(locks_, shards, true);
  for (const std::string& key : client.watched) server_.db().unwatch(key, client.watcher);
  client.watched.clear();
}

}  // namespace serverlab::kv
