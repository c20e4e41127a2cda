// threads_server.hpp: ThreadsServer, kv-server's second concurrency model
// (--model threads): stage 3's worker pool over a sharded, locked store.
//
//   main thread (acceptor)                      workers 0..N-1 (WorkerPool, stage 3)
//   wait_readable(listener, signals, 1000/hz)   pop a connection, serve it until it
//     listener  -> accept4 -> pool.try_submit      leaves: blocking recv, parse RESP
//     timeout   -> active expiry, one shard at     (common's parser), run each command
//                  a time under its lock            under the locks of its keys, send
//     SIGINT/TERM -> stop: shut every client's      the replies of what one recv
//                  socket, join the workers         brought (a pipeline: one send)
//
// Locks: the Database is split into --shards shards, one std::shared_mutex each
// (seed 002's sync.RWMutex). A command takes the locks of the shards its keys
// hash to (key_positions, commands.hpp), in ascending shard order so that two
// multi-key commands can never wait for each other in a cycle; a keyspace-wide
// command (KEYS, SCAN, DBSIZE, FLUSHDB, INFO, SAVE, ...) takes all of them.
// Writes lock exclusively; reads share, under a SharedAccess guard (store.hpp).
//
// Transactions: EXEC locks, exclusively and before its first command runs, the
// union of the shards of every queued command's keys and of the watched keys
// (every shard if a queued command is keyspace-wide), in ascending order; so
// another worker sees all of the transaction or none of it, and EXEC's WATCH
// check and the commands see one state. Not "every shard": a transaction on
// two keys then stops only the workers on those two shards. WATCH registers
// the client's Watcher in the key's shard under that shard's exclusive lock;
// writers (and the active expiry) mark it under theirs (Watcher::dirty is atomic:
// two shards' writers may mark it at once). EXEC, DISCARD, UNWATCH, RESET and a
// disconnect unwatch under the watched keys' exclusive locks.
//
// Blocking pops: a key's line of waiting sessions (blocked_on_) is under
// blocked_mutex_. Lock order: shard locks, then blocked_mutex_, then nothing;
// a worker waiting for a push holds blocked_mutex_ only (threads_server.cpp).
//
// Pub/sub: the registry (channels_, patterns_) is under pubsub_mutex_; each
// subscriber's queue of pushed messages under its session's out_mutex. Lock
// order: pubsub_mutex_, then out_mutex. A subscriber's worker polls its socket
// and eventfd.
//
// The whole lock order: shard locks (ascending) -> blocked_mutex_, pubsub_mutex_
// or clients_mutex_ (one of them; a PUBLISH or CLIENT LIST queued in MULTI runs
// under EXEC's shard locks) -> a session's out_mutex or info_mutex. Nobody
// takes a lock to the left of one they hold.
//
// The command handlers are the epoll model's (cmd_*.cpp). Each connection has a
// Client object that is never registered with any loop: it only carries the
// connection's state (AUTH, name, id) and its reply buffer.
//
// Limits (README.md "Two models"): a worker serves one client for the client's
// whole life, so --threads bounds the clients served at once; the next ones wait
// in the pool's queue until a worker is free. --maxclients counts both.
//
// Options (CONFIG SET): every thread reads them through an OptionsPin
// (kv_server.hpp), an immutable copy it refreshes once per batch of commands (a
// worker) or per tick (the acceptor); CONFIG SET publishes a new copy. No lock
// per command; a change reaches each worker at its next batch.
//
// BGSAVE forks under every shard's exclusive lock (a consistent keyspace for the
// child; those locks also guard KvServer's save state); the acceptor's tick
// collects the child (reap_bgsave).
//
// CLIENT LIST: the sessions being served are a set under clients_mutex_; each
// worker copies its client's fields into its session (under info_mutex) after
// each batch, and CLIENT LIST reads the copies.
//
// Who may call: main() (constructor, run; run() returns after SIGINT/SIGTERM);
// from a worker, inside a command: KvServer (block, signal_list_ready, the
// pub/sub calls it forwards), INFO and CLIENT (the counts, client_infos).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "client.hpp"
#include "serverlab/fd.hpp"

namespace serverlab::kv {

class Client;
class KvServer;
struct CommandSpec;

// What other workers may reach of one connection. Its owner (the worker serving
// it) made it and is the only one that frees it; each field says its lock.
struct WorkerSession {
  int fd = -1;
  // ---- blocking pops, under ThreadsServer::blocked_mutex_
  bool registered = false;  // in blocked_on_'s lines of each of `keys`
  bool signaled = false;    // a push to one of its keys: run the command again
  std::vector<std::string> keys;
  std::chrono::steady_clock::time_point deadline;  // the command's timeout
  std::condition_variable wake;
  // ---- pub/sub: the registry's entries, under ThreadsServer::pubsub_mutex_
  std::size_t subscriptions = 0;  // channels + patterns in the registry
  bool dropped = false;           // over --output-limit: publishers skip it
  // ---- pushed messages, under out_mutex (taken after pubsub_mutex_)
  std::mutex out_mutex;
  std::string pushed;          // published, not yet handed to the socket
  std::size_t in_flight = 0;   // handed to send() by the owner, not yet all sent
  Fd wake_fd;                  // eventfd: a publisher adds 1 after appending (made at
                               // the first SUBSCRIBE, before the registry knows it)
  // ---- CLIENT LIST: the owner's copy of its client after each batch, under info_mutex
  std::mutex info_mutex;
  ClientInfo info;
};

struct ThreadsOptions {
  std::size_t threads = 64;  // workers: clients served at once
  std::size_t shards = 16;   // store shards, one lock each
};

class ThreadsServer {
 public:
  // `server` holds the options, the counters and the Database (resharded here).
  ThreadsServer(KvServer& server, ThreadsOptions options);
  ThreadsServer(const ThreadsServer&) = delete;
  ThreadsServer& operator=(const ThreadsServer&) = delete;

