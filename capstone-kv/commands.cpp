// commands.cpp: the one command table, and execute(), the checks every command
// goes through before its handler (commands.hpp).
#include "commands.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "aof.hpp"
#include "client.hpp"
#include "handlers.hpp"
#include "kv_server.hpp"
#include "serverlab/resp/parser.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

namespace {

constexpr unsigned W = kWrite;
constexpr unsigned WM = kWrite | kDenyOom;  // a write that may grow memory

// name, arity, flags, handler, first key, last key, key step
const CommandSpec kCommands[] = {
    // connection and server (cmd_server.cpp)
    {"ping", -1, kPubSub, cmd_ping},
    {"echo", 2, 0, cmd_echo},
    {"quit", -1, kNoAuth | kPubSub | kNoQueue, cmd_quit},
    {"select", 2, 0, cmd_select},
    {"auth", -2, kNoAuth, cmd_auth},
    {"hello", -1, kNoAuth | kNoMulti, cmd_hello},
    {"client", -2, 0, cmd_client},
    {"command", -1, 0, cmd_command},
    {"info", -1, kKeyspace, cmd_info},
    {"config", -2, 0, cmd_config},
    {"dbsize", 1, kKeyspace, cmd_dbsize},
    {"flushdb", -1, W | kKeyspace, cmd_flushdb},
    {"flushall", -1, W | kKeyspace, cmd_flushdb},
    {"time", 1, 0, cmd_time},
    {"reset", 1, kNoAuth | kPubSub | kNoQueue, cmd_reset},
    {"save", -1, kKeyspace | kLockExclusive, cmd_save},
    {"bgsave", -1, kKeyspace | kLockExclusive, cmd_save},
    {"lastsave", 1, kKeyspace, cmd_lastsave},
    {"bgrewriteaof", 1, kKeyspace | kLockExclusive, cmd_bgrewriteaof},
    // keys (cmd_keys.cpp)
    {"del", -2, W, cmd_del, 1, -1, 1},
    {"unlink", -2, W, cmd_del, 1, -1, 1},
    {"exists", -2, 0, cmd_exists, 1, -1, 1},
    {"type", 2, 0, cmd_type, 1, 1, 1},
    {"keys", 2, kKeyspace, cmd_keys},
    {"scan", -2, kKeyspace, cmd_scan},
    {"randomkey", 1, kKeyspace | kLockExclusive, cmd_randomkey},
    {"rename", 3, W, cmd_rename, 1, 2, 1},
    {"renamenx", 3, W, cmd_renamenx, 1, 2, 1},
    {"expire", -3, W, cmd_expire, 1, 1, 1},
    {"pexpire", -3, W, cmd_expire, 1, 1, 1},
    {"expireat", -3, W, cmd_expire, 1, 1, 1},
    {"pexpireat", -3, W, cmd_expire, 1, 1, 1},
    {"ttl", 2, 0, cmd_ttl, 1, 1, 1},
    {"pttl", 2, 0, cmd_ttl, 1, 1, 1},
    {"expiretime", 2, 0, cmd_ttl, 1, 1, 1},
    {"pexpiretime", 2, 0, cmd_ttl, 1, 1, 1},
    {"persist", 2, W, cmd_persist, 1, 1, 1},
    // strings (cmd_strings.cpp)
    {"get", 2, 0, cmd_get, 1, 1, 1},
    {"set", -3, WM, cmd_set, 1, 1, 1},
    {"setnx", 3, WM, cmd_setnx, 1, 1, 1},
    {"setex", 4, WM, cmd_setex, 1, 1, 1},
    {"psetex", 4, WM, cmd_setex, 1, 1, 1},
    {"getset", 3, WM, cmd_getset, 1, 1, 1},
    {"getdel", 2, W, cmd_getdel, 1, 1, 1},
    {"getex", -2, W, cmd_getex, 1, 1, 1},
    {"mget", -2, 0, cmd_mget, 1, -1, 1},
    {"mset", -3, WM, cmd_mset, 1, -1, 2},
    {"msetnx", -3, WM, cmd_mset, 1, -1, 2},
    {"append", 3, WM, cmd_append, 1, 1, 1},
    {"strlen", 2, 0, cmd_strlen, 1, 1, 1},
    {"getrange", 4, 0, cmd_getrange, 1, 1, 1},
    {"substr", 4, 0, cmd_getrange, 1, 1, 1},
    {"setrange", 4, WM, cmd_setrange, 1, 1, 1},
    {"incr", 2, WM, cmd_incr, 1, 1, 1},
    {"decr", 2, WM, cmd_incr, 1, 1, 1},
    {"incrby", 3, WM, cmd_incr, 1, 1, 1},
    {"decrby", 3, WM, cmd_incr, 1, 1, 1},
    {"incrbyfloat", 3, WM, cmd_incrbyfloat, 1, 1, 1},
    // lists (cmd_lists.cpp)
    {"lpush", -3, WM, cmd_push, 1, 1, 1},
    {"rpush", -3, WM, cmd_push, 1, 1, 1},
    {"lpushx", -3, WM, cmd_push, 1, 1, 1},
    {"rpushx", -3, WM, cmd_push, 1, 1, 1},
    {"lpop", -2, W, cmd_pop, 1, 1, 1},
    {"rpop", -2, W, cmd_pop, 1, 1, 1},
    {"llen", 2, 0, cmd_llen, 1, 1, 1},
    {"lrange", 4, 0, cmd_lrange, 1, 1, 1},
    {"lindex", 3, 0, cmd_lindex, 1, 1, 1},
    {"lset", 4, WM, cmd_lset, 1, 1, 1},
    {"lrem", 4, W, cmd_lrem, 1, 1, 1},
    {"ltrim", 4, W, cmd_ltrim, 1, 1, 1},
    {"linsert", 5, WM, cmd_linsert, 1, 1, 1},
    {"lpos", -3, 0, cmd_lpos, 1, 1, 1},
    {"lmove", 5, WM, cmd_lmove, 1, 2, 1},
    {"rpoplpush", 3, WM, cmd_lmove, 1, 2, 1},
    {"blpop", -3, W, cmd_bpop, 1, -2, 1},
    {"brpop", -3, W, cmd_bpop, 1, -2, 1},
    {"blmove", 6, WM, cmd_blmove, 1, 2, 1},
    {"brpoplpush", 4, WM, cmd_blmove, 1, 2, 1},
    // hashes (cmd_hashes.cpp)
    {"hset", -4, WM, cmd_hset, 1, 1, 1},
    {"hmset", -4, WM, cmd_hset, 1, 1, 1},
    {"hsetnx", 4, WM, cmd_hsetnx, 1, 1, 1},
    {"hget", 3, 0, cmd_hget, 1, 1, 1},
    {"hmget", -3, 0, cmd_hmget, 1, 1, 1},
    {"hdel", -3, W, cmd_hdel, 1, 1, 1},
    {"hlen", 2, 0, cmd_hlen, 1, 1, 1},
    {"hexists", 3, 0, cmd_hexists, 1, 1, 1},
    {"hgetall", 2, 0, cmd_hgetall, 1, 1, 1},
    {"hkeys", 2, 0, cmd_hgetall, 1, 1, 1},
    {"hvals", 2, 0, cmd_hgetall, 1, 1, 1},
    {"hincrby", 4, WM, cmd_hincrby, 1, 1, 1},
    {"hincrbyfloat", 4, WM, cmd_hincrbyfloat, 1, 1, 1},
    {"hstrlen", 3, 0, cmd_hstrlen, 1, 1, 1},
    {"hrandfield", -2, 0, cmd_hrandfield, 1, 1, 1},
    {"hscan", -3, 0, cmd_hscan, 1, 1, 1},
    // sets (cmd_sets.cpp)
    {"sadd", -3, WM, cmd_sadd, 1, 1, 1},
    {"srem", -3, W, cmd_srem, 1, 1, 1},
    {"smembers", 2, 0, cmd_smembers, 1, 1, 1},
    {"sismember", 3, 0, cmd_sismember, 1, 1, 1},
    {"smismember", -3, 0, cmd_smismember, 1, 1, 1},
    {"scard", 2, 0, cmd_scard, 1, 1, 1},
    {"spop", -2, W, cmd_spop, 1, 1, 1},
    {"srandmember", -2, 0, cmd_srandmember, 1, 1, 1},
    {"smove", 4, WM, cmd_smove, 1, 2, 1},
    {"sinter", -2, 0, cmd_setop, 1, -1, 1},
    {"sunion", -2, 0, cmd_setop, 1, -1, 1},
    {"sdiff", -2, 0, cmd_setop, 1, -1, 1},
    {"sinterstore", -3, WM, cmd_setop, 1, -1, 1},
    {"sunionstore", -3, WM, cmd_setop, 1, -1, 1},
    {"sdiffstore", -3, WM, cmd_setop, 1, -1, 1},
    {"sintercard", -3, kKeyspace, cmd_sintercard},
    {"sscan", -3, 0, cmd_sscan, 1, 1, 1},
    // pub/sub (cmd_pubsub.cpp)
    {"subscribe", -2, kPubSub | kNoMulti, cmd_subscribe},
    {"unsubscribe", -1, kPubSub | kNoMulti, cmd_unsubscribe},
    {"psubscribe", -2, kPubSub | kNoMulti, cmd_psubscribe},
    {"punsubscribe", -1, kPubSub | kNoMulti, cmd_punsubscribe},
    {"publish", 3, 0, cmd_publish},
    {"pubsub", -2, 0, cmd_pubsub},
    // transactions (cmd_multi.cpp)
    {"multi", 1, kNoQueue, cmd_multi},
    {"exec", 1, kNoQueue, cmd_exec},
    {"discard", 1, kNoQueue, cmd_discard},
    {"watch", -2, kNoQueue | kLockExclusive, cmd_watch, 1, -1, 1},
    {"unwatch", 1, 0, cmd_unwatch},
};

const std::unordered_map<std::string, const CommandSpec*>& table() {
  static const auto map = [] {
    std::unordered_map<std::string, const CommandSpec*> m;
    for (const CommandSpec& spec : kCommands) m.emplace(spec.name, &spec);
    return m;
  }();
  return map;
}

// "ERR unknown command 'x', with args beginning with: 'a' 'b' " (Redis caps the
// list near 128 bytes).
void reply_unknown(std::string& out, std::span<const std::string_view> args) {
  std::string text = "ERR unknown command '" + std::string(args[0].substr(0, 128)) +
                     "', with args beginning with: ";
  std::string listed;
  for (std::size_t i = 1; i < args.size() && listed.size() < 128; ++i) {
    listed += '\'';
    listed += args[i].substr(0, 128 - listed.size());
    listed += "' ";
  }
  resp::write_error(out, text + listed);
}

bool in_subscribed_mode(const Client& c) { return c.subscriptions() > 0; }

}  // namespace

