// commands.hpp: the command table of kv-server and what a handler gets to work with.
//
// Every command is one row of ONE table (commands.cpp): its name, Redis's arity
// (N: exactly N words with the name; -N: at least N), flags, and a handler.
// execute() does what Redis's processCommand does before a handler runs, in the
// same order and with the same error texts:
//
//   unknown name          -> ERR unknown command 'x', with args beginning with: ...
//   wrong arity           -> ERR wrong number of arguments for 'x' command
//   not authenticated     -> NOAUTH Authentication required.
//   subscribed (RESP2)    -> ERR Can't execute 'x': only (P|S)SUBSCRIBE / ... allowed
//   inside MULTI          -> +QUEUED (the command runs at EXEC)
//
// Handlers live in cmd_*.cpp, one file per family (connection/server, keys,
// strings, lists, hashes, sets, pub/sub, transactions). A handler reads
// ctx.args (args[0] is the command name), works on ctx.db, and appends exactly
// one reply to ctx.out (pub/sub commands may append several, as Redis does).
//
// The threads model (threads_server.hpp) runs the same handlers from many
// threads: check_command() does the checks above, then it locks the shards of
// the command's keys (key_positions(): the first/last/step COMMAND reports) or,
// for a kKeyspace command, every shard; kWrite and kLockExclusive commands lock
// exclusively, the rest shared. CONFIG SET is refused there (threads_server.cpp).
//
// Who may call: Client (execute), EXEC (run_queued), on the loop thread; the
// threads model's workers (check_command, then the handler under its locks).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/resp/parser.hpp"
#include "store.hpp"

namespace serverlab::kv {

class Client;
class KvServer;

struct Context {
  KvServer& server;
  Client& client;
  Database& db;
  std::span<const std::string_view> args;
  std::string& out;
  Database::Ms now;  // ms since the epoch, one value for the whole command
};

using Handler = void (*)(Context&);

enum CommandFlag : unsigned {
  kWrite = 1u << 0,     // modifies data (COMMAND shows "write")
  kNoAuth = 1u << 1,    // runs before AUTH (AUTH, HELLO, QUIT)
  kPubSub = 1u << 2,    // allowed in subscribed mode
  kNoQueue = 1u << 3,   // runs at once inside MULTI (EXEC, DISCARD, MULTI, WATCH, QUIT)
  kNoMulti = 1u << 4,   // refused inside MULTI ("Command not allowed inside a transaction")
  kDenyOom = 1u << 5,   // may grow memory: refused (-OOM) over maxmemory when nothing can go
  // For --model threads only (threads_server.hpp):
  kKeyspace = 1u << 6,       // reads or writes the whole keyspace: locks every shard
  kLockExclusive = 1u << 7,  // exclusive locks though not a write (uses a shard's generator)
};

struct CommandSpec {
  std::string_view name;  // lower case
  int arity;
  unsigned flags;
  Handler handler;
  int first_key = 0, last_key = 0, step = 0;  // for COMMAND (redis-cli's hints)
};

// Case-insensitive lookup; nullptr for an unknown command.
const CommandSpec* find_command(std::string_view name);
std::span<const CommandSpec> all_commands();

// Runs one command for `client` (the checks above, then the handler; with the
// append-only file on, through Aof::run, which logs what changed data: aof.hpp).
void execute(KvServer& server, Client& client, std::span<const std::string_view> args);
// The same at the time `now` (EXEC: its commands see EXEC's time; the threads
// model has no loop to keep server.now() current).
void execute(KvServer& server, Client& client, std::span<const std::string_view> args,
             Database::Ms now);
// The checks alone: the command's row, or nullptr when a reply was written
// instead (unknown, arity, NOAUTH, subscribed, OOM, queued inside MULTI).
const CommandSpec* check_command(KvServer& server, Client& client,
                                 std::span<const std::string_view> args);
// The argument positions that name keys (first_key, last_key, step; a negative
// last_key counts from the end). Empty for a command without keys.
void key_positions(const CommandSpec& spec, std::size_t argc, std::vector<std::size_t>& out);

// Server counters are shared by the threads model's workers: add and read them
// with these (relaxed atomics; on x86 the read is a plain load).
inline void count(std::uint64_t& counter, std::uint64_t n = 1) {
  std::atomic_ref<std::uint64_t>(counter).fetch_add(n, std::memory_order_relaxed);
}
inline std::uint64_t counted(std::uint64_t& counter) {
  return std::atomic_ref<std::uint64_t>(counter).load(std::memory_order_relaxed);
}

// ---- small helpers the handlers share (commands.cpp)
using resp::equals_nocase;  // common/resp/parser.hpp
std::string lower(std::string_view s);
void reply_wrong_type(std::string& out);
// The pushes a subscriber receives (cmd_pubsub.cpp): ["message", channel, message], and
// ["pmessage", pattern, channel, message] for a PSUBSCRIBE pattern. Appended to out.
void write_message_push(std::string& out, std::string_view channel, std::string_view message);
void write_pmessage_push(std::string& out, std::string_view pattern, std::string_view channel,
                         std::string_view message);
void reply_not_integer(std::string& out);  // ERR value is not an integer or out of range
void reply_syntax_error(std::string& out);
void reply_wrong_arity(std::string& out, std::string_view command);
// Parses an integer argument; on failure replies ERR not-an-integer and returns false.
bool arg_int(Context& ctx, std::string_view text, std::int64_t& value);
// A long double argument (INCRBYFLOAT): "ERR value is not a valid float" on failure.
bool parse_long_double(std::string_view text, long double& value);

// Typed lookups. nullptr when the key is missing (or expired). When it holds
// another type: replies WRONGTYPE, sets `wrong` and returns nullptr. Counted in
// INFO's keyspace_hits / keyspace_misses.
std::string* lookup_string(Context& ctx, std::string_view key, bool& wrong);
List* lookup_list(Context& ctx, std::string_view key, bool& wrong);
Hash* lookup_hash(Context& ctx, std::string_view key, bool& wrong);
Set* lookup_set(Context& ctx, std::string_view key, bool& wrong);
// The expire argument of SET, GETEX, SETEX, PSETEX: a positive count of seconds or
// ms, relative or absolute. Replies ERR (not an integer, "invalid expire time in
// '<command>' command") and returns false when it is not one.
bool arg_expire(Context& ctx, std::string_view text, bool in_ms, bool absolute,
                Database::Ms& when);
// Deletes `key` if its container became empty (Redis keeps no empty list/hash/set).
void delete_if_empty(Context& ctx, std::string_view key);

// The families register their rows here (commands.cpp collects them).
#define KV_HANDLER(name) void name(Context& ctx)

}  // namespace serverlab::kv
