// cmd_server.cpp: connection and server commands: PING ECHO QUIT SELECT AUTH HELLO
// CLIENT COMMAND INFO CONFIG DBSIZE FLUSHDB FLUSHALL TIME RESET.
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "aof.hpp"
#include "client.hpp"
#include "glob.hpp"
#include "handlers.hpp"
#include "kv_server.hpp"
#include "threads_server.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

namespace {

constexpr std::string_view kVersion = "7.0.15";  // the Redis version whose behaviour we follow

std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

void reply_unknown_subcommand(Context& ctx, std::string_view command) {
  resp::write_error(ctx.out, "ERR unknown subcommand '" + std::string(ctx.args[1].substr(0, 128)) +
                                 "'. Try " + std::string(command) + " HELP.");
}

bool check_password(Context& ctx, std::string_view user, std::string_view password) {
  const std::string& required = ctx.server.options().requirepass;
  if (user == "default" && password == required) {
    ctx.client.authenticated = true;
    return true;
  }
  resp::write_error(ctx.out, "WRONGPASS invalid username-password pair or user is disabled.");
  return false;
}

bool valid_client_name(std::string_view name) {
  for (char c : name) {
    if (c < '!' || c > '~') return false;  // Redis: no spaces, newlines, non-printables
  }
  return true;
}

// CONFIG RESETSTAT: every counter to 0, each with a relaxed atomic store (the
// threads model's workers may be adding to them: count(), commands.hpp).
void reset_stats(Stats& st) {
  static_assert(sizeof(Stats) == 11 * sizeof(std::uint64_t), "a new counter: reset it here");
  for (std::uint64_t* c : {&st.connections, &st.rejected, &st.commands, &st.keyspace_hits,
                           &st.keyspace_misses, &st.expired_lazy, &st.bytes_in, &st.bytes_out,
                           &st.pubsub_messages, &st.output_limit_disconnects, &st.timeouts})
    std::atomic_ref<std::uint64_t>(*c).store(0, std::memory_order_relaxed);
}

std::string client_line(const KvServer& server, const ClientInfo& c, std::int64_t now_mono) {
  char line[512];
  std::snprintf(line, sizeof line,
                "id=%llu addr=%s laddr=127.0.0.1:%u fd=%d name=%s age=%lld idle=%lld flags=%c db=0 "
                "sub=%zu psub=%zu multi=%d qbuf=0 obl=0 oll=0 omem=%zu cmd=%s user=default\n",
                static_cast<unsigned long long>(c.id), c.peer.c_str(), server.port(), c.fd,
                c.name.c_str(), static_cast<long long>((now_mono - c.created_ms) / 1000),
                static_cast<long long>((now_mono - c.last_active_ms) / 1000), c.flag,
                c.channels, c.patterns, c.multi, c.output, c.last_command.c_str());
  return line;
}

// The parameters CONFIG GET/SET know. Read-only ones are reported for clients
// (redis-cli, redis-benchmark ask for "save" and "appendonly").
struct ConfigParam {
  std::string_view name;
  bool writable;
};
constexpr ConfigParam kParams[] = {
    {"maxclients", true}, {"timeout", true},     {"requirepass", true}, {"hz", true},
    {"proto-max-bulk-len", true}, {"databases", false}, {"save", false},
    {"appendonly", false}, {"maxmemory", true}, {"maxmemory-policy", true}, {"port", false},
    {"appendfilename", false}, {"appendfsync", true}, {"dir", false}, {"dbfilename", false},
};

std::string config_value(KvServer& server, std::string_view name) {
  const KvOptions& o = server.options();
  if (name == "maxclients") return std::to_string(o.max_clients);
  if (name == "timeout") return std::to_string(static_cast<long long>(o.idle_timeout));
  if (name == "requirepass") return o.requirepass;
  if (name == "hz") return std::to_string(o.hz);
  if (name == "proto-max-bulk-len") return std::to_string(o.limits.max_bulk);
  if (name == "databases") return "1";
  if (name == "save") return "";
  if (name == "appendonly") return o.appendonly ? "yes" : "no";
  if (name == "appendfilename") return o.appendfilename;
  if (name == "appendfsync") return o.appendfsync;
  if (name == "dir") return o.dir;
  if (name == "dbfilename") return o.dbfilename;
  if (name == "maxmemory") return std::to_string(o.maxmemory);
  if (name == "maxmemory-policy") return o.maxmemory_policy;
  if (name == "port") return std::to_string(server.port());
  return "";
}

// Applies one CONFIG SET pair to `o`, a copy of the options that CONFIG SET
// publishes if every pair applies; returns an error text or "" when done.
std::string config_set(KvServer& server, KvOptions& o, std::string_view name,
                       std::string_view value) {
  std::int64_t n = 0;
  const bool numeric = resp::parse_int64(value, n);
  auto bad = [&] {
    return "ERR CONFIG SET failed (possibly related to argument '" + std::string(name) +
           "') - argument couldn't be parsed into an integer";
  };
  if (name == "requirepass") {
    o.requirepass = std::string(value);
    return "";
  }
  if (name == "maxmemory-policy") {
    const std::string policy = lower(value);
    if (policy != "noeviction" && policy != "allkeys-lru")
      return "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
             "argument(s) must be one of the following: noeviction, allkeys-lru";
    if (policy == "allkeys-lru" && server.threads() != nullptr)
      return "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
             "allkeys-lru is not supported with --model threads";
    o.maxmemory_policy = policy;
    return "";
  }
  if (name == "appendfsync") {
    const std::string policy = lower(value);
    const std::optional<AofFsync> parsed = parse_aof_fsync(policy);
    if (!parsed)
      return "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - "
             "argument(s) must be one of the following: always, everysec, no";
    o.appendfsync = policy;
    return "";
  }
  if (name == "maxmemory") {
    const std::optional<std::uint64_t> bytes = Flags::parse_size(value);
    if (!bytes) return bad();
    o.maxmemory = *bytes;
    return "";
  }
  if (!numeric) return bad();
  if (name == "maxclients" && n >= 1) o.max_clients = static_cast<std::size_t>(n);
  else if (name == "timeout" && n >= 0) o.idle_timeout = static_cast<double>(n);
  else if (name == "hz" && n >= 1) o.hz = static_cast<int>(std::min<std::int64_t>(n, 500));
  else if (name == "proto-max-bulk-len" && n >= 1024 * 1024) o.limits.max_bulk = static_cast<std::uint64_t>(n);
  else
    return "ERR CONFIG SET failed (possibly related to argument '" + std::string(name) +
           "') - argument must be between its limits";
  return "";
}

void config_get(Context& ctx) {
  std::vector<std::pair<std::string, std::string>> found;
  for (std::size_t i = 2; i < ctx.args.size(); ++i) {
    for (const ConfigParam& p : kParams) {
      if (!glob_match(ctx.args[i], p.name, true)) continue;
      bool seen = false;
      for (auto& f : found) seen = seen || f.first == p.name;
      if (!seen) found.emplace_back(p.name, config_value(ctx.server, p.name));
    }
  }
  resp::write_array_header(ctx.out, found.size() * 2);
  for (auto& [k, v] : found) {
    resp::write_bulk(ctx.out, k);
    resp::write_bulk(ctx.out, v);
  }
}

void write_command_info(std::string& out, const CommandSpec& spec) {
  resp::write_array_header(out, 6);
  resp::write_bulk(out, spec.name);
  resp::write_integer(out, spec.arity);
  resp::write_array_header(out, 1);
  resp::write_simple(out, (spec.flags & kWrite) ? "write" : "readonly");
  resp::write_integer(out, spec.first_key);
  resp::write_integer(out, spec.last_key);
  resp::write_integer(out, spec.step);
}

std::string info_text(Context& ctx, std::string_view section) {
  KvServer& s = ctx.server;
  Stats& st = s.stats();  // read with counted(): workers of the threads model add to it
  const bool all = section.empty() || equals_nocase(section, "all") ||
                   equals_nocase(section, "everything") || equals_nocase(section, "default");
  auto want = [&](std::string_view name) { return all || equals_nocase(section, name); };
  std::string text;
  auto line = [&](std::string_view k, const std::string& v) {
    text += k;
    text += ':';
    text += v;
    text += "\r\n";
  };
  if (want("server")) {
    text += "# Server\r\n";
    line("redis_version", std::string(kVersion));
    line("kv_server", "serverlab capstone-kv");
    line("redis_mode", "standalone");
    line("multiplexing_api", "epoll");
    line("process_id", std::to_string(::getpid()));
    line("tcp_port", std::to_string(s.port()));
    line("uptime_in_seconds", std::to_string((ctx.now - s.start_ms()) / 1000));
    line("hz", std::to_string(s.options().hz));
    text += "\r\n";
  }
  if (want("clients")) {
    std::size_t blocked = 0, pubsub = 0;
    for (const auto& c : s.clients()) {
      blocked += c->blocked.active ? 1 : 0;
      pubsub += c->subscriptions() > 0 ? 1 : 0;
    }
    std::size_t connected = s.client_count();
    if (const ThreadsServer* threads = s.threads()) {  // --model threads: its own registries
      connected = threads->connected_clients();
      blocked = threads->blocked_clients();
      pubsub = threads->pubsub_clients();
    }
    text += "# Clients\r\n";
    line("connected_clients", std::to_string(connected));
    line("maxclients", std::to_string(s.options().max_clients));
    line("blocked_clients", std::to_string(blocked));
    line("pubsub_clients", std::to_string(pubsub));
    text += "\r\n";
  }
  if (want("memory")) {
    text += "# Memory\r\n";
    line("used_memory", std::to_string(KvServer::used_memory()));
    line("used_memory_rss", std::to_string(rss_bytes()));
    line("maxmemory", std::to_string(s.options().maxmemory));
    line("maxmemory_policy", s.options().maxmemory_policy);
    text += "\r\n";
  }
  if (want("persistence")) {
    text += "# Persistence\r\n";
    line("rdb_enabled", s.persistence_on() ? "1" : "0");
    line("rdb_bgsave_in_progress", s.bgsave_running() ? "1" : "0");
    line("rdb_last_save_time", std::to_string(s.lastsave()));
    Aof* aof = s.aof();
    line("aof_enabled", aof ? "1" : "0");
    line("aof_rewrite_in_progress", aof && aof->rewrite_running() ? "1" : "0");
    const std::optional<bool> rewrite = aof ? aof->last_rewrite_ok() : std::nullopt;
    line("aof_last_bgrewrite_status", rewrite.value_or(true) ? "ok" : "err");
    line("aof_last_write_status", !aof || aof->write_ok() ? "ok" : "err");
    text += "\r\n";
  }
  if (want("stats")) {
    const ExpireStats& ex = s.db().expire_stats();
    text += "# Stats\r\n";
    line("total_connections_received", std::to_string(counted(st.connections)));
    line("total_commands_processed", std::to_string(counted(st.commands)));
    line("total_net_input_bytes", std::to_string(counted(st.bytes_in)));
    line("total_net_output_bytes", std::to_string(counted(st.bytes_out)));
    line("rejected_connections", std::to_string(counted(st.rejected)));
    line("expired_keys", std::to_string(ex.expired));
    line("evicted_keys", std::to_string(s.db().evicted()));
    line("expired_keys_sampled", std::to_string(ex.sampled));
    line("active_expire_cycles", std::to_string(ex.cycles));
    line("keyspace_hits", std::to_string(counted(st.keyspace_hits)));
    line("keyspace_misses", std::to_string(counted(st.keyspace_misses)));
    line("pubsub_channels", std::to_string(s.channels("").size()));
    line("pubsub_patterns", std::to_string(s.pattern_count()));
    line("client_output_limit_disconnections", std::to_string(counted(st.output_limit_disconnects)));
    line("client_idle_timeouts", std::to_string(counted(st.timeouts)));
    text += "\r\n";
  }
  if (want("keyspace")) {
    text += "# Keyspace\r\n";
    if (s.db().size() > 0) {
      line("db0", "keys=" + std::to_string(s.db().size()) +
                      ",expires=" + std::to_string(s.db().expires_count()) + ",avg_ttl=0");
    }
  }
  return text;
}

}  // namespace

