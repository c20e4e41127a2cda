// aof.hpp: the append-only file (AOF): every command that changed data, as RESP,
// appended to one file and replayed at start. The format is Redis's AOF before 7.0
// (one file of RESP commands, no manifest), so `redis-check-aof` reads it.
//
//   writing (loop thread, --appendonly yes)
//     execute() --> Aof::run(ctx, spec): the handler runs; if the data changed
//                   (Database::changes() moved), the command goes into buffer_
//                   in its replay form (below)
//     lazy or active expiry, eviction --> the store's deletion listener --> DEL key
//     before_sleep --> write_pending(): one write(2) of buffer_ per loop
//                   iteration, before any reply is sent; appendfsync always:
//                   fdatasync too, so an acknowledged write is on the disk
//     everysec: fdatasync when the last one is a second old (before_sleep, cron),
//                   on a thread of its own (BackgroundSync), as Redis's bio thread
//                   does: a slow disk must not stall every client once a second
//     no: the kernel writes the page cache back when it likes (about 30 s)
//
//   replay forms: what is logged must give the same data whenever it is replayed
//     EXPIRE PEXPIRE EXPIREAT PEXPIREAT, GETEX EX..  -> PEXPIREAT key absolute-ms
//     SET (any options), SETEX, PSETEX               -> SET key value [PXAT absolute-ms]
//     GETEX PERSIST -> PERSIST key;  a time already past -> DEL key
//     INCRBYFLOAT -> SET key result KEEPTTL;  HINCRBYFLOAT -> HSET key field result
//     SPOP -> SREM key members (the handler says which: log_instead)
//     BLPOP BRPOP -> LPOP/RPOP key;  BLMOVE -> LMOVE;  BRPOPLPUSH -> RPOPLPUSH
//     commands EXEC runs -> MULTI ... EXEC (MULTI before the first logged one)
//     anything else that changed data -> itself;  a no-op (DEL of a missing key) -> nothing
//
//   reading (at start): scan_aof() is a pure function over the file's bytes, with
//   common's RESP parser. A command cut short at the end (a crash mid-write), or a
//   MULTI without its EXEC, is a truncated tail: the file is cut back to its last
//   whole command and the server starts (Redis's aof-load-truncated yes). Anything
//   else that does not parse is corruption: the start fails, naming the byte offset.
//
//   BGREWRITEAOF: a forked child writes the keyspace as commands (write_keyspace)
//   to a temporary file; meanwhile the parent logs as usual AND keeps a copy of
//   what it logs; when the child is done, the parent appends that copy to the new
//   file, fsyncs it and renames it over the old one.
//
// Who may call: the loop thread of --model epoll (--model threads refuses
// --appendonly); scan_aof and write_keyspace anywhere (pure / a forked child).
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "aof_reader.hpp"
#include "commands.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/resp/parser.hpp"
#include "store.hpp"

namespace serverlab::kv {

class KvServer;

enum class AofFsync { kAlways, kEverySec, kNo };
std::optional<AofFsync> parse_aof_fsync(std::string_view name);  // "always" "everysec" "no"

// ---- the keyspace as commands (BGREWRITEAOF, and the first AOF made from a dump)

// Appends commands that rebuild `db`: SET key value [PXAT t]; RPUSH, SADD, HSET in
// batches of 64 items, then PEXPIREAT for a container with a TTL. Keys expired at
// `now` are left out.
void write_keyspace(const Database& db, Database::Ms now, std::string& out);
// write_keyspace to `path` through "<path>.tmp-<pid>", fsync, rename, fsync of the
// directory (rdb.cpp's discipline). False + error on failure (the temporary file goes).
bool save_keyspace_aof(const Database& db, const std::string& path, Database::Ms now,
                       std::string& error);

// ---- writing

// One thread that runs fdatasync(2) when asked (appendfsync everysec), so the loop
// never waits for the disk. One request at a time: while one runs, request() says
// no and the caller asks again later (the next second's data waits in the page
// cache, as in Redis). Who may call: the loop thread.
class BackgroundSync {
 public:
  BackgroundSync();
  ~BackgroundSync();  // waits for a running fdatasync, then joins
  BackgroundSync(const BackgroundSync&) = delete;
  BackgroundSync& operator=(const BackgroundSync&) = delete;