const CommandSpec* find_command(std::string_view name) {
  if (name.size() > 32) return nullptr;
  const auto& map = table();
  auto it = map.find(lower(name));
  return it == map.end() ? nullptr : it->second;
}

std::span<const CommandSpec> all_commands() { return kCommands; }

const CommandSpec* check_command(KvServer& server, Client& client,
                                 std::span<const std::string_view> args) {
  std::string& out = client.out();
  count(server.stats().commands);
  const CommandSpec* spec = find_command(args[0]);
  if (spec == nullptr) {
    if (client.multi.active) client.multi.failed = true;
    reply_unknown(out, args);
    return nullptr;
  }
  const auto argc = static_cast<int>(args.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    if (client.multi.active) client.multi.failed = true;
    reply_wrong_arity(out, spec->name);
    return nullptr;
  }
  if (!client.authenticated && !(spec->flags & kNoAuth)) {
    if (client.multi.active) client.multi.failed = true;
    resp::write_error(out, "NOAUTH Authentication required.");
    return nullptr;
  }
  if (in_subscribed_mode(client) && !(spec->flags & kPubSub)) {
    resp::write_error(out, "ERR Can't execute '" + std::string(spec->name) +
                               "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT "
                               "/ RESET are allowed in this context");
    return nullptr;
  }
  if ((spec->flags & kDenyOom) && !server.make_room()) {
    if (client.multi.active) client.multi.failed = true;
    resp::write_error(out, "OOM command not allowed when used memory > 'maxmemory'.");
    return nullptr;
  }
  if (client.multi.active && !(spec->flags & kNoQueue)) {
    if (spec->flags & kNoMulti) {
      client.multi.failed = true;
      resp::write_error(out, "ERR Command not allowed inside a transaction");
      return nullptr;
    }
    client.multi.queued.emplace_back(args.begin(), args.end());
    resp::write_simple(out, "QUEUED");
    return nullptr;
  }
  client.last_command = spec->name;
  return spec;
}

