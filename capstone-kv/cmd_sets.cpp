// cmd_sets.cpp: set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
// SRANDMEMBER SMOVE SINTER SUNION SDIFF (and their STORE forms) SINTERCARD SSCAN.
#include <random>

#include "aof.hpp"
#include "handlers.hpp"
#include "kv_server.hpp"
#include "scan.hpp"
#include "serverlab/resp/parser.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

namespace {

void write_members(std::string& out, const std::vector<std::string>& members) {
  resp::write_array_header(out, members.size());
  for (const std::string& m : members) resp::write_bulk(out, m);
}

// Loads the sets named by args[first, last) (a missing key is an empty set).
// False after a WRONGTYPE reply. A null entry stands for a missing key.
bool load_sets(Context& ctx, std::size_t first, std::size_t last, std::vector<const Set*>& sets) {
  for (std::size_t i = first; i < last; ++i) {
    bool wrong = false;
    const Set* s = lookup_set(ctx, ctx.args[i], wrong);
    if (wrong) return false;
    sets.push_back(s);
  }
  return true;
}

enum class SetOp { Inter, Union, Diff };

StringSet combine(const std::vector<const Set*>& sets, SetOp op) {
  StringSet result;
  if (sets.empty()) return result;
  switch (op) {
    case SetOp::Union:
      for (const Set* s : sets) {
        if (s) result.insert(s->begin(), s->end());
      }
      break;
    case SetOp::Diff:
      if (sets[0] == nullptr) break;
      for (const std::string& m : *sets[0]) {
        bool elsewhere = false;
        for (std::size_t i = 1; i < sets.size() && !elsewhere; ++i) elsewhere = sets[i] && sets[i]->count(m);
        if (!elsewhere) result.insert(m);
      }
      break;
    case SetOp::Inter: {
      const Set* smallest = nullptr;
      for (const Set* s : sets) {
        if (s == nullptr) return result;  // a missing key: the intersection is empty
        if (smallest == nullptr || s->size() < smallest->size()) smallest = s;
      }
      for (const std::string& m : *smallest) {
        bool everywhere = true;
        for (const Set* s : sets) everywhere = everywhere && (s == smallest || s->count(m));
        if (everywhere) result.insert(m);
      }
      break;
    }
  }
  return result;
}

// SPOP/SRANDMEMBER's count: Redis's range check.
bool arg_count(Context& ctx, std::string_view text, std::int64_t& count) {
  if (!arg_int(ctx, text, count)) return false;
  if (count < -(INT64_MAX / 2) || count > INT64_MAX / 2) {
    resp::write_error(ctx.out, "ERR value is out of range");
    return false;
  }
  return true;
}

}  // namespace

KV_HANDLER(cmd_sadd) {
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (s == nullptr) s = ctx.db.set(ctx.args[1], Value::new_set(), ctx.now).set();
  std::int64_t added = 0;
  for (std::size_t i = 2; i < ctx.args.size(); ++i) added += s->emplace(ctx.args[i]).second ? 1 : 0;
  if (added > 0) ctx.db.touch(ctx.args[1]);
  resp::write_integer(ctx.out, added);
}

KV_HANDLER(cmd_srem) {
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  std::int64_t removed = 0;
  for (std::size_t i = 2; s != nullptr && i < ctx.args.size(); ++i) {
    auto it = s->find(ctx.args[i]);
    if (it == s->end()) continue;
    s->erase(it);
    ++removed;
  }
  if (removed > 0) {
    ctx.db.touch(ctx.args[1]);
    delete_if_empty(ctx, ctx.args[1]);
  }
  resp::write_integer(ctx.out, removed);
}

KV_HANDLER(cmd_smembers) {
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (s == nullptr) return resp::write_array_header(ctx.out, 0);
  write_members(ctx.out, {s->begin(), s->end()});
}

KV_HANDLER(cmd_sismember) {
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  resp::write_integer(ctx.out, s && s->count(ctx.args[2]) ? 1 : 0);
}

KV_HANDLER(cmd_smismember) {
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  resp::write_array_header(ctx.out, ctx.args.size() - 2);
  for (std::size_t i = 2; i < ctx.args.size(); ++i)
    resp::write_integer(ctx.out, s && s->count(ctx.args[i]) ? 1 : 0);
}

KV_HANDLER(cmd_scard) {
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  resp::write_integer(ctx.out, s ? static_cast<std::int64_t>(s->size()) : 0);
}

// SPOP key [count]
KV_HANDLER(cmd_spop) {
  if (ctx.args.size() > 3) return reply_syntax_error(ctx.out);
  const bool has_count = ctx.args.size() == 3;
  std::int64_t count = 1;
  if (has_count && (!resp::parse_int64(ctx.args[2], count) || count < 0))
    return resp::write_error(ctx.out, "ERR value is out of range, must be positive");
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (s == nullptr) return has_count ? resp::write_array_header(ctx.out, 0) : resp::write_null(ctx.out);
  std::vector<std::string> all(s->begin(), s->end());
  std::shuffle(all.begin(), all.end(), ctx.db.random());
  all.resize(std::min<std::size_t>(all.size(), static_cast<std::size_t>(count)));
  for (const std::string& m : all) s->erase(m);
  if (!all.empty()) {
    ctx.db.touch(ctx.args[1]);
    delete_if_empty(ctx, ctx.args[1]);
    if (Aof* aof = ctx.server.aof()) {  // random: log which members went (aof.hpp)
      std::vector<std::string> words{"SREM", std::string(ctx.args[1])};
      words.insert(words.end(), all.begin(), all.end());
      aof->log_instead(std::move(words));
    }
  }
  if (!has_count) return resp::write_bulk(ctx.out, all[0]);
  write_members(ctx.out, all);
}

