// kv_server.cpp: accept, cron, flushing, pub/sub and blocked clients (kv_server.hpp).
#include "kv_server.hpp"

#include <signal.h>
#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizer runtime's count of what its allocator has handed out (declared in
// <sanitizer/allocator_interface.h>, which not every compiler package ships).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "aof.hpp"
#include "clock.hpp"
#include "commands.hpp"
#include "rdb.hpp"
#include "glob.hpp"
#include "serverlab/log.hpp"
#include "serverlab/resp/writer.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"
#include "threads_server.hpp"

namespace serverlab::kv {

namespace {

// Removes one pointer from a vector of pointers (order does not matter).
template <typename T>
void remove_pointer(std::vector<T*>& v, T* p) {
  auto it = std::find(v.begin(), v.end(), p);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}

}  // namespace

namespace {
// The calling thread's pin (OptionsPin), or null: options() reads through it.
thread_local OptionsPin* t_pin = nullptr;
}  // namespace

OptionsPin::OptionsPin(const KvServer& server) : server_(server), pinned_(server.latest_options()) {
  t_pin = this;
}

OptionsPin::~OptionsPin() { t_pin = nullptr; }

void OptionsPin::refresh() { pinned_ = server_.latest_options(); }

const KvOptions& KvServer::options() const {
  return t_pin != nullptr ? t_pin->get() : *current_;
}

void KvServer::set_options(KvOptions changed) {
  auto fresh = std::make_shared<const KvOptions>(std::move(changed));
  current_ = fresh;  // read without a pin only where no other thread publishes
  published_.store(fresh);
  if (t_pin != nullptr) t_pin->hold(std::move(fresh));
}

KvServer::KvServer(EventLoop& loop, KvOptions options)
    : loop_(loop),
      current_(std::make_shared<const KvOptions>(std::move(options))),
      published_(current_) {
  start_ms_ = wall_ms();
  now_ms_ = start_ms_;
  lastsave_s_ = start_ms_ / 1000;
  schedule_cron();
}

KvServer::~KvServer() {
  loop_.cancel(cron_timer_);
  reap_child(true);
  if (accepting_) loop_.remove(listen_.get());
  for (auto& c : clients_) c->blocked.active = false;
  clients_.clear();
  graveyard_.clear();
  db_.set_deletion_listener(nullptr);  // it logs into aof_, which goes first
  aof_.reset();
}

void KvServer::set_aof(std::unique_ptr<Aof> aof) { aof_ = std::move(aof); }

void KvServer::listen(Fd listen_fd) {
  set_nonblocking(listen_fd.get());
  port_ = local_address(listen_fd.get()).port();
  listen_ = std::move(listen_fd);
  loop_.add(listen_.get(), kReadable, *this);
  accepting_ = true;
}

void KvServer::update_now() {
  now_ms_ = wall_ms();
  db_.set_lru_clock(static_cast<std::uint32_t>(loop_.now_ms()));
}

std::uint64_t KvServer::used_memory() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Under a sanitizer, its allocator serves malloc and mallinfo2 knows nothing.
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

bool KvServer::make_room() {
  if (options().maxmemory == 0) return true;
  // Eviction frees memory back to malloc at once, so the count drops as keys go.
  for (int evictions = 0; used_memory() > options().maxmemory; ++evictions) {
    if (options().maxmemory_policy != "allkeys-lru" || evictions >= 10000) return false;
    if (!db_.evict_one_lru(now_ms_)) return false;
  }
  return true;
}

void KvServer::on_event(std::uint32_t /*events*/) {
  while (accepting_) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      accept_one(Fd(fd), SocketAddress{address, length}.to_string());
      continue;
    }
    switch (classify_accept_error(errno)) {
      case AcceptFailure::Drained:
        return;
      case AcceptFailure::Retry:
        continue;
      case AcceptFailure::OutOfFds: {
        static SpareFd spare;
        if (!spare.shed_one(listen_.get())) return;
        continue;
      }
      case AcceptFailure::Resources:
        log::warn("accept4: {}", std::strerror(errno));
        return;
    }
  }
}

