// cmd_lists.cpp: list commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE
// LINDEX LSET LREM LTRIM LINSERT LPOS LMOVE RPOPLPUSH and the blocking BLPOP
// BRPOP BLMOVE BRPOPLPUSH.
//
// A blocking command that finds data behaves like its plain twin. One that finds
// none (outside MULTI) parks the client in the server's blocked registry with
// its words; a push to one of its keys runs them again (kv_server.cpp), and the
// timeout, a loop timer, answers a null array.
#include <cmath>

#include "client.hpp"
#include "handlers.hpp"
#include "kv_server.hpp"
#include "serverlab/resp/parser.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

namespace {

// Resolves a list index (negative from the end); false when out of range.
bool resolve_index(std::int64_t index, std::size_t size, std::size_t& at) {
  const auto n = static_cast<std::int64_t>(size);
  if (index < 0) index += n;
  if (index < 0 || index >= n) return false;
  at = static_cast<std::size_t>(index);
  return true;
}

// LRANGE/LTRIM's inclusive range, clamped; false when it is empty.
bool resolve_range(std::int64_t start, std::int64_t end, std::size_t size, std::size_t& from,
                   std::size_t& to) {
  const auto n = static_cast<std::int64_t>(size);
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (start < 0) start = 0;
  if (start > end || start >= n) return false;
  if (end >= n) end = n - 1;
  from = static_cast<std::size_t>(start);
  to = static_cast<std::size_t>(end);
  return true;
}

std::string pop_end(List& list, bool left) {
  std::string v = std::move(left ? list.front() : list.back());
  if (left) list.pop_front();
  else list.pop_back();
  return v;
}

// LEFT / RIGHT arguments of LMOVE and BLMOVE.
bool parse_side(Context& ctx, std::string_view word, bool& left) {
  if (equals_nocase(word, "left")) left = true;
  else if (equals_nocase(word, "right")) left = false;
  else {
    reply_syntax_error(ctx.out);
    return false;
  }
  return true;
}

// Pushes onto `key` (creating the list), wakes clients blocked on it.
void push_value(Context& ctx, std::string_view key, std::string value, bool left) {
  bool wrong = false;
  List* list = lookup_list(ctx, key, wrong);
  if (list == nullptr) list = ctx.db.set(key, Value::new_list(), ctx.now).list();
  if (left) list->push_front(std::move(value));
  else list->push_back(std::move(value));
  ctx.db.touch(key);
  ctx.server.signal_list_ready(key);
}

// The move of LMOVE/BLMOVE once both keys were checked: source has data.
void do_move(Context& ctx, List& source, std::string_view from, std::string_view to,
             bool from_left, bool to_left) {
  std::string value = pop_end(source, from_left);
  ctx.db.touch(from);
  resp::write_bulk(ctx.out, value);
  delete_if_empty(ctx, from);
  push_value(ctx, to, std::move(value), to_left);
}

// Checks both keys of a move; false (after replying) on a wrong type.
bool move_types_ok(Context& ctx, std::string_view from, std::string_view to, List*& source) {
  bool wrong = false;
  source = lookup_list(ctx, from, wrong);
  if (wrong) return false;
  if (source == nullptr) return true;
  lookup_list(ctx, to, wrong);
  return !wrong;
}

// Blocking timeout: seconds, fractional allowed, >= 0 (0: forever).
bool parse_timeout(Context& ctx, std::string_view text, double& seconds) {
  long double value = 0;
  if (!parse_long_double(text, value) || std::isinf(value)) {
    resp::write_error(ctx.out, "ERR timeout is not a float or out of range");
    return false;
  }
  if (value < 0) {
    resp::write_error(ctx.out, "ERR timeout is negative");
    return false;
  }
  seconds = static_cast<double>(value);
  return true;
}

void block_client(Context& ctx, std::vector<std::string> keys, double timeout) {
  std::vector<std::string> words(ctx.args.begin(), ctx.args.end());
  ctx.server.block(ctx.client, std::move(keys), std::move(words), timeout);
}

}  // namespace

