// aof.cpp: the append-only file: logging, writing, BGREWRITEAOF, replay (aof.hpp).
#include "aof.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "client.hpp"
#include "handlers.hpp"
#include "kv_server.hpp"
#include "rdb.hpp"
#include "serverlab/log.hpp"
#include "serverlab/resp/writer.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::kv {

namespace {

constexpr std::size_t kItemsPerCommand = 64;      // Redis's AOF_REWRITE_ITEMS_PER_CMD
constexpr std::size_t kWriteChunk = 64 * 1024;     // write_keyspace_file's buffer
constexpr std::uint64_t kEverySecMs = 1000;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

void append_command(std::string& out, std::span<const std::string_view> words) {
  resp::write_array_header(out, words.size());
  for (std::string_view w : words) resp::write_bulk(out, w);
}

void append_command(std::string& out, std::initializer_list<std::string_view> words) {
  append_command(out, std::span<const std::string_view>(words.begin(), words.size()));
}

// Writes all of `bytes`; false (errno set) on failure.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// One key as the commands that rebuild it, appended to `out` (write_keyspace).
void write_entry(std::string& out, std::string_view key, const Value& value, Database::Ms when) {
  auto batches = [&](std::string_view verb, const auto& items, auto&& add_item, std::size_t per_item) {
    std::size_t left = items.size();
    auto it = items.begin();
    while (left > 0) {
      const std::size_t n = std::min(left, kItemsPerCommand);
      resp::write_array_header(out, 2 + n * per_item);
      resp::write_bulk(out, verb);
      resp::write_bulk(out, key);
      for (std::size_t i = 0; i < n; ++i, ++it) add_item(*it);
      left -= n;
    }
  };
  const std::string when_text = std::to_string(when);
  switch (value.type()) {
    case Type::kString:
      if (when == Database::kNoExpire) append_command(out, {"SET", key, *value.string()});
      else append_command(out, {"SET", key, *value.string(), "PXAT", when_text});
      return;  // the TTL went with the SET
    case Type::kList:
      batches("RPUSH", *value.list(), [&](const std::string& s) { resp::write_bulk(out, s); }, 1);
      break;
    case Type::kSet:
      batches("SADD", *value.set(), [&](const std::string& s) { resp::write_bulk(out, s); }, 1);
      break;
    case Type::kHash:
      batches("HSET", *value.hash(), [&](const auto& fv) {
        resp::write_bulk(out, fv.first);
        resp::write_bulk(out, fv.second);
      }, 2);
      break;
  }
  if (when != Database::kNoExpire) append_command(out, {"PEXPIREAT", key, when_text});
}

// write_keyspace into an open file, in chunks; false (errno set) on a write error.
bool write_keyspace_to(int fd, const Database& db, Database::Ms now) {
  std::string out;
  bool ok = true;
  db.for_each_entry([&](std::string_view key, const Value& value, Database::Ms when) {
    if (!ok || (when != Database::kNoExpire && when <= now)) return;
    write_entry(out, key, value, when);
    if (out.size() >= kWriteChunk) {
      ok = write_all(fd, out);
      out.clear();
    }
  });
  return ok && write_all(fd, out);
}

// The keyspace into a new file at `file` (truncating), fsynced. False + error.
bool write_keyspace_file(const Database& db, const std::string& file, Database::Ms now,
                         std::string& error) {
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    error = errno_text("open " + file);
    return false;
  }
  if (!write_keyspace_to(fd.get(), db, now)) {
    error = errno_text("write " + file);
    return false;
  }
  if (::fsync(fd.get()) != 0) {
    error = errno_text("fsync " + file);
    return false;
  }
  return true;
}

// The commands an append-only file may hold: writes that never block, and the
// transaction brackets (SELECT 0 too: Redis starts its files with it). A blocking
// command would park the replaying client, which has no loop to wake it.
bool replayable(const CommandSpec& spec) {
  if (spec.name == "multi" || spec.name == "exec" || spec.name == "select") return true;
  return (spec.flags & kWrite) && spec.handler != cmd_bpop && spec.handler != cmd_blmove;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(errno_text("opening the append-only file " + path));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(errno_text("reading the append-only file " + path));
  return data;
}