void execute(KvServer& server, Client& client, std::span<const std::string_view> args) {
  execute(server, client, args, server.now());
}

void execute(KvServer& server, Client& client, std::span<const std::string_view> args,
             Database::Ms now) {
  const CommandSpec* spec = check_command(server, client, args);
  if (spec == nullptr) return;
  Context ctx{server, client, server.db(), args, client.out(), now};
  if (Aof* aof = server.aof()) return aof->run(ctx, *spec);  // logs what changed data
  spec->handler(ctx);
}

void key_positions(const CommandSpec& spec, std::size_t argc, std::vector<std::size_t>& out) {
  out.clear();
  if (spec.first_key <= 0 || spec.step <= 0) return;
  const long last = spec.last_key < 0 ? static_cast<long>(argc) + spec.last_key : spec.last_key;
  for (long i = spec.first_key; i <= last && i < static_cast<long>(argc); i += spec.step)
    out.push_back(static_cast<std::size_t>(i));
}

// ---- helpers

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

void reply_wrong_type(std::string& out) {
  resp::write_error(out, "WRONGTYPE Operation against a key holding the wrong kind of value");
}
void reply_not_integer(std::string& out) {
  resp::write_error(out, "ERR value is not an integer or out of range");
}
void reply_syntax_error(std::string& out) { resp::write_error(out, "ERR syntax error"); }
void reply_wrong_arity(std::string& out, std::string_view command) {
  resp::write_error(out, "ERR wrong number of arguments for '" + lower(command) + "' command");
}

