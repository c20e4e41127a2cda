// kv_server.hpp: KvServer, the accept side, the clients and the shared state of kv-server.
//
//   listening fd readable --> accept4 until EAGAIN --> Client (maxclients: the
//                             new client gets "-ERR max number of clients reached")
//   loop timer, every 1000/hz ms --> cron(): the active expiry cycle (store.hpp),
//                             idle client timeout
//   before_sleep hook        --> write every client's pending replies; delete
//                             closed clients
//
// One thread does everything, as in Redis: a command runs from start to end
// without anything else touching the data, so no lock is needed anywhere and
// MULTI/EXEC is atomic by construction.
//
// Also here: the pub/sub registry (channel -> subscribers, patterns) and the
// blocked-client registry (key -> clients waiting in BLPOP & co.), because both
// reach across clients.
//
// Who may call: main() (construct, listen, shutdown), the EventLoop (on_event,
// timers, before_sleep), Client and the command handlers; loop thread only.
#pragma once

#include <cstddef>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client.hpp"
#include "event_loop.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/resp/parser.hpp"
#include "serverlab/tls/context.hpp"
#include "store.hpp"

namespace serverlab::kv {

struct KvOptions {
  std::size_t max_clients = 10000;        // maxclients
  double idle_timeout = 0;                // timeout, seconds; 0: never
  std::string requirepass;                // empty: no AUTH needed
  std::uint64_t output_limit = 32 << 20;  // pushed output a subscriber may leave unread
  resp::Limits limits;                    // proto-max-bulk-len & co.
  int hz = 10;                            // cron runs per second
  std::string dir = ".";                  // where the dump lives
  std::string dbfilename;                 // empty: no persistence (SAVE/BGSAVE refused)
  std::uint64_t maxmemory = 0;            // bytes the allocator may hold; 0: no limit
  std::string maxmemory_policy = "noeviction";  // or "allkeys-lru"
  // The append-only file (aof.hpp), --model epoll only.
  bool appendonly = false;
  std::string appendfilename = "appendonly.aof";  // in dir
  std::string appendfsync = "everysec";           // always | everysec | no
  // Speak TLS to every client (client.hpp, "TLS"). Null: plain TCP. Made by
  // main() from --tls-cert & co.; must outlive the server.
  const tls::TlsContext* tls = nullptr;
};

struct Stats {
  std::uint64_t connections = 0;       // accepted, ever
  std::uint64_t rejected = 0;          // refused by maxclients
  std::uint64_t commands = 0;
  std::uint64_t keyspace_hits = 0;
  std::uint64_t keyspace_misses = 0;
  std::uint64_t expired_lazy = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t pubsub_messages = 0;
  std::uint64_t output_limit_disconnects = 0;
  std::uint64_t timeouts = 0;
};

class Aof;
class KvServer;
class ThreadsServer;

// Pins the options in force (KvServer::options) for the calling thread while it
// lives: options() on this thread then returns the pinned copy, which no CONFIG
// SET can change or free meanwhile. The threads model's workers hold one per
// connection and refresh() it before each batch of commands (one atomic load per
// batch, not a lock per command); its acceptor refreshes one per tick. A thread
// holds at most one pin at a time; the loop thread of --model epoll holds none.
class OptionsPin {
 public:
  explicit OptionsPin(const KvServer& server);
  ~OptionsPin();
  OptionsPin(const OptionsPin&) = delete;
  OptionsPin& operator=(const OptionsPin&) = delete;

  void refresh();  // pin the latest copy
  const KvOptions& get() const { return *pinned_; }
  void hold(std::shared_ptr<const KvOptions> options) { pinned_ = std::move(options); }

 private:
  const KvServer& server_;
  std::shared_ptr<const KvOptions> pinned_;
};

class KvServer final : public EventHandler {
 public:
  KvServer(EventLoop& loop, KvOptions options);
  ~KvServer();
  KvServer(const KvServer&) = delete;
  KvServer& operator=(const KvServer&) = delete;

  void listen(Fd listen_fd);  // also prints nothing: main() announces the port
  void on_event(std::uint32_t events) override;  // accept
  void before_sleep();
  // Stops accepting and closes every client (their pending replies are sent
  // first when the socket takes them at once). The loop stops.
  void shutdown();

  EventLoop& loop() { return loop_; }
  Database& db() { return db_; }
  // The options in force. They are never edited in place: CONFIG SET builds a
  // changed copy and publishes it (set_options), so a reader sees the old copy or
  // the new one, never half of a change. On a thread holding an OptionsPin: the
  // pinned copy; otherwise (the loop thread of --model epoll, main() before the
  // threads start) the latest one. One KvServer per process (the pin is per thread).
  const KvOptions& options() const;
  // The latest copy, from any thread (an atomic load).
  std::shared_ptr<const KvOptions> latest_options() const { return published_.load(); }
  // Publishes `changed` as the options in force; the caller's own pin, if any, moves
  // to it at once (its next command sees the change). Callers that derive `changed`
  // from latest_options() hold config_mutex() so that two changes never cross.
  void set_options(KvOptions changed);
  std::mutex& config_mutex() { return config_mutex_; }
  Stats& stats() { return stats_; }
  std::size_t client_count() const { return clients_.size(); }
  std::int64_t start_ms() const { return start_ms_; }
  std::uint16_t port() const { return port_; }
  const std::vector<std::unique_ptr<Client>>& clients() const { return clients_; }
  Client* find_client(std::uint64_t id);

