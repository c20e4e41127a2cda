// cmd_keys.cpp: commands on keys of any type: DEL UNLINK EXISTS TYPE KEYS SCAN
// RANDOMKEY RENAME RENAMENX, the EXPIRE family, TTL PTTL EXPIRETIME PEXPIRETIME PERSIST.
#include <limits>

#include "glob.hpp"
#include "handlers.hpp"
#include "kv_server.hpp"
#include "scan.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

KV_HANDLER(cmd_del) {
  std::int64_t deleted = 0;
  for (std::size_t i = 1; i < ctx.args.size(); ++i) deleted += ctx.db.erase(ctx.args[i], ctx.now) ? 1 : 0;
  resp::write_integer(ctx.out, deleted);
}

KV_HANDLER(cmd_exists) {
  std::int64_t found = 0;  // a key named twice counts twice, as in Redis
  for (std::size_t i = 1; i < ctx.args.size(); ++i) found += ctx.db.exists(ctx.args[i], ctx.now) ? 1 : 0;
  resp::write_integer(ctx.out, found);
}

KV_HANDLER(cmd_type) {
  Value* v = ctx.db.find(ctx.args[1], ctx.now);
  resp::write_simple(ctx.out, v ? type_name(v->type()) : "none");
}

KV_HANDLER(cmd_keys) {
  const std::string_view pattern = ctx.args[1];
  std::vector<std::string> keys;
  std::vector<std::string> expired;
  ctx.db.for_each_key([&](std::string_view key) {
    if (pattern != "*" && !glob_match(pattern, key)) return;
    if (ctx.db.expire_at(key) != Database::kNoExpire && ctx.db.expire_at(key) <= ctx.now) {
      expired.emplace_back(key);
    } else {
      keys.emplace_back(key);
    }
  });
  for (const std::string& key : expired) ctx.db.erase(key, ctx.now);  // lazily, after the walk
  resp::write_array_header(ctx.out, keys.size());
  for (const std::string& key : keys) resp::write_bulk(ctx.out, key);
}

KV_HANDLER(cmd_scan) {
  ScanArgs scan;
  if (!parse_scan_args(ctx, 1, true, scan)) return;
  std::vector<std::string> found;
  std::vector<std::string> bucket;
  std::size_t cursor = scan.cursor;
  const std::size_t buckets = ctx.db.bucket_count();
  if (cursor >= buckets) cursor = 0;  // the table shrank: start over, as documented
  std::size_t visited = 0;
  do {
    bucket.clear();
    ctx.db.keys_in_bucket(cursor, bucket);
    for (std::string& key : bucket) {
      Value* v = ctx.db.find(key, ctx.now);  // expired keys go now
      if (v == nullptr) continue;
      if (!scan.match.empty() && !glob_match(scan.match, key)) continue;
      if (scan.has_type && (scan.type_unknown || v->type() != scan.type)) continue;
      found.push_back(std::move(key));
    }
    cursor = (cursor + 1) % buckets;
    ++visited;
  } while (cursor != 0 && visited < scan.count);
  write_scan_reply(ctx.out, cursor, found);
}

KV_HANDLER(cmd_randomkey) {
  for (int tries = 0; tries < 100; ++tries) {
    const std::optional<std::string_view> key = ctx.db.random_key();
    if (!key) break;
    const std::string copy(*key);
    if (ctx.db.exists(copy, ctx.now)) return resp::write_bulk(ctx.out, copy);
  }
  resp::write_null(ctx.out);
}