// LPUSH RPUSH LPUSHX RPUSHX key element [element ...]
KV_HANDLER(cmd_push) {
  const std::string name = lower(ctx.args[0]);
  const bool left = name[0] == 'l';
  const bool only_existing = name.back() == 'x';
  const std::string_view key = ctx.args[1];
  bool wrong = false;
  List* list = lookup_list(ctx, key, wrong);
  if (wrong) return;
  if (list == nullptr) {
    if (only_existing) return resp::write_integer(ctx.out, 0);
    list = ctx.db.set(key, Value::new_list(), ctx.now).list();
  }
  for (std::size_t i = 2; i < ctx.args.size(); ++i) {
    if (left) list->emplace_front(ctx.args[i]);
    else list->emplace_back(ctx.args[i]);
  }
  ctx.db.touch(key);
  ctx.server.signal_list_ready(key);
  resp::write_integer(ctx.out, static_cast<std::int64_t>(list->size()));
}

// LPOP RPOP key [count]
KV_HANDLER(cmd_pop) {
  if (ctx.args.size() > 3) return reply_syntax_error(ctx.out);
  const bool left = equals_nocase(ctx.args[0], "lpop");
  const bool has_count = ctx.args.size() == 3;
  std::int64_t count = 1;
  if (has_count && (!resp::parse_int64(ctx.args[2], count) || count < 0))
    return resp::write_error(ctx.out, "ERR value is out of range, must be positive");
  const std::string_view key = ctx.args[1];
  bool wrong = false;
  List* list = lookup_list(ctx, key, wrong);
  if (wrong) return;
  if (list == nullptr) return has_count ? resp::write_null_array(ctx.out) : resp::write_null(ctx.out);
  if (!has_count) {
    resp::write_bulk(ctx.out, pop_end(*list, left));
  } else {
    const auto n = std::min<std::size_t>(static_cast<std::size_t>(count), list->size());
    resp::write_array_header(ctx.out, n);
    for (std::size_t i = 0; i < n; ++i) resp::write_bulk(ctx.out, pop_end(*list, left));
    if (n == 0) return;
  }
  ctx.db.touch(key);
  delete_if_empty(ctx, key);
}

KV_HANDLER(cmd_llen) {
  bool wrong = false;
  List* list = lookup_list(ctx, ctx.args[1], wrong);
  if (wrong) return;
  resp::write_integer(ctx.out, list ? static_cast<std::int64_t>(list->size()) : 0);
}

KV_HANDLER(cmd_lrange) {
  std::int64_t start = 0, end = 0;
  if (!arg_int(ctx, ctx.args[2], start) || !arg_int(ctx, ctx.args[3], end)) return;
  bool wrong = false;
  List* list = lookup_list(ctx, ctx.args[1], wrong);
  if (wrong) return;
  std::size_t from = 0, to = 0;
  if (list == nullptr || !resolve_range(start, end, list->size(), from, to))
    return resp::write_array_header(ctx.out, 0);
  resp::write_array_header(ctx.out, to - from + 1);
  for (std::size_t i = from; i <= to; ++i) resp::write_bulk(ctx.out, (*list)[i]);
}

KV_HANDLER(cmd_lindex) {
  std::int64_t index = 0;
  if (!arg_int(ctx, ctx.args[2], index)) return;
  bool wrong = false;
  List* list = lookup_list(ctx, ctx.args[1], wrong);
  if (wrong) return;
  std::size_t at = 0;
  if (list == nullptr || !resolve_index(index, list->size(), at)) return resp::write_null(ctx.out);
  resp::write_bulk(ctx.out, (*list)[at]);
}