bool arg_int(Context& ctx, std::string_view text, std::int64_t& value) {
  if (resp::parse_int64(text, value)) return true;
  reply_not_integer(ctx.out);
  return false;
}

namespace {

template <typename T, T* (Value::*Get)()>
T* lookup(Context& ctx, std::string_view key, bool& wrong) {
  wrong = false;
  Value* v = ctx.db.find(key, ctx.now);
  Stats& stats = ctx.server.stats();
  if (v == nullptr) {
    count(stats.keyspace_misses);
    return nullptr;
  }
  count(stats.keyspace_hits);
  T* typed = (v->*Get)();
  if (typed == nullptr) {
    wrong = true;
    reply_wrong_type(ctx.out);
  }
  return typed;
}

}  // namespace

std::string* lookup_string(Context& ctx, std::string_view key, bool& wrong) {
  return lookup<std::string, &Value::string>(ctx, key, wrong);
}
List* lookup_list(Context& ctx, std::string_view key, bool& wrong) {
  return lookup<List, &Value::list>(ctx, key, wrong);
}
Hash* lookup_hash(Context& ctx, std::string_view key, bool& wrong) {
  return lookup<Hash, &Value::hash>(ctx, key, wrong);
}
Set* lookup_set(Context& ctx, std::string_view key, bool& wrong) {
  return lookup<Set, &Value::set>(ctx, key, wrong);
}

bool arg_expire(Context& ctx, std::string_view text, bool in_ms, bool absolute,
                Database::Ms& when) {
  std::int64_t n = 0;
  if (!arg_int(ctx, text, n)) return false;
  bool ok = n > 0;
  if (ok && !in_ms) ok = !__builtin_mul_overflow(n, 1000, &n);
  if (ok && !absolute) ok = !__builtin_add_overflow(n, ctx.now, &n);
  if (!ok) {
    resp::write_error(ctx.out, "ERR invalid expire time in '" + lower(ctx.args[0]) + "' command");
    return false;
  }
  when = n;
  return true;
}

void delete_if_empty(Context& ctx, std::string_view key) {
  Value* v = ctx.db.find(key, ctx.now);
  if (v != nullptr && v->empty_container()) ctx.db.erase(key, ctx.now);
}

// Redis's string2ld: strtold over the whole text, no blanks, no NaN.
bool parse_long_double(std::string_view text, long double& value) {
  if (text.empty() || text.size() > 5000) return false;
  if (std::isspace(static_cast<unsigned char>(text.front()))) return false;
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  value = std::strtold(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return false;
  if (std::isnan(value)) return false;
  if (errno == ERANGE && (value == HUGE_VALL || value == -HUGE_VALL || value == 0)) return false;
  return true;
}

}  // namespace serverlab::kv
