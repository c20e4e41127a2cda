// cmd_multi.cpp: MULTI EXEC DISCARD WATCH UNWATCH.
//
// Inside MULTI, execute() queues commands (replying +QUEUED) after checking their
// name and arity; a refused one marks the transaction failed, and EXEC then
// answers EXECABORT without running anything. EXEC runs the queue with nothing
// in between: in the epoll model because there is one thread; in the threads
// model because the worker holds, exclusively, the locks of every shard the
// queued commands and the watched keys hash to (threads_server.cpp, exec_shards).
//
// WATCH: EXEC answers a null array (and runs nothing) when a watched key was
// modified since WATCH, by any client, by a deletion, or by expiring -- including
// a key whose time passed but that nobody has touched yet (Redis 7's rule).
#include <algorithm>

#include "client.hpp"
#include "handlers.hpp"
#include "kv_server.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

namespace {

void unwatch_all(Context& ctx) {
  Client& c = ctx.client;
  for (const std::string& key : c.watched) ctx.db.unwatch(key, c.watcher);
  c.watched.clear();
  c.watched_live.clear();
  c.watcher.dirty = false;
}

// A key that was live at WATCH time and whose expiry time has passed since.
bool watched_key_expired(Context& ctx) {
  for (const auto& [key, was_live] : ctx.client.watched_live) {
    if (!was_live) continue;
    const Database::Ms when = ctx.db.expire_at(key);
    if (when != Database::kNoExpire && when <= ctx.now) return true;
  }
  return false;
}

}  // namespace

KV_HANDLER(cmd_multi) {
  if (ctx.client.multi.active) return resp::write_error(ctx.out, "ERR MULTI calls can not be nested");
  ctx.client.multi = {};
  ctx.client.multi.active = true;
  resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_discard) {
  if (!ctx.client.multi.active) return resp::write_error(ctx.out, "ERR DISCARD without MULTI");
  ctx.client.multi = {};
  unwatch_all(ctx);
  resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_exec) {
  Client& c = ctx.client;
  if (!c.multi.active) return resp::write_error(ctx.out, "ERR EXEC without MULTI");
  std::vector<std::vector<std::string>> queued = std::move(c.multi.queued);
  const bool failed = c.multi.failed;
  c.multi = {};
  if (failed) {
    unwatch_all(ctx);
    return resp::write_error(ctx.out, "EXECABORT Transaction discarded because of previous errors.");
  }
  if (c.watcher.dirty || watched_key_expired(ctx)) {
    unwatch_all(ctx);
    return resp::write_null_array(ctx.out);
  }
  unwatch_all(ctx);  // before running: our own writes must not matter
  resp::write_array_header(ctx.out, queued.size());
  c.in_exec = true;
  std::vector<std::string_view> args;
  for (const auto& words : queued) {
    args.assign(words.begin(), words.end());
    execute(ctx.server, c, args, ctx.now);
  }
  c.in_exec = false;
}

KV_HANDLER(cmd_watch) {
  Client& c = ctx.client;
  if (c.multi.active) return resp::write_error(ctx.out, "ERR WATCH inside MULTI is not allowed");
  for (std::size_t i = 1; i < ctx.args.size(); ++i) {
    const std::string key(ctx.args[i]);
    if (std::find(c.watched.begin(), c.watched.end(), key) != c.watched.end()) continue;
    const bool live = ctx.db.exists(key, ctx.now);  // may delete an expired key: watch after
    ctx.db.watch(key, c.watcher);
    c.watched.push_back(key);
    c.watched_live.emplace_back(key, live);
  }
  resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_unwatch) {
  unwatch_all(ctx);
  resp::write_ok(ctx.out);
}

}  // namespace serverlab::kv