void KvServer::accept_one(Fd fd, std::string peer) {
  ++stats_.connections;
  if (clients_.size() >= options().max_clients) {
    // Redis's answer, written straight to the new socket (it has room: it is new).
    static constexpr std::string_view kFull = "-ERR max number of clients reached\r\n";
    (void)!::send(fd.get(), kFull.data(), kFull.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ++stats_.rejected;
    return;  // Fd closes it
  }
  try {
    set_nodelay(fd.get());
    clients_.push_back(std::make_unique<Client>(*this, std::move(fd), next_id_++, std::move(peer)));
    clients_.back()->index_ = clients_.size() - 1;
    clients_.back()->start();
  } catch (const std::exception& e) {
    log::warn("dropping a connection: {}", e.what());
    if (!clients_.empty() && !loop_.watching(clients_.back()->fd())) clients_.pop_back();
  }
}

Client* KvServer::find_client(std::uint64_t id) {
  for (auto& c : clients_) {
    if (c->id() == id) return c.get();
  }
  return nullptr;
}

void KvServer::want_flush(Client& client) {
  if (client.flush_queued_ || client.closed()) return;
  client.flush_queued_ = true;
  pending_flush_.push_back(&client);
}

void KvServer::before_sleep() {
  // Clients served by a push ran their blocking command; their next commands too.
  while (!unblocked_.empty()) {
    std::vector<Client*> batch;
    batch.swap(unblocked_);
    for (Client* c : batch) {
      if (!c->closed()) c->process_input();
    }
  }
  // Flushing may run held-back commands, which queue more flushes: loop until quiet.
  // What they changed reaches the append-only file before their replies go out.
  if (aof_) aof_->write_pending(loop_.now_ms());
  while (!pending_flush_.empty()) {
    std::vector<Client*> batch;
    batch.swap(pending_flush_);
    for (Client* c : batch) {
      if (!c->closed()) c->flush();
    }
    if (aof_) aof_->write_pending(loop_.now_ms());
  }
  graveyard_.clear();
}

void KvServer::release(Client& client) {
  for (const std::string& ch : client.channels) {
    auto it = channels_.find(ch);
    if (it == channels_.end()) continue;
    remove_pointer(it->second, &client);
    if (it->second.empty()) channels_.erase(it);
  }
  std::erase_if(patterns_, [&client](const auto& p) { return p.second == &client; });
  client.channels.clear();
  client.patterns.clear();
  client.flush_queued_ = true;  // never flushed again
  std::erase(pending_flush_, &client);

  const std::size_t i = client.index_;
  std::unique_ptr<Client> owned = std::move(clients_[i]);
  if (i + 1 != clients_.size()) {
    clients_[i] = std::move(clients_.back());
    clients_[i]->index_ = i;
  }
  clients_.pop_back();
  graveyard_.push_back(std::move(owned));
}

void KvServer::shutdown() {
  if (accepting_) {
    loop_.remove(listen_.get());
    listen_.reset();
    accepting_ = false;
  }
  if (aof_) aof_->write_pending(loop_.now_ms());
  std::vector<Client*> open;
  for (auto& c : clients_) open.push_back(c.get());
  for (Client* c : open) {
    c->flush();
    c->close();
  }
  loop_.stop();
}

void KvServer::schedule_cron() {
  const auto period = static_cast<std::uint64_t>(1000 / std::max(options().hz, 1));
  cron_timer_ = loop_.run_after(period, [this] { cron(); });
}

// Redis's serverCron, the parts kv-server has: expire keys nobody reads, close
// idle clients. The expiry cycle gets 25% of the cron period (ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC).
void KvServer::cron() {
  update_now();
  reap_child(false);
  if (aof_) {
    aof_->reap_rewrite(false);
    aof_->cron(loop_.now_ms());
  }
  const std::uint64_t budget_us = 250'000 / static_cast<std::uint64_t>(std::max(options().hz, 1));
  db_.active_expire_cycle(now_ms_, budget_us, monotonic_us);

  if (options().idle_timeout > 0) {
    const auto now = static_cast<std::int64_t>(loop_.now_ms());
    const auto limit = static_cast<std::int64_t>(options().idle_timeout * 1000);
    std::vector<Client*> idle;
    for (auto& c : clients_) {
      // Redis spares subscribers and blocked clients (they wait by design).
      if (c->subscriptions() > 0 || c->blocked.active) continue;
      if (now - c->last_active_ms > limit) idle.push_back(c.get());
    }
    for (Client* c : idle) {
      ++stats_.timeouts;
      c->close();
    }
  }
  schedule_cron();
}

// ---- persistence

bool KvServer::save(std::string& error) {
  if (bgsave_running()) {
    error = "Background save already in progress";
    return false;
  }
  update_now();
  if (!save_rdb(db_, dump_path(), now_ms_, error)) return false;
  lastsave_s_ = now_ms_ / 1000;
  return true;
}

bool KvServer::bgsave(std::string& error) {
  if (bgsave_running()) {
    error = "Background save already in progress";
    return false;
  }
  update_now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // The child: a frozen copy of the keyspace (copy-on-write pages). It writes the
    // dump and leaves with _exit: no destructor, no loop, no flushing of the parent's
    // buffers, no touching of the parent's sockets.
    std::string child_error;
    const bool ok = save_rdb(db_, dump_path(), now_ms_, child_error);
    if (!ok) std::fprintf(stderr, "kv-server: BGSAVE: %s\n", child_error.c_str());
    ::_exit(ok ? 0 : 1);
  }
  child_ = pid;
  log::info("BGSAVE started by child {}", pid);
  return true;
}