  // Client calls these.
  void want_flush(Client& client);
  void release(Client& client);

  // --model threads: the worker pool that serves the clients instead of the loop.
  // Set by ThreadsServer; then block() and signal_list_ready() go to it (its
  // registries are locked; the loop's are for the loop thread only).
  void set_threads(ThreadsServer* threads) { threads_ = threads; }
  ThreadsServer* threads() const { return threads_; }

  // ---- pub/sub
  // Adds/removes a subscription; returns false if it was already so.
  bool subscribe(Client& c, std::string_view channel);
  bool unsubscribe(Client& c, std::string_view channel);
  bool psubscribe(Client& c, std::string_view pattern);
  bool punsubscribe(Client& c, std::string_view pattern);
  // Delivers to every subscriber; returns how many received it.
  std::size_t publish(std::string_view channel, std::string_view message);
  std::vector<std::string> channels(std::string_view pattern) const;  // active ones
  std::size_t subscribers(std::string_view channel) const;
  std::size_t pattern_count() const;

  // ---- blocking list operations
  void block(Client& c, std::vector<std::string> keys, std::vector<std::string> command,
             double timeout_s);
  void remove_blocked(Client& c);
  // A push made `key` a non-empty list: waiting clients are served after this command.
  void signal_list_ready(std::string_view key);
  // Serves blocked clients whose keys became ready (runs their command again).
  void serve_ready_keys();

  // ---- persistence (rdb.hpp): on when options().dbfilename is set
  bool persistence_on() const { return !options().dbfilename.empty(); }
  std::string dump_path() const { return options().dir + "/" + options().dbfilename; }
  // SAVE: writes the dump in this process (every client waits). False + error on failure.
  bool save(std::string& error);
  // BGSAVE: forks; the child writes the dump from its copy-on-write view of memory and
  // exits; cron() reaps it. False + error when a save runs already or fork fails.
  bool bgsave(std::string& error);
  bool bgsave_running() const { return child_ > 0; }
  std::int64_t lastsave() const { return lastsave_s_; }  // unix seconds of the last good save
  // At exit: stops a BGSAVE in progress, then saves in the foreground.
  bool save_on_exit(std::string& error);
  // Collects a finished BGSAVE child (wait: block until it ends). cron() calls it;
  // so does the threads model's acceptor, holding every shard lock exclusively.
  void reap_child(bool wait);

  // ---- the append-only file (aof.hpp): on when aof() is not null (start_aof sets it)
  Aof* aof() { return aof_.get(); }
  void set_aof(std::unique_ptr<Aof> aof);
  std::string aof_path() const { return options().dir + "/" + options().appendfilename; }

  // ---- maxmemory
  // Bytes malloc holds for the process (glibc mallinfo2: in-use chunks + mmapped ones).
  static std::uint64_t used_memory();
  // Before a command that may grow memory: under the limit, or made so by evicting
  // (allkeys-lru). False: the command must be refused with -OOM.
  bool make_room();

  // The time a command sees: ms since the epoch, read once per command.
  Database::Ms now() const { return now_ms_; }
  void update_now();

 private:
  void accept_one(Fd fd, std::string peer);
  void cron();
  void schedule_cron();

  EventLoop& loop_;
  // The options in force, twice: current_ for the loop thread's plain reads, and
  // published_ for the pins of other threads. Both change only in set_options.
  std::shared_ptr<const KvOptions> current_;
  std::atomic<std::shared_ptr<const KvOptions>> published_;
  std::mutex config_mutex_;  // serializes CONFIG SET (read latest, change, publish)
  Database db_;
  std::unique_ptr<Aof> aof_;  // null: --appendonly no
  Stats stats_;
  Fd listen_;
  std::uint16_t port_ = 0;
  bool accepting_ = false;
  std::uint64_t next_id_ = 1;
  std::int64_t start_ms_ = 0;
  Database::Ms now_ms_ = 0;
  TimerId cron_timer_;
  pid_t child_ = -1;  // the BGSAVE child, or -1
  std::int64_t lastsave_s_ = 0;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Client>> graveyard_;
  std::vector<Client*> pending_flush_;

  std::unordered_map<std::string, std::vector<Client*>, StringHash, std::equal_to<>> channels_;
  std::vector<std::pair<std::string, Client*>> patterns_;
  std::unordered_map<std::string, std::vector<Client*>, StringHash, std::equal_to<>> blocked_on_;
  std::vector<std::string> ready_keys_;
  std::vector<Client*> unblocked_;  // served this iteration: run their pipelined input
  ThreadsServer* threads_ = nullptr;  // --model threads, else null
};

}  // namespace serverlab::kv