// Replays `path` into the server's keyspace (start_aof). Throws on corruption.
void replay(KvServer& server, const std::string& path) {
  const std::string bytes = read_whole_file(path);
  Client loader(server, Fd(), 0, "append-only file");  // never registered with the loop
  loader.authenticated = true;
  const KvOptions options = server.options();
  KvOptions loading = options;
  loading.maxmemory = 0;  // the file holds what was accepted: load all of it, as Redis does
  server.set_options(loading);
  const AofScan scan = scan_aof(bytes, options.limits, [&](std::span<const std::string_view> args,
                                                           std::string& error) {
    const CommandSpec* spec = find_command(args[0]);
    if (spec == nullptr || !replayable(*spec)) {
      error = "'" + std::string(args[0].substr(0, 64)) +
              "' is not a command an append-only file holds";
      return false;
    }
    server.update_now();
    execute(server, loader, args);  // an error reply is not ours to judge: Redis ignores it too
    loader.out().clear();
    return true;
  });
  server.set_options(options);
  server.stats() = Stats{};  // replaying is not serving: INFO starts from zero

  if (scan.status == AofScan::kCorrupt)
    throw std::runtime_error("loading the append-only file: " + path + ": corrupt at byte " +
                             std::to_string(scan.good_bytes) + " of " +
                             std::to_string(bytes.size()) + ": " + scan.error +
                             " (redis-check-aof --fix cuts the file there, losing what follows)");
  if (scan.status == AofScan::kTruncated) {
    log::warn("{}: the last command is incomplete (a crash in mid-write?): cutting the file at "
              "byte {} of {}, {} bytes dropped", path, scan.good_bytes, bytes.size(),
              bytes.size() - scan.good_bytes);
    if (::truncate(path.c_str(), static_cast<off_t>(scan.good_bytes)) != 0)
      throw std::runtime_error(errno_text("truncating the append-only file " + path));
  }
  log::info("replayed {} commands from {}: {} keys", scan.commands, path, server.db().size());
}

}  // namespace

std::optional<AofFsync> parse_aof_fsync(std::string_view name) {
  if (name == "always") return AofFsync::kAlways;
  if (name == "everysec") return AofFsync::kEverySec;
  if (name == "no") return AofFsync::kNo;
  return std::nullopt;
}

// ---- the keyspace as commands

void write_keyspace(const Database& db, Database::Ms now, std::string& out) {
  db.for_each_entry([&](std::string_view key, const Value& value, Database::Ms when) {
    if (when != Database::kNoExpire && when <= now) return;
    write_entry(out, key, value, when);
  });
}

bool save_keyspace_aof(const Database& db, const std::string& path, Database::Ms now,
                       std::string& error) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  if (!write_keyspace_file(db, tmp, now, error)) {
    ::unlink(tmp.c_str());
    return false;
  }
  return rename_into_place(tmp, path, error);  // rdb.hpp
}

// ---- writing

BackgroundSync::BackgroundSync() : thread_([this] { run(); }) {}

BackgroundSync::~BackgroundSync() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

bool BackgroundSync::request(int fd) {
  {
    std::lock_guard lock(mutex_);
    if (busy_) return false;
    fd_ = fd;
    busy_ = true;
  }
  wake_.notify_one();
  return true;
}

void BackgroundSync::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return !busy_; });
}

int BackgroundSync::take_error() {
  std::lock_guard lock(mutex_);
  return std::exchange(error_, 0);
}

void BackgroundSync::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || busy_; });
    if (busy_) {
      const int fd = fd_;
      lock.unlock();
      const int result = ::fdatasync(fd);  // the slow part, without the lock
      const int error = result == 0 ? 0 : errno;
      lock.lock();
      if (error != 0) error_ = error;
      busy_ = false;
      idle_.notify_all();
    } else if (stop_) {
      return;
    }
  }
}

Aof::Aof(std::string path, AofFsync policy) : path_(std::move(path)), policy_(policy) {
  fd_ = Fd(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!fd_) throw SysError("open " + path_);
}

Aof::~Aof() {
  kill_rewrite();
  background_.wait_idle();
  if (!fd_) return;
  if (!write_all(fd_.get(), buffer_)) log::error("{}", errno_text("writing " + path_));
  if (::fdatasync(fd_.get()) != 0) log::error("{}", errno_text("fsync " + path_));
}

void Aof::feed(std::span<const std::string_view> words) {
  const std::size_t start = buffer_.size();
  if (exec_depth_ > 0 && !multi_open_) {
    multi_open_ = true;
    append_command(buffer_, {"MULTI"});
  }
  append_command(buffer_, words);
  if (child_ > 0) rewrite_buffer_.append(buffer_, start);  // the child's file lacks these
}

