// handlers.hpp: the command handlers, one per row group of the table in commands.cpp.
// Each family lives in its own file: cmd_server.cpp, cmd_keys.cpp, cmd_strings.cpp,
// cmd_lists.cpp, cmd_hashes.cpp, cmd_sets.cpp, cmd_pubsub.cpp, cmd_multi.cpp.
// Who may call: execute() (commands.cpp) only, through the table.
#pragma once

#include "commands.hpp"

namespace serverlab::kv {

KV_HANDLER(cmd_append);
KV_HANDLER(cmd_auth);
KV_HANDLER(cmd_blmove);
KV_HANDLER(cmd_bgrewriteaof);
KV_HANDLER(cmd_bpop);
KV_HANDLER(cmd_client);
KV_HANDLER(cmd_command);
KV_HANDLER(cmd_config);
KV_HANDLER(cmd_dbsize);
KV_HANDLER(cmd_del);
KV_HANDLER(cmd_discard);
KV_HANDLER(cmd_echo);
KV_HANDLER(cmd_exec);
KV_HANDLER(cmd_exists);
KV_HANDLER(cmd_expire);
KV_HANDLER(cmd_flushdb);
KV_HANDLER(cmd_get);
KV_HANDLER(cmd_getdel);
KV_HANDLER(cmd_getex);
KV_HANDLER(cmd_getrange);
KV_HANDLER(cmd_getset);
KV_HANDLER(cmd_hdel);
KV_HANDLER(cmd_hello);
KV_HANDLER(cmd_hexists);
KV_HANDLER(cmd_hget);
KV_HANDLER(cmd_hgetall);
KV_HANDLER(cmd_hincrby);
KV_HANDLER(cmd_hincrbyfloat);
KV_HANDLER(cmd_hlen);
KV_HANDLER(cmd_hmget);
KV_HANDLER(cmd_hrandfield);
KV_HANDLER(cmd_hscan);
KV_HANDLER(cmd_hset);
KV_HANDLER(cmd_hsetnx);
KV_HANDLER(cmd_hstrlen);
KV_HANDLER(cmd_incr);
KV_HANDLER(cmd_incrbyfloat);
KV_HANDLER(cmd_info);
KV_HANDLER(cmd_keys);
KV_HANDLER(cmd_lindex);
KV_HANDLER(cmd_linsert);
KV_HANDLER(cmd_llen);
KV_HANDLER(cmd_lmove);
KV_HANDLER(cmd_lpos);
KV_HANDLER(cmd_lrange);
KV_HANDLER(cmd_lrem);
KV_HANDLER(cmd_lset);
KV_HANDLER(cmd_ltrim);
KV_HANDLER(cmd_mget);
KV_HANDLER(cmd_mset);
KV_HANDLER(cmd_multi);
KV_HANDLER(cmd_persist);
KV_HANDLER(cmd_ping);
KV_HANDLER(cmd_pop);
KV_HANDLER(cmd_psubscribe);
KV_HANDLER(cmd_publish);
KV_HANDLER(cmd_pubsub);
KV_HANDLER(cmd_punsubscribe);
KV_HANDLER(cmd_push);
KV_HANDLER(cmd_quit);
KV_HANDLER(cmd_randomkey);
KV_HANDLER(cmd_rename);
KV_HANDLER(cmd_renamenx);
KV_HANDLER(cmd_reset);
KV_HANDLER(cmd_sadd);
KV_HANDLER(cmd_save);
KV_HANDLER(cmd_lastsave);
KV_HANDLER(cmd_scan);
KV_HANDLER(cmd_scard);
KV_HANDLER(cmd_select);
KV_HANDLER(cmd_set);
KV_HANDLER(cmd_setex);
KV_HANDLER(cmd_setnx);
KV_HANDLER(cmd_setop);
KV_HANDLER(cmd_setrange);
KV_HANDLER(cmd_sintercard);
KV_HANDLER(cmd_sismember);
KV_HANDLER(cmd_smembers);
KV_HANDLER(cmd_smismember);
KV_HANDLER(cmd_smove);
KV_HANDLER(cmd_spop);
KV_HANDLER(cmd_srandmember);
KV_HANDLER(cmd_srem);
KV_HANDLER(cmd_sscan);
KV_HANDLER(cmd_strlen);
KV_HANDLER(cmd_subscribe);
KV_HANDLER(cmd_time);
KV_HANDLER(cmd_ttl);
KV_HANDLER(cmd_type);
KV_HANDLER(cmd_unsubscribe);
KV_HANDLER(cmd_unwatch);
KV_HANDLER(cmd_watch);

}  // namespace serverlab::kv