  bool request(int fd);  // false: one still runs, nothing asked
  void wait_idle();      // before `fd` closes: no fdatasync runs on it after this
  int take_error();      // errno of a failed fdatasync since the last call, or 0

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  int fd_ = -1;
  bool busy_ = false, stop_ = false;
  int error_ = 0;
  std::thread thread_;  // last: started once the fields above exist
};

class Aof {
 public:
  // Opens (creating) `path` for appending. Throws SysError.
  Aof(std::string path, AofFsync policy);
  // Writes what is pending and fsyncs (errors are logged: nobody is left to tell).
  ~Aof();
  Aof(const Aof&) = delete;
  Aof& operator=(const Aof&) = delete;

  const std::string& path() const { return path_; }
  void set_policy(AofFsync policy) { policy_ = policy; }

  // Runs one command's handler and logs it if it changed data (execute() calls this
  // instead of the handler when the AOF is on).
  void run(Context& ctx, const CommandSpec& spec);
  // For a handler whose effect its arguments do not fix (SPOP: random members):
  // log these words instead of the command, if it changed data.
  void log_instead(std::vector<std::string> words) { instead_ = std::move(words); }
  // Appends one command to the buffer (the store's deletion listener: DEL key).
  void feed(std::span<const std::string_view> words);

  // Writes the buffer (before_sleep, before replies go out; and at shutdown).
  // always: fsyncs too; everysec: when the last fsync is >= 1 s old. A failed
  // write keeps the bytes for the next try; under always it throws
  // std::runtime_error instead (Redis exits there too: it cannot acknowledge).
  void write_pending(std::uint64_t now_ms);
  // everysec: fsync when due (the cron calls this, so a last write is synced too).
  void cron(std::uint64_t now_ms);
  bool write_ok() const { return write_ok_; }

  // ---- BGREWRITEAOF
  // Forks a child that writes the keyspace to "<path>.rewrite-<pid>". False + error
  // when one runs already or fork fails.
  bool start_rewrite(const Database& db, Database::Ms now, std::string& error);
  bool rewrite_running() const { return child_ > 0; }
  // Reaps the child (cron: wait=false; shutdown: wait=true, after killing it) and,
  // when it succeeded, switches to the new file. Returns whether it finished.
  bool reap_rewrite(bool wait);
  void kill_rewrite();
  std::optional<bool> last_rewrite_ok() const { return last_rewrite_ok_; }

 private:
  bool log_replay_form(Context& ctx, std::string_view name, std::string_view popped_key);
  void sync_now(std::uint64_t now_ms);
  void failed(const std::string& what, int error_number);
  bool finish_rewrite(pid_t child, std::string& error);
  std::string rewrite_path(pid_t pid) const;

  std::string path_;
  AofFsync policy_;
  Fd fd_;
  std::string buffer_;          // logged, not yet written
  bool unsynced_ = false;       // written since the last fsync
  std::uint64_t last_sync_ms_ = 0;
  bool write_ok_ = true;
  int exec_depth_ = 0;          // inside EXEC: wrap what is logged in MULTI ... EXEC
  bool multi_open_ = false;     // MULTI is logged, EXEC not yet
  std::optional<std::vector<std::string>> instead_;
  pid_t child_ = -1;            // the BGREWRITEAOF child, or -1
  std::string rewrite_buffer_;  // logged while the child runs: goes after its output
  std::optional<bool> last_rewrite_ok_;
  BackgroundSync background_;   // everysec's fdatasync
};

// At start, with --appendonly yes: replays the AOF; when there is none yet, loads the
// RDB dump (if --dbfilename) and writes it as the AOF's first commands. Then opens
// the AOF for appending and installs it in `server`. Throws std::runtime_error with
// the reason (a corrupt file names the byte offset); a truncated tail is cut off
// with a warning.
void start_aof(KvServer& server);

}  // namespace serverlab::kv