void Aof::run(Context& ctx, const CommandSpec& spec) {
  if (spec.name == "exec") {
    ++exec_depth_;
    spec.handler(ctx);
    if (--exec_depth_ == 0 && multi_open_) {
      multi_open_ = false;
      const std::string_view exec[] = {"EXEC"};
      feed(exec);
    }
    return;
  }
  if (!(spec.flags & kWrite)) return spec.handler(ctx);

  const std::string_view name = spec.name;
  // BLPOP/BRPOP pop from the first of their keys that holds a list: find it before
  // the handler empties (and deletes) it.
  std::string_view popped_key;
  if (name == "blpop" || name == "brpop") {
    for (std::size_t i = 1; i + 1 < ctx.args.size() && popped_key.empty(); ++i) {
      Value* v = ctx.db.find(ctx.args[i], ctx.now);
      if (v != nullptr && v->list() == nullptr) break;  // WRONGTYPE: nothing will change
      if (v != nullptr) popped_key = ctx.args[i];
    }
  }
  instead_.reset();
  const std::uint64_t changes = ctx.db.changes();
  spec.handler(ctx);
  if (ctx.db.changes() == changes) return;  // a no-op writes nothing
  if (instead_) {
    const std::vector<std::string> instead = std::move(*instead_);
    instead_.reset();
    return feed(std::vector<std::string_view>(instead.begin(), instead.end()));
  }

  if (!log_replay_form(ctx, name, popped_key)) feed(ctx.args);
}

// The replay forms of aof.hpp's table; false for a command logged as itself.
bool Aof::log_replay_form(Context& ctx, std::string_view name, std::string_view popped_key) {
  auto log = [this](std::initializer_list<std::string_view> words) {
    feed(std::span<const std::string_view>(words.begin(), words.size()));
    return true;
  };
  if (!popped_key.empty()) return log({name == "blpop" ? "LPOP" : "RPOP", popped_key});
  if (name == "blmove") return log({"LMOVE", ctx.args[1], ctx.args[2], ctx.args[3], ctx.args[4]});
  if (name == "brpoplpush") return log({"RPOPLPUSH", ctx.args[1], ctx.args[2]});

  const bool sets_string = name == "set" || name == "setex" || name == "psetex";
  const bool sets_expiry = name == "expire" || name == "pexpire" || name == "expireat" ||
                           name == "pexpireat" || name == "getex";
  const bool float_result = name == "incrbyfloat" || name == "hincrbyfloat";
  if (!sets_string && !sets_expiry && !float_result) return false;
  const std::string_view key = ctx.args[1];
  Value* v = ctx.db.find(key, ctx.now);
  if (v == nullptr) return log({"DEL", key});  // a time already past deleted it
  const Database::Ms when = ctx.db.expire_at(key);
  const std::string when_text = std::to_string(when);
  if (sets_string) {
    const std::string_view value = name == "set" ? ctx.args[2] : ctx.args[3];
    if (when == Database::kNoExpire) return log({"SET", key, value});
    return log({"SET", key, value, "PXAT", when_text});
  }
  if (sets_expiry) {
    if (when == Database::kNoExpire) return log({"PERSIST", key});
    return log({"PEXPIREAT", key, when_text});
  }
  if (const std::string* s = v->string()) return log({"SET", key, *s, "KEEPTTL"});
  if (const Hash* h = v->hash()) {
    auto it = h->find(ctx.args[2]);
    if (it != h->end()) return log({"HSET", key, it->first, it->second});
  }
  return false;
}

void Aof::write_pending(std::uint64_t now_ms) {
  if (!buffer_.empty()) {
    const char* data = buffer_.data();
    std::size_t left = buffer_.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_.get(), data, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        buffer_.erase(0, buffer_.size() - left);  // what went stays gone; the rest waits
        return failed("writing", n == 0 ? ENOSPC : errno);
      }
      data += n;
      left -= static_cast<std::size_t>(n);
    }
    if (buffer_.capacity() > 1024 * 1024) std::string().swap(buffer_);
    else buffer_.clear();
    unsynced_ = true;
    if (!write_ok_) log::info("{}: writing works again", path_);
    write_ok_ = true;
  }
  if (policy_ == AofFsync::kAlways) sync_now(now_ms);
  else cron(now_ms);
}

void Aof::cron(std::uint64_t now_ms) {
  if (policy_ == AofFsync::kEverySec && now_ms - last_sync_ms_ >= kEverySecMs) sync_now(now_ms);
}

void Aof::sync_now(std::uint64_t now_ms) {
  if (const int error = background_.take_error()) failed("fsync of", error);
  if (!unsynced_) return;
  if (policy_ == AofFsync::kAlways) {
    background_.wait_idle();  // (after a switch from everysec)
    if (::fdatasync(fd_.get()) != 0) return failed("fsync of", errno);
  } else if (!background_.request(fd_.get())) {
    return;  // the last one still runs: ask again at the next chance
  }
  unsynced_ = false;
  last_sync_ms_ = now_ms;
}