void KvServer::reap_child(bool wait) {
  if (child_ <= 0) return;
  int status = 0;
  const pid_t done = ::waitpid(child_, &status, wait ? 0 : WNOHANG);
  if (done != child_) return;
  child_ = -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    lastsave_s_ = wall_ms() / 1000;
    log::info("BGSAVE done");
  } else {
    // A child that died mid-write leaves its temporary file, never a half dump.
    ::unlink((dump_path() + ".tmp-" + std::to_string(done)).c_str());
    log::error("BGSAVE failed (child status {:#x}); the previous dump is intact", status);
  }
}

bool KvServer::save_on_exit(std::string& error) {
  if (child_ > 0) {
    ::kill(child_, SIGKILL);  // its temporary file goes; the foreground save replaces it
    int status = 0;
    ::waitpid(child_, &status, 0);
    ::unlink((dump_path() + ".tmp-" + std::to_string(child_)).c_str());
    child_ = -1;
  }
  return save(error);
}

// ---- pub/sub

bool KvServer::subscribe(Client& c, std::string_view channel) {
  if (threads_ != nullptr) return threads_->subscribe(c, channel);
  if (!c.channels.emplace(channel).second) return false;
  auto it = channels_.find(channel);
  if (it == channels_.end()) it = channels_.emplace(std::string(channel), std::vector<Client*>{}).first;
  it->second.push_back(&c);
  return true;
}

bool KvServer::unsubscribe(Client& c, std::string_view channel) {
  if (threads_ != nullptr) return threads_->unsubscribe(c, channel);
  auto mine = c.channels.find(channel);
  if (mine == c.channels.end()) return false;
  c.channels.erase(mine);
  auto it = channels_.find(channel);
  if (it != channels_.end()) {
    remove_pointer(it->second, &c);
    if (it->second.empty()) channels_.erase(it);
  }
  return true;
}

bool KvServer::psubscribe(Client& c, std::string_view pattern) {
  if (threads_ != nullptr) return threads_->psubscribe(c, pattern);
  if (!c.patterns.emplace(pattern).second) return false;
  patterns_.emplace_back(std::string(pattern), &c);
  return true;
}

bool KvServer::punsubscribe(Client& c, std::string_view pattern) {
  if (threads_ != nullptr) return threads_->punsubscribe(c, pattern);
  auto mine = c.patterns.find(pattern);
  if (mine == c.patterns.end()) return false;
  c.patterns.erase(mine);
  std::erase_if(patterns_, [&](const auto& p) { return p.second == &c && p.first == pattern; });
  return true;
}

