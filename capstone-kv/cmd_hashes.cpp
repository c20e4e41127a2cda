// cmd_hashes.cpp: hash commands: HSET HMSET HSETNX HGET HMGET HDEL HLEN HEXISTS
// HGETALL HKEYS HVALS HINCRBY HINCRBYFLOAT HSTRLEN HRANDFIELD HSCAN.
#include <cmath>
#include <random>

#include "handlers.hpp"
#include "kv_server.hpp"
#include "scan.hpp"
#include "serverlab/resp/parser.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

namespace {

// The hash at `key`, created when missing; nullptr after a WRONGTYPE reply.
Hash* hash_for_write(Context& ctx, std::string_view key) {
  bool wrong = false;
  Hash* h = lookup_hash(ctx, key, wrong);
  if (wrong) return nullptr;
  if (h == nullptr) h = ctx.db.set(key, Value::new_hash(), ctx.now).hash();
  return h;
}

}  // namespace

// HSET key field value [field value ...] (HMSET: replies OK)
KV_HANDLER(cmd_hset) {
  if (ctx.args.size() % 2 != 0) return reply_wrong_arity(ctx.out, ctx.args[0]);
  Hash* h = hash_for_write(ctx, ctx.args[1]);
  if (h == nullptr) return;
  std::int64_t added = 0;
  for (std::size_t i = 2; i < ctx.args.size(); i += 2) {
    auto [it, inserted] = h->try_emplace(std::string(ctx.args[i]));
    it->second = std::string(ctx.args[i + 1]);
    added += inserted ? 1 : 0;
  }
  ctx.db.touch(ctx.args[1]);
  if (equals_nocase(ctx.args[0], "hmset")) return resp::write_ok(ctx.out);
  resp::write_integer(ctx.out, added);
}

KV_HANDLER(cmd_hsetnx) {
  Hash* h = hash_for_write(ctx, ctx.args[1]);
  if (h == nullptr) return;
  const bool inserted = h->try_emplace(std::string(ctx.args[2]), ctx.args[3]).second;
  if (inserted) ctx.db.touch(ctx.args[1]);
  resp::write_integer(ctx.out, inserted ? 1 : 0);
}

KV_HANDLER(cmd_hget) {
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  auto it = h ? h->find(ctx.args[2]) : Hash::iterator{};
  if (h == nullptr || it == h->end()) return resp::write_null(ctx.out);
  resp::write_bulk(ctx.out, it->second);
}

KV_HANDLER(cmd_hmget) {
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  resp::write_array_header(ctx.out, ctx.args.size() - 2);
  for (std::size_t i = 2; i < ctx.args.size(); ++i) {
    auto it = h ? h->find(ctx.args[i]) : Hash::iterator{};
    if (h == nullptr || it == h->end()) resp::write_null(ctx.out);
    else resp::write_bulk(ctx.out, it->second);
  }
}

KV_HANDLER(cmd_hdel) {
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  std::int64_t removed = 0;
  for (std::size_t i = 2; h != nullptr && i < ctx.args.size(); ++i) {
    auto it = h->find(ctx.args[i]);
    if (it == h->end()) continue;
    h->erase(it);
    ++removed;
  }
  if (removed > 0) {
    ctx.db.touch(ctx.args[1]);
    delete_if_empty(ctx, ctx.args[1]);
  }
  resp::write_integer(ctx.out, removed);
}

KV_HANDLER(cmd_hlen) {
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  resp::write_integer(ctx.out, h ? static_cast<std::int64_t>(h->size()) : 0);
}

KV_HANDLER(cmd_hexists) {
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  resp::write_integer(ctx.out, h && h->count(ctx.args[2]) ? 1 : 0);
}

// HGETALL, HKEYS, HVALS
KV_HANDLER(cmd_hgetall) {
  const std::string name = lower(ctx.args[0]);
  const bool keys = name != "hvals", values = name != "hkeys";
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (h == nullptr) return resp::write_array_header(ctx.out, 0);
  resp::write_array_header(ctx.out, h->size() * ((keys && values) ? 2 : 1));
  for (const auto& [field, value] : *h) {
    if (keys) resp::write_bulk(ctx.out, field);
    if (values) resp::write_bulk(ctx.out, value);
  }
}