void Aof::failed(const std::string& what, int error_number) {
  const std::string text = what + " " + path_ + ": " + std::strerror(error_number);
  if (policy_ == AofFsync::kAlways)
    throw std::runtime_error(text + " (appendfsync always: a write cannot be acknowledged)");
  if (write_ok_) log::error("{}; the commands wait in memory and are retried", text);
  write_ok_ = false;
}

// ---- BGREWRITEAOF

std::string Aof::rewrite_path(pid_t pid) const {
  return path_ + ".rewrite-" + std::to_string(pid);
}

bool Aof::start_rewrite(const Database& db, Database::Ms now, std::string& error) {
  if (child_ > 0) {
    error = "Background append only file rewriting already in progress";
    return false;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = errno_text("fork");
    return false;
  }
  if (pid == 0) {
    // The child: the keyspace as it was at the fork (copy-on-write), written out;
    // _exit, so nothing of the parent's (buffers, sockets, this object) is touched.
    std::string child_error;
    const bool ok = write_keyspace_file(db, rewrite_path(::getpid()), now, child_error);
    if (!ok) std::fprintf(stderr, "kv-server: BGREWRITEAOF: %s\n", child_error.c_str());
    ::_exit(ok ? 0 : 1);
  }
  child_ = pid;
  rewrite_buffer_.clear();
  // Forked inside EXEC after its MULTI was logged: the rest of it follows the snapshot.
  if (multi_open_) append_command(rewrite_buffer_, {"MULTI"});
  log::info("BGREWRITEAOF started by child {}", pid);
  return true;
}

bool Aof::reap_rewrite(bool wait) {
  if (child_ <= 0) return false;
  int status = 0;
  const pid_t done = ::waitpid(child_, &status, wait ? 0 : WNOHANG);
  if (done != child_) return false;
  child_ = -1;
  std::string error = "the child failed (status " + std::to_string(status) + ")";
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && finish_rewrite(done, error);
  if (!ok) ::unlink(rewrite_path(done).c_str());  // (renamed away when ok)
  std::string().swap(rewrite_buffer_);
  last_rewrite_ok_ = ok;
  if (ok) log::info("BGREWRITEAOF done: {} rewritten", path_);
  else log::error("BGREWRITEAOF failed: {}; {} is unchanged", error, path_);
  return true;
}

// The parent, the child done: old file complete, then the new file gets what was
// logged since the fork, is synced, and replaces the old one.
bool Aof::finish_rewrite(pid_t child, std::string& error) {
  // buffer_ holds commands logged after the fork, so rewrite_buffer_ has them too:
  // they go to the old file now, lest the new one get them twice.
  if (!write_all(fd_.get(), buffer_)) {
    error = errno_text("writing " + path_);
    return false;
  }
  buffer_.clear();
  const std::string file = rewrite_path(child);
  Fd fd(::open(file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd) {
    error = errno_text("open " + file);
    return false;
  }
  if (!write_all(fd.get(), rewrite_buffer_) || ::fdatasync(fd.get()) != 0) {
    error = errno_text("write " + file);
    return false;
  }
  if (!rename_into_place(file, path_, error)) return false;  // rdb.hpp
  background_.wait_idle();  // no fdatasync may run on the descriptor that closes now
  fd_ = std::move(fd);  // the old file's descriptor closes; its name is the new file's now
  unsynced_ = false;
  return true;
}

void Aof::kill_rewrite() {
  if (child_ <= 0) return;
  ::kill(child_, SIGKILL);
  int status = 0;
  ::waitpid(child_, &status, 0);
  ::unlink(rewrite_path(child_).c_str());
  child_ = -1;
}

// ---- at start

void start_aof(KvServer& server) {
  const std::string path = server.aof_path();
  server.update_now();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    replay(server, path);
  } else if (errno != ENOENT) {
    throw std::runtime_error(errno_text("the append-only file " + path));
  } else {
    // No AOF yet (--appendonly yes for the first time): start from the dump, if
    // any, and write it as the AOF's first commands, so the next start finds it all.
    std::string error;
    if (server.persistence_on() &&
        !load_rdb(server.db(), server.dump_path(), server.now(), error))
      throw std::runtime_error("loading the dump: " + error);
    if (!save_keyspace_aof(server.db(), path, server.now(), error))
      throw std::runtime_error("writing the append-only file: " + error);
    log::info("no append-only file yet: wrote {} from {} keys", path, server.db().size());
  }
  auto aof = std::make_unique<Aof>(path, parse_aof_fsync(server.options().appendfsync).value());
  Aof* log = aof.get();
  server.db().set_deletion_listener([log](std::string_view key) {
    const std::string_view words[] = {"DEL", key};
    log->feed(words);
  });
  server.set_aof(std::move(aof));
}

}  // namespace serverlab::kv