KV_HANDLER(cmd_ping) {
  if (ctx.args.size() > 2) return reply_wrong_arity(ctx.out, "ping");
  if (ctx.client.subscriptions() > 0) {  // RESP2 subscribers get a push-shaped pong
    resp::write_array_header(ctx.out, 2);
    resp::write_bulk(ctx.out, "pong");
    resp::write_bulk(ctx.out, ctx.args.size() == 2 ? ctx.args[1] : "");
    return;
  }
  if (ctx.args.size() == 2) return resp::write_bulk(ctx.out, ctx.args[1]);
  resp::write_simple(ctx.out, "PONG");
}

KV_HANDLER(cmd_echo) { resp::write_bulk(ctx.out, ctx.args[1]); }

KV_HANDLER(cmd_quit) {
  resp::write_ok(ctx.out);
  ctx.client.close_after_reply();
}

KV_HANDLER(cmd_select) {
  std::int64_t index = 0;
  if (!arg_int(ctx, ctx.args[1], index)) return;
  if (index != 0) return resp::write_error(ctx.out, "ERR DB index is out of range");
  resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_auth) {
  if (ctx.args.size() > 3) return reply_syntax_error(ctx.out);
  if (ctx.server.options().requirepass.empty() && ctx.args.size() == 3) {
    // No password: the default user takes any; there are no other users.
    if (ctx.args[1] != "default")
      return resp::write_error(ctx.out, "WRONGPASS invalid username-password pair or user is disabled.");
    ctx.client.authenticated = true;
    return resp::write_ok(ctx.out);
  }
  if (ctx.server.options().requirepass.empty()) {
    return resp::write_error(ctx.out,
                             "ERR AUTH <password> called without any password configured for "
                             "the default user. Are you sure your configuration is correct?");
  }
  const std::string_view user = ctx.args.size() == 3 ? ctx.args[1] : "default";
  if (check_password(ctx, user, ctx.args.back())) resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_hello) {
  std::size_t i = 1;
  if (ctx.args.size() >= 2) {
    std::int64_t version = 0;
    if (!resp::parse_int64(ctx.args[1], version) || version < 0 || version > INT32_MAX)
      return resp::write_error(ctx.out, "ERR Protocol version is not an integer or out of range");
    if (version != 2) return resp::write_error(ctx.out, "NOPROTO unsupported protocol version");
    i = 2;
  }
  std::string_view new_name;
  bool set_name = false;
  for (; i < ctx.args.size(); ++i) {
    const bool more = i + 1 < ctx.args.size();
    if (equals_nocase(ctx.args[i], "auth") && i + 2 < ctx.args.size()) {
      if (ctx.server.options().requirepass.empty() && ctx.args[i + 1] == "default") {
        ctx.client.authenticated = true;  // the default user has no password
      } else if (!check_password(ctx, ctx.args[i + 1], ctx.args[i + 2])) {
        return;
      }
      i += 2;
    } else if (equals_nocase(ctx.args[i], "setname") && more) {
      new_name = ctx.args[++i];
      set_name = true;
    } else {
      return resp::write_error(ctx.out, "ERR Syntax error in HELLO option '" +
                                            std::string(ctx.args[i]) + "'");
    }
  }
  if (!ctx.client.authenticated) {
    return resp::write_error(
        ctx.out,
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time");
  }
  if (set_name) {
    if (!valid_client_name(new_name))
      return resp::write_error(
          ctx.out, "ERR Client names cannot contain spaces, newlines or special characters.");
    ctx.client.name = std::string(new_name);
  }
  resp::write_array_header(ctx.out, 14);
  resp::write_bulk(ctx.out, "server");
  resp::write_bulk(ctx.out, "redis");
  resp::write_bulk(ctx.out, "version");
  resp::write_bulk(ctx.out, kVersion);
  resp::write_bulk(ctx.out, "proto");
  resp::write_integer(ctx.out, 2);
  resp::write_bulk(ctx.out, "id");
  resp::write_integer(ctx.out, static_cast<std::int64_t>(ctx.client.id()));
  resp::write_bulk(ctx.out, "mode");
  resp::write_bulk(ctx.out, "standalone");
  resp::write_bulk(ctx.out, "role");
  resp::write_bulk(ctx.out, "master");
  resp::write_bulk(ctx.out, "modules");
  resp::write_array_header(ctx.out, 0);
}

KV_HANDLER(cmd_client) {
  const std::string_view sub = ctx.args[1];
  const std::size_t n = ctx.args.size();
  if (equals_nocase(sub, "setname") && n == 3) {
    if (!valid_client_name(ctx.args[2]))
      return resp::write_error(
          ctx.out, "ERR Client names cannot contain spaces, newlines or special characters.");
    ctx.client.name = std::string(ctx.args[2]);
    return resp::write_ok(ctx.out);
  }
  if (equals_nocase(sub, "getname") && n == 2) {
    if (ctx.client.name.empty()) return resp::write_null(ctx.out);
    return resp::write_bulk(ctx.out, ctx.client.name);
  }
  if (equals_nocase(sub, "id") && n == 2)
    return resp::write_integer(ctx.out, static_cast<std::int64_t>(ctx.client.id()));
  if ((equals_nocase(sub, "list") && n == 2) || (equals_nocase(sub, "info") && n == 2)) {
    ThreadsServer* threads = ctx.server.threads();  // --model threads: its registry
    const auto now = threads ? ThreadsServer::now_ms() : static_cast<std::int64_t>(ctx.server.loop().now_ms());
    if (equals_nocase(sub, "info")) {
      ClientInfo mine = ctx.client.info();
      if (threads) threads->complete_info(ctx.client, mine);
      return resp::write_bulk(ctx.out, client_line(ctx.server, mine, now));
    }
    std::string text;
    if (threads) {
      for (const ClientInfo& c : threads->client_infos(ctx.client)) text += client_line(ctx.server, c, now);
    } else {
      for (const auto& c : ctx.server.clients()) text += client_line(ctx.server, c->info(), now);
    }
    return resp::write_bulk(ctx.out, text);
  }
  if (equals_nocase(sub, "setinfo") && n == 4) return resp::write_ok(ctx.out);
  const bool known = equals_nocase(sub, "setname") || equals_nocase(sub, "getname") ||
                     equals_nocase(sub, "id") || equals_nocase(sub, "list") ||
                     equals_nocase(sub, "info");
  if (known) return reply_wrong_arity(ctx.out, "client|" + lower(sub));
  reply_unknown_subcommand(ctx, "CLIENT");
}

KV_HANDLER(cmd_command) {
  const auto commands = all_commands();
  if (ctx.args.size() == 1) {
    resp::write_array_header(ctx.out, commands.size());
    for (const CommandSpec& spec : commands) write_command_info(ctx.out, spec);
    return;
  }
  const std::string_view sub = ctx.args[1];
  if (equals_nocase(sub, "count") && ctx.args.size() == 2)
    return resp::write_integer(ctx.out, static_cast<std::int64_t>(commands.size()));
  if (equals_nocase(sub, "info")) {
    resp::write_array_header(ctx.out, ctx.args.size() - 2);
    for (std::size_t i = 2; i < ctx.args.size(); ++i) {
      const CommandSpec* spec = find_command(ctx.args[i]);
      if (spec) write_command_info(ctx.out, *spec);
      else resp::write_null_array(ctx.out);
    }
    return;
  }
  // redis-cli asks for DOCS at start-up to print hints; having none is allowed.
  if (equals_nocase(sub, "docs")) return resp::write_array_header(ctx.out, 0);
  reply_unknown_subcommand(ctx, "COMMAND");
}

KV_HANDLER(cmd_info) {
  resp::write_bulk(ctx.out, info_text(ctx, ctx.args.size() > 1 ? ctx.args[1] : ""));
}

KV_HANDLER(cmd_config) {
  const std::string_view sub = ctx.args[1];
  if (equals_nocase(sub, "get")) {
    if (ctx.args.size() < 3) return reply_wrong_arity(ctx.out, "config|get");
    return config_get(ctx);
  }
  if (equals_nocase(sub, "set")) {
    if (ctx.args.size() < 4 || ctx.args.size() % 2 != 0) return reply_wrong_arity(ctx.out, "config|set");
    for (std::size_t i = 2; i < ctx.args.size(); i += 2) {
      const std::string name = lower(ctx.args[i]);
      bool writable = false;
      for (const ConfigParam& p : kParams) writable = writable || (p.name == name && p.writable);
      if (!writable)
        return resp::write_error(ctx.out,
                                 "ERR Unknown option or number of arguments for CONFIG SET - '" +
                                     std::string(ctx.args[i]) + "'");
    }
    // All or nothing, as Redis 7: the pairs change a copy of the latest options,
    // published whole (KvServer::set_options) only if every pair applies. The
    // mutex keeps two CONFIG SETs of the threads model's workers from crossing.
    std::lock_guard lock(ctx.server.config_mutex());
    KvOptions changed = *ctx.server.latest_options();
    for (std::size_t i = 2; i < ctx.args.size(); i += 2) {
      const std::string error = config_set(ctx.server, changed, lower(ctx.args[i]), ctx.args[i + 1]);
      if (!error.empty()) return resp::write_error(ctx.out, error);
    }
    const std::string appendfsync = changed.appendfsync;
    ctx.server.set_options(std::move(changed));
    if (Aof* aof = ctx.server.aof()) aof->set_policy(parse_aof_fsync(appendfsync).value());
    return resp::write_ok(ctx.out);
  }
  if (equals_nocase(sub, "resetstat") && ctx.args.size() == 2) {
    reset_stats(ctx.server.stats());
    return resp::write_ok(ctx.out);
  }
  reply_unknown_subcommand(ctx, "CONFIG");
}

KV_HANDLER(cmd_dbsize) { resp::write_integer(ctx.out, static_cast<std::int64_t>(ctx.db.size())); }

KV_HANDLER(cmd_flushdb) {
  if (ctx.args.size() > 2 ||
      (ctx.args.size() == 2 && !equals_nocase(ctx.args[1], "sync") && !equals_nocase(ctx.args[1], "async")))
    return reply_syntax_error(ctx.out);
  ctx.db.clear();
  resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_time) {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  resp::write_array_header(ctx.out, 2);
  resp::write_bulk(ctx.out, std::to_string(tv.tv_sec));
  resp::write_bulk(ctx.out, std::to_string(tv.tv_usec));
}

KV_HANDLER(cmd_save) {
  if (!ctx.server.persistence_on())
    return resp::write_error(ctx.out, "ERR persistence is off: start kv-server with --dbfilename");
  std::string error;
  const bool background = equals_nocase(ctx.args[0], "bgsave");
  if (background && ctx.args.size() > 2) return reply_syntax_error(ctx.out);
  if (!background && ctx.args.size() > 1) return reply_wrong_arity(ctx.out, "save");
  const bool ok = background ? ctx.server.bgsave(error) : ctx.server.save(error);
  if (!ok) return resp::write_error(ctx.out, "ERR " + error);
  if (background) return resp::write_simple(ctx.out, "Background saving started");
  resp::write_ok(ctx.out);
}

KV_HANDLER(cmd_bgrewriteaof) {
  Aof* aof = ctx.server.aof();
  if (aof == nullptr)
    return resp::write_error(ctx.out, "ERR the append-only file is off: start kv-server with "
                                      "--appendonly yes");
  std::string error;
  if (!aof->start_rewrite(ctx.db, ctx.now, error)) return resp::write_error(ctx.out, "ERR " + error);
  resp::write_simple(ctx.out, "Background append only file rewriting started");
}

KV_HANDLER(cmd_lastsave) { resp::write_integer(ctx.out, ctx.server.lastsave()); }

KV_HANDLER(cmd_reset) {
  Client& c = ctx.client;
  c.multi = {};
  for (const std::string& key : c.watched) ctx.db.unwatch(key, c.watcher);
  c.watched.clear();
  c.watched_live.clear();
  c.watcher.dirty = false;
  std::vector<std::string> channels(c.channels.begin(), c.channels.end());
  for (const std::string& ch : channels) ctx.server.unsubscribe(c, ch);
  std::vector<std::string> patterns(c.patterns.begin(), c.patterns.end());
  for (const std::string& p : patterns) ctx.server.punsubscribe(c, p);
  c.name.clear();
  c.authenticated = ctx.server.options().requirepass.empty();
  resp::write_simple(ctx.out, "RESET");
}

}  // namespace serverlab::kv