KV_HANDLER(cmd_hincrby) {
  std::int64_t by = 0;
  if (!arg_int(ctx, ctx.args[3], by)) return;
  Hash* h = hash_for_write(ctx, ctx.args[1]);
  if (h == nullptr) return;
  auto it = h->find(ctx.args[2]);
  std::int64_t value = 0;
  if (it != h->end() && !resp::parse_int64(it->second, value)) {
    return resp::write_error(ctx.out, "ERR hash value is not an integer");
  }
  if (__builtin_add_overflow(value, by, &value)) {
    delete_if_empty(ctx, ctx.args[1]);  // a hash made just now holds nothing
    return resp::write_error(ctx.out, "ERR increment or decrement would overflow");
  }
  (*h)[std::string(ctx.args[2])] = std::to_string(value);
  ctx.db.touch(ctx.args[1]);
  resp::write_integer(ctx.out, value);
}

KV_HANDLER(cmd_hincrbyfloat) {
  long double by = 0;
  if (!parse_long_double(ctx.args[3], by))
    return resp::write_error(ctx.out, "ERR value is not a valid float");
  Hash* h = hash_for_write(ctx, ctx.args[1]);
  if (h == nullptr) return;
  auto it = h->find(ctx.args[2]);
  long double value = 0;
  if (it != h->end() && !parse_long_double(it->second, value))
    return resp::write_error(ctx.out, "ERR hash value is not a float");
  value += by;
  if (std::isnan(value) || std::isinf(value)) {
    delete_if_empty(ctx, ctx.args[1]);
    return resp::write_error(ctx.out, "ERR increment would produce NaN or Infinity");
  }
  std::string text = resp::format_double(value);
  (*h)[std::string(ctx.args[2])] = text;
  ctx.db.touch(ctx.args[1]);
  resp::write_bulk(ctx.out, text);
}

KV_HANDLER(cmd_hstrlen) {
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  auto it = h ? h->find(ctx.args[2]) : Hash::iterator{};
  resp::write_integer(ctx.out, h && it != h->end() ? static_cast<std::int64_t>(it->second.size()) : 0);
}

// HRANDFIELD key [count [WITHVALUES]]: count > 0 distinct fields, < 0 may repeat.
KV_HANDLER(cmd_hrandfield) {
  if (ctx.args.size() > 4) return reply_syntax_error(ctx.out);
  std::int64_t count = 1;
  const bool has_count = ctx.args.size() >= 3;
  if (has_count && !arg_int(ctx, ctx.args[2], count)) return;
  if (count < -(INT64_MAX / 2) || count > INT64_MAX / 2)
    return resp::write_error(ctx.out, "ERR value is out of range");
  const bool with_values = ctx.args.size() == 4;
  if (with_values && !equals_nocase(ctx.args[3], "withvalues")) return reply_syntax_error(ctx.out);
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (h == nullptr) return has_count ? resp::write_array_header(ctx.out, 0) : resp::write_null(ctx.out);
  std::vector<const std::pair<const std::string, std::string>*> all;
  for (const auto& entry : *h) all.push_back(&entry);
  auto& rng = ctx.db.random();
  std::vector<const std::pair<const std::string, std::string>*> chosen;
  if (!has_count || count < 0) {
    const std::uint64_t n = has_count ? static_cast<std::uint64_t>(-(count + 1)) + 1 : 1;
    std::uniform_int_distribution<std::size_t> pick(0, all.size() - 1);
    for (std::uint64_t i = 0; i < n; ++i) chosen.push_back(all[pick(rng)]);
  } else {
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(std::min<std::size_t>(all.size(), static_cast<std::size_t>(count)));
    chosen = all;
  }
  if (!has_count) return resp::write_bulk(ctx.out, chosen[0]->first);
  resp::write_array_header(ctx.out, chosen.size() * (with_values ? 2 : 1));
  for (const auto* entry : chosen) {
    resp::write_bulk(ctx.out, entry->first);
    if (with_values) resp::write_bulk(ctx.out, entry->second);
  }
}

KV_HANDLER(cmd_hscan) {
  ScanArgs scan;
  if (!parse_scan_args(ctx, 2, false, scan)) return;
  bool wrong = false;
  Hash* h = lookup_hash(ctx, ctx.args[1], wrong);
  if (wrong) return;
  std::vector<std::string> items;
  std::size_t next = 0;
  if (h != nullptr && !h->empty()) {
    next = scan_buckets(*h, scan.cursor, scan.count, [&](const auto& entry) {
      if (!scan.match.empty() && !glob_match(scan.match, entry.first)) return;
      items.push_back(entry.first);
      items.push_back(entry.second);
    });
  }
  write_scan_reply(ctx.out, next, items);
}

}  // namespace serverlab::kv