// SRANDMEMBER key [count]: count > 0 distinct members, < 0 may repeat.
KV_HANDLER(cmd_srandmember) {
  if (ctx.args.size() > 3) return reply_syntax_error(ctx.out);
  const bool has_count = ctx.args.size() == 3;
  std::int64_t count = 1;
  if (has_count && !arg_count(ctx, ctx.args[2], count)) return;
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (s == nullptr) return has_count ? resp::write_array_header(ctx.out, 0) : resp::write_null(ctx.out);
  std::vector<std::string> all(s->begin(), s->end());
  auto& rng = ctx.db.random();
  std::vector<std::string> chosen;
  if (count < 0 || !has_count) {
    std::uniform_int_distribution<std::size_t> pick(0, all.size() - 1);
    const std::uint64_t n = has_count ? static_cast<std::uint64_t>(-count) : 1;
    for (std::uint64_t i = 0; i < n; ++i) chosen.push_back(all[pick(rng)]);
  } else {
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(std::min<std::size_t>(all.size(), static_cast<std::size_t>(count)));
    chosen = std::move(all);
  }
  if (!has_count) return resp::write_bulk(ctx.out, chosen[0]);
  write_members(ctx.out, chosen);
}

KV_HANDLER(cmd_smove) {
  bool wrong = false;
  Set* from = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  Set* to = lookup_set(ctx, ctx.args[2], wrong);
  if (wrong) return;
  const std::string_view member = ctx.args[3];
  if (from == nullptr || !from->count(member)) return resp::write_integer(ctx.out, 0);
  if (from == to) return resp::write_integer(ctx.out, 1);
  from->erase(std::string(member));
  ctx.db.touch(ctx.args[1]);
  delete_if_empty(ctx, ctx.args[1]);
  if (to == nullptr) to = ctx.db.set(ctx.args[2], Value::new_set(), ctx.now).set();
  to->emplace(member);
  ctx.db.touch(ctx.args[2]);
  resp::write_integer(ctx.out, 1);
}

// SINTER SUNION SDIFF key [key ...]; SINTERSTORE SUNIONSTORE SDIFFSTORE dest key [key ...]
KV_HANDLER(cmd_setop) {
  const std::string name = lower(ctx.args[0]);
  const bool store = name.ends_with("store");
  const SetOp op = name.starts_with("sinter") ? SetOp::Inter
                   : name.starts_with("sunion") ? SetOp::Union : SetOp::Diff;
  std::vector<const Set*> sets;
  if (!load_sets(ctx, store ? 2 : 1, ctx.args.size(), sets)) return;
  StringSet result = combine(sets, op);
  if (!store) return write_members(ctx.out, {result.begin(), result.end()});
  const auto size = static_cast<std::int64_t>(result.size());
  if (result.empty()) {
    ctx.db.erase(ctx.args[1], ctx.now);
  } else {
    Value v = Value::new_set();
    *v.set() = std::move(result);
    ctx.db.set(ctx.args[1], std::move(v), ctx.now);
  }
  resp::write_integer(ctx.out, size);
}

// SINTERCARD numkeys key [key ...] [LIMIT limit]
KV_HANDLER(cmd_sintercard) {
  std::int64_t numkeys = 0;
  if (!arg_int(ctx, ctx.args[1], numkeys)) return;
  if (numkeys <= 0) return resp::write_error(ctx.out, "ERR numkeys should be greater than 0");
  if (numkeys > static_cast<std::int64_t>(ctx.args.size()) - 2)
    return resp::write_error(ctx.out, "ERR Number of keys can't be greater than number of args");
  const std::size_t last = 2 + static_cast<std::size_t>(numkeys);
  std::int64_t limit = 0;
  for (std::size_t i = last; i < ctx.args.size(); i += 2) {
    if (!equals_nocase(ctx.args[i], "limit") || i + 1 >= ctx.args.size()) return reply_syntax_error(ctx.out);
    if (!arg_int(ctx, ctx.args[i + 1], limit)) return;
    if (limit < 0) return resp::write_error(ctx.out, "ERR LIMIT can't be negative");
  }
  std::vector<const Set*> sets;
  if (!load_sets(ctx, 2, last, sets)) return;
  auto size = static_cast<std::int64_t>(combine(sets, SetOp::Inter).size());
  if (limit > 0) size = std::min(size, limit);
  resp::write_integer(ctx.out, size);
}

KV_HANDLER(cmd_sscan) {
  ScanArgs scan;
  if (!parse_scan_args(ctx, 2, false, scan)) return;
  bool wrong = false;
  Set* s = lookup_set(ctx, ctx.args[1], wrong);
  if (wrong) return;
  std::vector<std::string> items;
  std::size_t next = 0;
  if (s != nullptr && !s->empty()) {
    next = scan_buckets(*s, scan.cursor, scan.count, [&](const std::string& m) {
      if (scan.match.empty() || glob_match(scan.match, m)) items.push_back(m);
    });
  }
  write_scan_reply(ctx.out, next, items);
}

}  // namespace serverlab::kv