namespace {

// RENAME and RENAMENX. Returns false (after replying) when nothing was renamed.
void rename_generic(Context& ctx, bool only_if_absent) {
  const std::string_view from = ctx.args[1], to = ctx.args[2];
  if (!ctx.db.exists(from, ctx.now)) return resp::write_error(ctx.out, "ERR no such key");
  if (from == to) {
    if (only_if_absent) return resp::write_integer(ctx.out, 0);
    return resp::write_ok(ctx.out);
  }
  if (only_if_absent && ctx.db.exists(to, ctx.now)) return resp::write_integer(ctx.out, 0);
  const bool was_list = ctx.db.find(from, ctx.now)->list() != nullptr;
  ctx.db.rename(from, to, ctx.now);
  if (was_list) ctx.server.signal_list_ready(to);
  if (only_if_absent) return resp::write_integer(ctx.out, 1);
  resp::write_ok(ctx.out);
}

enum ExpireFlag : unsigned { kNx = 1, kXx = 2, kGt = 4, kLt = 8 };

bool parse_expire_flags(Context& ctx, unsigned& flags) {
  flags = 0;
  for (std::size_t i = 3; i < ctx.args.size(); ++i) {
    const std::string_view a = ctx.args[i];
    if (equals_nocase(a, "nx")) flags |= kNx;
    else if (equals_nocase(a, "xx")) flags |= kXx;
    else if (equals_nocase(a, "gt")) flags |= kGt;
    else if (equals_nocase(a, "lt")) flags |= kLt;
    else {
      resp::write_error(ctx.out, "ERR Unsupported option " + std::string(a));
      return false;
    }
  }
  if ((flags & kNx) && (flags & (kXx | kGt | kLt))) {
    resp::write_error(ctx.out, "ERR NX and XX, GT or LT options at the same time are not compatible");
    return false;
  }
  if ((flags & kGt) && (flags & kLt)) {
    resp::write_error(ctx.out, "ERR GT and LT options at the same time are not compatible");
    return false;
  }
  return true;
}

}  // namespace

KV_HANDLER(cmd_renamenx) { rename_generic(ctx, true); }
KV_HANDLER(cmd_rename) { rename_generic(ctx, false); }

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT]
KV_HANDLER(cmd_expire) {
  const std::string name = lower(ctx.args[0]);
  const bool in_ms = name[0] == 'p';
  const bool absolute = name.ends_with("at");
  unsigned flags = 0;
  if (!parse_expire_flags(ctx, flags)) return;
  std::int64_t when = 0;
  if (!arg_int(ctx, ctx.args[2], when)) return;
  bool ok = in_ms || !__builtin_mul_overflow(when, 1000, &when);
  if (ok && !absolute) ok = !__builtin_add_overflow(when, ctx.now, &when);
  if (!ok) return resp::write_error(ctx.out, "ERR invalid expire time in '" + name + "' command");

  const std::string_view key = ctx.args[1];
  if (!ctx.db.exists(key, ctx.now)) return resp::write_integer(ctx.out, 0);
  const Database::Ms current = ctx.db.expire_at(key);
  const bool has_ttl = current != Database::kNoExpire;
  if (((flags & kNx) && has_ttl) || ((flags & kXx) && !has_ttl) ||
      ((flags & kGt) && (!has_ttl || when <= current)) ||
      ((flags & kLt) && has_ttl && when >= current))
    return resp::write_integer(ctx.out, 0);
  if (when <= ctx.now) {
    ctx.db.erase(key, ctx.now);  // a time in the past deletes the key
  } else {
    ctx.db.set_expire(key, when);
    ctx.db.touch(key);
  }
  resp::write_integer(ctx.out, 1);
}

// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 no such key, -1 no expiry.
KV_HANDLER(cmd_ttl) {
  const std::string name = lower(ctx.args[0]);
  const bool in_ms = name[0] == 'p';
  const bool absolute = name.ends_with("expiretime");
  const std::string_view key = ctx.args[1];
  if (!ctx.db.exists(key, ctx.now)) return resp::write_integer(ctx.out, -2);
  const Database::Ms when = ctx.db.expire_at(key);
  if (when == Database::kNoExpire) return resp::write_integer(ctx.out, -1);
  std::int64_t t = absolute ? when : std::max<std::int64_t>(when - ctx.now, 0);
  resp::write_integer(ctx.out, in_ms ? t : (t + 500) / 1000);
}

KV_HANDLER(cmd_persist) {
  const std::string_view key = ctx.args[1];
  const bool changed = ctx.db.exists(key, ctx.now) && ctx.db.persist(key);
  if (changed) ctx.db.touch(key);
  resp::write_integer(ctx.out, changed ? 1 : 0);
}

}  // namespace serverlab::kv
