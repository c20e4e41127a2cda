// cmd_strings.cpp: string commands: GET SET (all options) SETNX SETEX PSETEX GETSET
// GETDEL GETEX MGET MSET MSETNX APPEND STRLEN GETRANGE SETRANGE INCR DECR INCRBY
// DECRBY INCRBYFLOAT.
#include <cmath>

#include "handlers.hpp"
#include "kv_server.hpp"
#include "serverlab/resp/parser.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

namespace {

// The options of SET and GETEX (Redis's parseExtendedStringArgumentsOrReply).
struct StringOptions {
  bool nx = false, xx = false, get = false, keep_ttl = false, persist = false;
  bool has_expire = false;
  std::string_view expire;  // the number after EX/PX/EXAT/PXAT
  bool in_ms = false, absolute = false;
};

bool parse_string_options(Context& ctx, std::size_t first, bool is_set, StringOptions& o) {
  for (std::size_t j = first; j < ctx.args.size(); ++j) {
    const std::string_view a = ctx.args[j];
    const bool has_next = j + 1 < ctx.args.size();
    const bool expire_taken = o.has_expire || o.keep_ttl || o.persist;
    auto take_expire = [&](bool in_ms, bool absolute) {
      // The same unit twice is allowed (the last wins); two different ones are not.
      if (o.keep_ttl || o.persist || (o.has_expire && (o.in_ms != in_ms || o.absolute != absolute)))
        return false;
      o.has_expire = true;
      o.in_ms = in_ms;
      o.absolute = absolute;
      o.expire = ctx.args[++j];
      return true;
    };
    bool ok = false;
    if (is_set && equals_nocase(a, "nx")) ok = !o.xx, o.nx = true;
    else if (is_set && equals_nocase(a, "xx")) ok = !o.nx, o.xx = true;
    else if (is_set && equals_nocase(a, "get")) ok = true, o.get = true;
    else if (is_set && equals_nocase(a, "keepttl")) ok = !expire_taken, o.keep_ttl = true;
    else if (!is_set && equals_nocase(a, "persist")) ok = !expire_taken, o.persist = true;
    else if (equals_nocase(a, "ex") && has_next) ok = take_expire(false, false);
    else if (equals_nocase(a, "px") && has_next) ok = take_expire(true, false);
    else if (equals_nocase(a, "exat") && has_next) ok = take_expire(false, true);
    else if (equals_nocase(a, "pxat") && has_next) ok = take_expire(true, true);
    if (!ok) {
      reply_syntax_error(ctx.out);
      return false;
    }
  }
  return true;
}

void set_string(Context& ctx, std::string_view key, std::string_view value, bool keep_ttl = false) {
  ctx.db.set(key, Value(std::string(value)), ctx.now, keep_ttl);
}

// Applies an expire time; one in the past deletes the key (as Redis does).
void apply_expire(Context& ctx, std::string_view key, Database::Ms when) {
  if (when <= ctx.now) {
    ctx.db.erase(key, ctx.now);
  } else {
    ctx.db.set_expire(key, when);
  }
}

bool check_length(Context& ctx, std::uint64_t length) {
  if (length <= ctx.server.options().limits.max_bulk) return true;
  resp::write_error(ctx.out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  return false;
}

}  // namespace

KV_HANDLER(cmd_get) {
  bool wrong = false;
  std::string* s = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (s == nullptr) return resp::write_null(ctx.out);
  resp::write_bulk(ctx.out, *s);
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]
KV_HANDLER(cmd_set) {
  StringOptions o;
  if (!parse_string_options(ctx, 3, true, o)) return;
  Database::Ms when = 0;
  if (o.has_expire && !arg_expire(ctx, o.expire, o.in_ms, o.absolute, when)) return;
  const std::string_view key = ctx.args[1];
  bool found = false;
  if (o.get) {
    bool wrong = false;
    std::string* old = lookup_string(ctx, key, wrong);
    if (wrong) return;
    if (old) resp::write_bulk(ctx.out, *old);
    else resp::write_null(ctx.out);
    found = old != nullptr;
  } else {
    found = ctx.db.exists(key, ctx.now);
  }
  if ((o.nx && found) || (o.xx && !found)) {
    if (!o.get) resp::write_null(ctx.out);
    return;
  }
  set_string(ctx, key, ctx.args[2], o.keep_ttl);
  if (o.has_expire) apply_expire(ctx, key, when);
  if (!o.get) resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_setnx) {
  if (ctx.db.exists(ctx.args[1], ctx.now)) return resp::write_integer(ctx.out, 0);
  set_string(ctx, ctx.args[1], ctx.args[2]);
  resp::write_integer(ctx.out, 1);
}

// SETEX key seconds value, PSETEX key ms value
KV_HANDLER(cmd_setex) {
  const bool in_ms = equals_nocase(ctx.args[0], "psetex");
  Database::Ms when = 0;
  if (!arg_expire(ctx, ctx.args[2], in_ms, false, when)) return;
  set_string(ctx, ctx.args[1], ctx.args[3]);
  apply_expire(ctx, ctx.args[1], when);
  resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_getset) {
  bool wrong = false;
  std::string* old = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (old) resp::write_bulk(ctx.out, *old);
  else resp::write_null(ctx.out);
  set_string(ctx, ctx.args[1], ctx.args[2]);
}

KV_HANDLER(cmd_getdel) {
  bool wrong = false;
  std::string* s = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (s == nullptr) return resp::write_null(ctx.out);
  resp::write_bulk(ctx.out, *s);
  ctx.db.erase(ctx.args[1], ctx.now);
}

// GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]
KV_HANDLER(cmd_getex) {
  StringOptions o;
  if (!parse_string_options(ctx, 2, false, o)) return;
  Database::Ms when = 0;
  if (o.has_expire && !arg_expire(ctx, o.expire, o.in_ms, o.absolute, when)) return;
  const std::string_view key = ctx.args[1];
  bool wrong = false;
  std::string* s = lookup_string(ctx, key, wrong);
  if (wrong) return;
  if (s == nullptr) return resp::write_null(ctx.out);
  resp::write_bulk(ctx.out, *s);
  if (o.has_expire) {
    apply_expire(ctx, key, when);
    ctx.db.touch(key);
  } else if (o.persist && ctx.db.persist(key)) {
    ctx.db.touch(key);
  }
}

KV_HANDLER(cmd_mget) {
  resp::write_array_header(ctx.out, ctx.args.size() - 1);
  for (std::size_t i = 1; i < ctx.args.size(); ++i) {
    Value* v = ctx.db.find(ctx.args[i], ctx.now);
    std::string* s = v ? v->string() : nullptr;
    if (s) resp::write_bulk(ctx.out, *s);
    else resp::write_null(ctx.out);
  }
}

// MSET k v [k v ...], MSETNX: all or nothing when any key exists.
KV_HANDLER(cmd_mset) {
  if (ctx.args.size() % 2 == 0) return reply_wrong_arity(ctx.out, ctx.args[0]);
  const bool nx = equals_nocase(ctx.args[0], "msetnx");
  if (nx) {
    for (std::size_t i = 1; i < ctx.args.size(); i += 2) {
      if (ctx.db.exists(ctx.args[i], ctx.now)) return resp::write_integer(ctx.out, 0);
    }
  }
  for (std::size_t i = 1; i < ctx.args.size(); i += 2) set_string(ctx, ctx.args[i], ctx.args[i + 1]);
  if (nx) return resp::write_integer(ctx.out, 1);
  resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_append) {
  bool wrong = false;
  std::string* s = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (s == nullptr) {
    set_string(ctx, ctx.args[1], ctx.args[2]);
    return resp::write_integer(ctx.out, static_cast<std::int64_t>(ctx.args[2].size()));
  }
  if (!check_length(ctx, s->size() + ctx.args[2].size())) return;
  s->append(ctx.args[2]);
  ctx.db.touch(ctx.args[1]);
  resp::write_integer(ctx.out, static_cast<std::int64_t>(s->size()));
}

KV_HANDLER(cmd_strlen) {
  bool wrong = false;
  std::string* s = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  resp::write_integer(ctx.out, s ? static_cast<std::int64_t>(s->size()) : 0);
}

// GETRANGE key start end: inclusive, negative counts from the end (Redis 7.0's rules).
KV_HANDLER(cmd_getrange) {
  std::int64_t start = 0, end = 0;
  if (!arg_int(ctx, ctx.args[2], start) || !arg_int(ctx, ctx.args[3], end)) return;
  bool wrong = false;
  std::string* s = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  const auto len = static_cast<std::int64_t>(s ? s->size() : 0);
  if (s == nullptr || (start < 0 && end < 0 && start > end)) return resp::write_bulk(ctx.out, "");
  if (start < 0) start += len;
  if (end < 0) end += len;
  start = std::max<std::int64_t>(start, 0);
  end = std::max<std::int64_t>(end, 0);
  if (end >= len) end = len - 1;
  if (start > end || len == 0) return resp::write_bulk(ctx.out, "");
  resp::write_bulk(ctx.out, std::string_view(*s).substr(static_cast<std::size_t>(start),
                                                        static_cast<std::size_t>(end - start + 1)));
}

KV_HANDLER(cmd_setrange) {
  std::int64_t offset = 0;
  if (!arg_int(ctx, ctx.args[2], offset)) return;
  if (offset < 0) return resp::write_error(ctx.out, "ERR offset is out of range");
  const std::string_view value = ctx.args[3];
  bool wrong = false;
  std::string* s = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (value.empty()) return resp::write_integer(ctx.out, s ? static_cast<std::int64_t>(s->size()) : 0);
  const auto off = static_cast<std::uint64_t>(offset);
  if (!check_length(ctx, off + value.size())) return;
  if (s == nullptr) s = ctx.db.set(ctx.args[1], Value(std::string()), ctx.now).string();
  if (s->size() < off + value.size()) s->resize(static_cast<std::size_t>(off + value.size()), '\0');
  s->replace(static_cast<std::size_t>(off), value.size(), value);
  ctx.db.touch(ctx.args[1]);
  resp::write_integer(ctx.out, static_cast<std::int64_t>(s->size()));
}

// INCR, DECR, INCRBY n, DECRBY n. The TTL stays.
KV_HANDLER(cmd_incr) {
  const std::string name = lower(ctx.args[0]);
  std::int64_t by = 1;
  if (ctx.args.size() == 3 && !arg_int(ctx, ctx.args[2], by)) return;
  if (name.starts_with("decr")) {
    if (by == INT64_MIN) return resp::write_error(ctx.out, "ERR decrement would overflow");
    by = -by;
  }
  bool wrong = false;
  std::string* s = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  std::int64_t value = 0;
  if (s && !resp::parse_int64(*s, value)) return reply_not_integer(ctx.out);
  if (__builtin_add_overflow(value, by, &value))
    return resp::write_error(ctx.out, "ERR increment or decrement would overflow");
  if (s) {
    *s = std::to_string(value);
    ctx.db.touch(ctx.args[1]);
  } else {
    set_string(ctx, ctx.args[1], std::to_string(value));
  }
  resp::write_integer(ctx.out, value);
}

KV_HANDLER(cmd_incrbyfloat) {
  bool wrong = false;
  std::string* s = lookup_string(ctx, ctx.args[1], wrong);
  if (wrong) return;
  long double value = 0, by = 0;
  if ((s && !parse_long_double(*s, value)) || !parse_long_double(ctx.args[2], by))
    return resp::write_error(ctx.out, "ERR value is not a valid float");
  value += by;
  if (std::isnan(value) || std::isinf(value))
    return resp::write_error(ctx.out, "ERR increment would produce NaN or Infinity");
  std::string text = resp::format_double(value);
  if (s) {
    *s = text;
    ctx.db.touch(ctx.args[1]);
  } else {
    set_string(ctx, ctx.args[1], text);
  }
  resp::write_bulk(ctx.out, text);
}

}  // namespace serverlab::kv