KV_HANDLER(cmd_lset) {
  std::int64_t index = 0;
  if (!arg_int(ctx, ctx.args[2], index)) return;
  bool wrong = false;
  List* list = lookup_list(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (list == nullptr) return resp::write_error(ctx.out, "ERR no such key");
  std::size_t at = 0;
  if (!resolve_index(index, list->size(), at)) return resp::write_error(ctx.out, "ERR index out of range");
  (*list)[at] = std::string(ctx.args[3]);
  ctx.db.touch(ctx.args[1]);
  resp::write_ok(ctx.out);
}

// LREM key count element: count > 0 from the head, < 0 from the tail, 0 all.
KV_HANDLER(cmd_lrem) {
  std::int64_t count = 0;
  if (!arg_int(ctx, ctx.args[2], count)) return;
  bool wrong = false;
  List* list = lookup_list(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (list == nullptr) return resp::write_integer(ctx.out, 0);
  const std::string_view element = ctx.args[3];
  std::int64_t removed = 0;
  const std::uint64_t limit = count == 0 ? UINT64_MAX : static_cast<std::uint64_t>(std::llabs(count));
  if (count >= 0) {
    for (auto it = list->begin(); it != list->end() && static_cast<std::uint64_t>(removed) < limit;) {
      if (*it == element) it = list->erase(it), ++removed;
      else ++it;
    }
  } else {
    for (std::size_t i = list->size(); i > 0 && static_cast<std::uint64_t>(removed) < limit; --i) {
      if ((*list)[i - 1] == element) list->erase(list->begin() + static_cast<std::ptrdiff_t>(i - 1)), ++removed;
    }
  }
  if (removed > 0) {
    ctx.db.touch(ctx.args[1]);
    delete_if_empty(ctx, ctx.args[1]);
  }
  resp::write_integer(ctx.out, removed);
}

KV_HANDLER(cmd_ltrim) {
  std::int64_t start = 0, end = 0;
  if (!arg_int(ctx, ctx.args[2], start) || !arg_int(ctx, ctx.args[3], end)) return;
  bool wrong = false;
  List* list = lookup_list(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (list == nullptr) return resp::write_ok(ctx.out);
  std::size_t from = 0, to = 0;
  if (!resolve_range(start, end, list->size(), from, to)) {
    list->clear();
  } else {
    list->erase(list->begin() + static_cast<std::ptrdiff_t>(to + 1), list->end());
    list->erase(list->begin(), list->begin() + static_cast<std::ptrdiff_t>(from));
  }
  ctx.db.touch(ctx.args[1]);
  delete_if_empty(ctx, ctx.args[1]);
  resp::write_ok(ctx.out);
}

// LINSERT key BEFORE|AFTER pivot element
KV_HANDLER(cmd_linsert) {
  const bool before = equals_nocase(ctx.args[2], "before");
  if (!before && !equals_nocase(ctx.args[2], "after")) return reply_syntax_error(ctx.out);
  bool wrong = false;
  List* list = lookup_list(ctx, ctx.args[1], wrong);
  if (wrong) return;
  if (list == nullptr) return resp::write_integer(ctx.out, 0);
  auto it = std::find(list->begin(), list->end(), ctx.args[3]);
  if (it == list->end()) return resp::write_integer(ctx.out, -1);
  list->emplace(before ? it : it + 1, ctx.args[4]);
  ctx.db.touch(ctx.args[1]);
  resp::write_integer(ctx.out, static_cast<std::int64_t>(list->size()));
}

// LPOS key element [RANK r] [COUNT c] [MAXLEN m]
KV_HANDLER(cmd_lpos) {
  std::int64_t rank = 1, count = -1, maxlen = 0;
  for (std::size_t i = 3; i < ctx.args.size(); i += 2) {
    const std::string_view option = ctx.args[i];
    if (i + 1 >= ctx.args.size()) return reply_syntax_error(ctx.out);
    std::int64_t n = 0;
    const bool known = equals_nocase(option, "rank") || equals_nocase(option, "count") ||
                       equals_nocase(option, "maxlen");
    if (!known) return reply_syntax_error(ctx.out);
    if (!arg_int(ctx, ctx.args[i + 1], n)) return;
    if (equals_nocase(option, "rank")) {
      if (n == 0 || n == INT64_MIN)
        return resp::write_error(ctx.out, "ERR RANK can't be zero: use 1 to start from the first "
                                          "match, 2 from the second ... or use negative to start "
                                          "from the end of the list");
      rank = n;
    } else if (equals_nocase(option, "count")) {
      if (n < 0) return resp::write_error(ctx.out, "ERR COUNT can't be negative");
      count = n;
    } else {
      if (n < 0) return resp::write_error(ctx.out, "ERR MAXLEN can't be negative");
      maxlen = n;
    }
  }
  bool wrong = false;
  List* list = lookup_list(ctx, ctx.args[1], wrong);
  if (wrong) return;
  const bool want_array = count != -1;
  std::vector<std::int64_t> found;
  if (list != nullptr) {
    const auto size = static_cast<std::int64_t>(list->size());
    const std::int64_t step = rank > 0 ? 1 : -1;
    std::int64_t skip = std::llabs(rank) - 1;
    std::int64_t i = rank > 0 ? 0 : size - 1;
    for (std::int64_t seen = 0; i >= 0 && i < size && (maxlen == 0 || seen < maxlen); i += step, ++seen) {
      if ((*list)[static_cast<std::size_t>(i)] != ctx.args[2]) continue;
      if (skip > 0) {
        --skip;
        continue;
      }
      found.push_back(i);
      if (!want_array || (count != 0 && static_cast<std::int64_t>(found.size()) >= count)) break;
    }
  }
  if (!want_array) {
    if (found.empty()) return resp::write_null(ctx.out);
    return resp::write_integer(ctx.out, found[0]);
  }
  resp::write_array_header(ctx.out, found.size());
  for (std::int64_t at : found) resp::write_integer(ctx.out, at);
}

// LMOVE source destination LEFT|RIGHT LEFT|RIGHT, RPOPLPUSH source destination
KV_HANDLER(cmd_lmove) {
  bool from_left = false, to_left = true;
  if (ctx.args.size() == 5 &&
      (!parse_side(ctx, ctx.args[3], from_left) || !parse_side(ctx, ctx.args[4], to_left)))
    return;
  List* source = nullptr;
  if (!move_types_ok(ctx, ctx.args[1], ctx.args[2], source)) return;
  if (source == nullptr) return resp::write_null(ctx.out);
  do_move(ctx, *source, ctx.args[1], ctx.args[2], from_left, to_left);
}

// BLPOP BRPOP key [key ...] timeout
KV_HANDLER(cmd_bpop) {
  double timeout = 0;
  if (!parse_timeout(ctx, ctx.args.back(), timeout)) return;
  const bool left = equals_nocase(ctx.args[0], "blpop");
  std::vector<std::string> keys;
  for (std::size_t i = 1; i + 1 < ctx.args.size(); ++i) {
    bool wrong = false;
    List* list = lookup_list(ctx, ctx.args[i], wrong);
    if (wrong) return;
    if (list != nullptr) {
      resp::write_array_header(ctx.out, 2);
      resp::write_bulk(ctx.out, ctx.args[i]);
      resp::write_bulk(ctx.out, pop_end(*list, left));
      ctx.db.touch(ctx.args[i]);
      return delete_if_empty(ctx, ctx.args[i]);
    }
    keys.emplace_back(ctx.args[i]);
  }
  // Inside MULTI (and so in EXEC) a blocking command does not block: it answers null.
  if (ctx.client.multi.active || ctx.client.in_exec) return resp::write_null_array(ctx.out);
  block_client(ctx, std::move(keys), timeout);
}

// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout, BRPOPLPUSH source destination timeout
KV_HANDLER(cmd_blmove) {
  bool from_left = false, to_left = true;
  if (ctx.args.size() == 6 &&
      (!parse_side(ctx, ctx.args[3], from_left) || !parse_side(ctx, ctx.args[4], to_left)))
    return;
  double timeout = 0;
  if (!parse_timeout(ctx, ctx.args.back(), timeout)) return;
  List* source = nullptr;
  if (!move_types_ok(ctx, ctx.args[1], ctx.args[2], source)) return;
  if (source != nullptr) return do_move(ctx, *source, ctx.args[1], ctx.args[2], from_left, to_left);
  if (ctx.client.multi.active || ctx.client.in_exec) return resp::write_null(ctx.out);
  block_client(ctx, {std::string(ctx.args[1])}, timeout);
}

}  // namespace serverlab::kv