std::size_t KvServer::publish(std::string_view channel, std::string_view message) {
  if (threads_ != nullptr) return threads_->publish(channel, message);
  std::size_t receivers = 0;
  std::string frame;
  auto it = channels_.find(channel);
  if (it != channels_.end()) {
    write_message_push(frame, channel, message);
    // A copy: a push over the limit closes the client, which edits the list.
    const std::vector<Client*> subscribers = it->second;
    for (Client* c : subscribers) c->push(frame);
    receivers += subscribers.size();
  }
  if (!patterns_.empty()) {
    std::vector<std::pair<std::string, Client*>> matching;
    for (const auto& [pattern, c] : patterns_) {
      if (glob_match(pattern, channel)) matching.emplace_back(pattern, c);
    }
    for (const auto& [pattern, c] : matching) {
      frame.clear();
      write_pmessage_push(frame, pattern, channel, message);
      c->push(frame);
    }
    receivers += matching.size();
  }
  stats_.pubsub_messages += receivers;
  return receivers;
}

std::vector<std::string> KvServer::channels(std::string_view pattern) const {
  if (threads_ != nullptr) return threads_->channels(pattern);
  std::vector<std::string> out;
  for (const auto& [name, subscribers] : channels_) {
    if (pattern.empty() || glob_match(pattern, name)) out.push_back(name);
  }
  return out;
}

std::size_t KvServer::subscribers(std::string_view channel) const {
  if (threads_ != nullptr) return threads_->subscribers(channel);
  auto it = channels_.find(channel);
  return it == channels_.end() ? 0 : it->second.size();
}

std::size_t KvServer::pattern_count() const {
  if (threads_ != nullptr) return threads_->pattern_count();
  return patterns_.size();
}

// ---- blocking list operations

void KvServer::block(Client& c, std::vector<std::string> keys, std::vector<std::string> command,
                     double timeout_s) {
  if (threads_ != nullptr) return threads_->block(c, std::move(keys), std::move(command), timeout_s);
  for (const std::string& key : keys) {
    auto it = blocked_on_.find(key);
    if (it == blocked_on_.end()) it = blocked_on_.emplace(key, std::vector<Client*>{}).first;
    it->second.push_back(&c);  // FIFO: the first to block is served first
  }
  c.blocked.active = true;
  c.blocked.keys = std::move(keys);
  c.blocked.command = std::move(command);
  if (timeout_s > 0) {
    const auto ms = static_cast<std::uint64_t>(timeout_s * 1000.0 + 0.5);
    Client* client = &c;
    c.blocked.timeout = loop_.run_after(ms, [this, client] {
      client->blocked.timeout = {};
      remove_blocked(*client);
      client->unblock();
      resp::write_null_array(client->out());
      want_flush(*client);
      unblocked_.push_back(client);  // pipelined commands after the blocking one
    });
  }
}

void KvServer::remove_blocked(Client& c) {
  for (const std::string& key : c.blocked.keys) {
    auto it = blocked_on_.find(key);
    if (it == blocked_on_.end()) continue;
    std::erase(it->second, &c);
    if (it->second.empty()) blocked_on_.erase(it);
  }
}

void KvServer::signal_list_ready(std::string_view key) {
  if (threads_ != nullptr) return threads_->signal_list_ready(key);
  if (blocked_on_.find(key) == blocked_on_.end()) return;
  if (std::find(ready_keys_.begin(), ready_keys_.end(), key) == ready_keys_.end())
    ready_keys_.emplace_back(key);
}

void KvServer::serve_ready_keys() {
  // Serving a client may push to another list (BLMOVE), making more keys ready.
  while (!ready_keys_.empty()) {
    std::vector<std::string> keys;
    keys.swap(ready_keys_);
    for (const std::string& key : keys) {
      auto it = blocked_on_.find(key);
      while (it != blocked_on_.end() && !it->second.empty()) {
        Value* v = db_.find(key, now_ms_);
        if (v == nullptr || v->list() == nullptr) break;  // emptied by an earlier client
        Client* c = it->second.front();
        remove_blocked(*c);
        std::vector<std::string> command = std::move(c->blocked.command);
        c->unblock();
        // Run the command again: the key has data now, so it does not block.
        std::vector<std::string_view> args(command.begin(), command.end());
        update_now();
        execute(*this, *c, args);
        want_flush(*c);
        unblocked_.push_back(c);
        it = blocked_on_.find(key);
      }
    }
  }
}

}  // namespace serverlab::kv