  // Accepts and serves on `listener` until SIGINT or SIGTERM (blocked by the
  // caller and reported by `signal_fd`); then closes every client and joins.
  void run(Fd listener, int signal_fd);

  // One connection, from accept to close (a worker runs this).
  void serve(int fd, const std::string& peer);

  // ---- blocking pops (KvServer forwards these; called under the command's shard locks)
  // BLPOP & co. found no data: `c` joins the line of each key (a retry keeps its
  // place); its worker waits in wait_blocked() once the locks are released.
  void block(Client& c, std::vector<std::string> keys, std::vector<std::string> command,
             double timeout_s);
  // A push made `key` a list: the first client in its line runs its command again.
  void signal_list_ready(std::string_view key);
  // ---- pub/sub (KvServer forwards these; the same contract as its own)
  bool subscribe(Client& c, std::string_view channel);
  bool unsubscribe(Client& c, std::string_view channel);
  bool psubscribe(Client& c, std::string_view pattern);
  bool punsubscribe(Client& c, std::string_view pattern);
  std::size_t publish(std::string_view channel, std::string_view message);
  std::vector<std::string> channels(std::string_view pattern);
  std::size_t subscribers(std::string_view channel);
  std::size_t pattern_count();
  std::size_t pubsub_clients() const { return pubsub_clients_.load(std::memory_order_relaxed); }

  // ---- CLIENT LIST / INFO
  // Every client's info: `self` (the caller's own client) as it is now, the others
  // as of their last batch of commands. Sorted by id.
  std::vector<ClientInfo> client_infos(const Client& self);
  void complete_info(const Client& c, ClientInfo& info) const;  // what only the worker knows
  static std::int64_t now_ms();  // the monotonic clock of created_ms / last_active_ms

  std::size_t blocked_clients() const { return blocked_count_.load(std::memory_order_relaxed); }
  std::size_t connected_clients() const { return connected_.load(std::memory_order_relaxed); }

 private:
  void expire_some();
  void reap_bgsave();
  void shut_all_clients();
  bool lock_set(const Client& client, const CommandSpec& spec,
                std::span<const std::string_view> args, std::vector<std::size_t>& shards);
  void add_key_shards(const CommandSpec& spec, std::span<const std::string_view> args,
                      std::vector<std::size_t>& shards);
  void forget(Client& client);
  bool run_locked(Client& client, std::span<const std::string_view> args, std::string& out);
  bool wait_blocked(WorkerSession& session, Client& client, std::string& out);
  void unregister_blocked(WorkerSession& session);  // blocked_mutex_ held
  bool deliver(WorkerSession& session, std::string_view frame);  // pubsub_mutex_ held
  void added_subscription(WorkerSession& session);    // pubsub_mutex_ held
  void removed_subscription(WorkerSession& session);  // pubsub_mutex_ held
  bool send_pushed(WorkerSession& session);
  void leave_pubsub(Client& client);
  void publish_info(WorkerSession& session, const Client& client);

  KvServer& server_;
  ThreadsOptions options_;
  std::vector<std::shared_mutex> locks_;  // one per shard
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connected_{0};  // clients accepted and not yet closed
  std::size_t next_expire_shard_ = 0;  // acceptor thread only
  std::mutex open_mutex_;
  std::unordered_set<int> open_;  // client fds being served, guarded by open_mutex_

  // Blocked clients: key -> the sessions waiting on it, first blocked first.
  std::mutex blocked_mutex_;
  std::unordered_map<std::string, std::deque<WorkerSession*>> blocked_on_;
  std::atomic<std::size_t> blocked_count_{0};  // changed under blocked_mutex_

  // Pub/sub: channel -> its subscribers' sessions; (pattern, session) pairs.
  // Lock order: pubsub_mutex_, then a session's out_mutex (PUBLISH appends to
  // each subscriber's `pushed` under both). Never taken with a shard lock held.
  std::mutex pubsub_mutex_;
  std::unordered_map<std::string, std::vector<WorkerSession*>> channels_;
  std::vector<std::pair<std::string, WorkerSession*>> patterns_;
  std::atomic<std::size_t> pubsub_clients_{0};  // sessions with a subscription

  // Every session being served, for CLIENT LIST. Lock order: clients_mutex_,
  // then a session's info_mutex; nothing is taken while holding either.
  std::mutex clients_mutex_;
  std::unordered_set<WorkerSession*> sessions_;
};

}  // namespace serverlab::kv
