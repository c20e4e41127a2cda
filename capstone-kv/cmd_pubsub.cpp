// cmd_pubsub.cpp: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB.
//
// A client with at least one subscription is in "subscribed mode": execute()
// lets only the kPubSub commands through. Each (un)subscription is confirmed
// with its own three-element reply, as Redis does: [kind, name, subscriptions left].
#include "client.hpp"
#include "handlers.hpp"
#include "kv_server.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

namespace {

void confirm(Context& ctx, std::string_view kind, const std::string_view* name) {
  resp::write_array_header(ctx.out, 3);
  resp::write_bulk(ctx.out, kind);
  if (name) resp::write_bulk(ctx.out, *name);
  else resp::write_null(ctx.out);
  resp::write_integer(ctx.out, static_cast<std::int64_t>(ctx.client.subscriptions()));
}

// UNSUBSCRIBE / PUNSUBSCRIBE: the named ones, or all when none is named.
void unsubscribe_generic(Context& ctx, bool patterns) {
  const std::string_view kind = patterns ? "punsubscribe" : "unsubscribe";
  StringSet& mine = patterns ? ctx.client.patterns : ctx.client.channels;
  std::vector<std::string> names;
  if (ctx.args.size() > 1) {
    names.assign(ctx.args.begin() + 1, ctx.args.end());
  } else {
    names.assign(mine.begin(), mine.end());
    if (names.empty()) return confirm(ctx, kind, nullptr);
  }
  for (const std::string& name : names) {
    if (patterns) ctx.server.punsubscribe(ctx.client, name);
    else ctx.server.unsubscribe(ctx.client, name);
    const std::string_view view = name;
    confirm(ctx, kind, &view);
  }
}

}  // namespace

KV_HANDLER(cmd_subscribe) {
  for (std::size_t i = 1; i < ctx.args.size(); ++i) {
    ctx.server.subscribe(ctx.client, ctx.args[i]);
    confirm(ctx, "subscribe", &ctx.args[i]);
  }
}

KV_HANDLER(cmd_psubscribe) {
  for (std::size_t i = 1; i < ctx.args.size(); ++i) {
    ctx.server.psubscribe(ctx.client, ctx.args[i]);
    confirm(ctx, "psubscribe", &ctx.args[i]);
  }
}

KV_HANDLER(cmd_unsubscribe) { unsubscribe_generic(ctx, false); }
KV_HANDLER(cmd_punsubscribe) { unsubscribe_generic(ctx, true); }

KV_HANDLER(cmd_publish) {
  resp::write_integer(ctx.out, static_cast<std::int64_t>(ctx.server.publish(ctx.args[1], ctx.args[2])));
}

// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT
KV_HANDLER(cmd_pubsub) {
  const std::string_view sub = ctx.args[1];
  const std::size_t n = ctx.args.size();
  if (equals_nocase(sub, "channels") && n <= 3) {
    const std::vector<std::string> names = ctx.server.channels(n == 3 ? ctx.args[2] : "");
    resp::write_array_header(ctx.out, names.size());
    for (const std::string& name : names) resp::write_bulk(ctx.out, name);
    return;
  }
  if (equals_nocase(sub, "numsub")) {
    resp::write_array_header(ctx.out, (n - 2) * 2);
    for (std::size_t i = 2; i < n; ++i) {
      resp::write_bulk(ctx.out, ctx.args[i]);
      resp::write_integer(ctx.out, static_cast<std::int64_t>(ctx.server.subscribers(ctx.args[i])));
    }
    return;
  }
  if (equals_nocase(sub, "numpat") && n == 2)
    return resp::write_integer(ctx.out, static_cast<std::int64_t>(ctx.server.pattern_count()));
  if (equals_nocase(sub, "channels") || equals_nocase(sub, "numpat"))
    return reply_wrong_arity(ctx.out, "pubsub|" + lower(sub));
  resp::write_error(ctx.out, "ERR unknown subcommand '" + std::string(sub.substr(0, 128)) +
                                 "'. Try PUBSUB HELP.");
}

void write_message_push(std::string& out, std::string_view channel, std::string_view message) {
  resp::write_array_header(out, 3);
  resp::write_bulk(out, "message");
  resp::write_bulk(out, channel);
  resp::write_bulk(out, message);
}

void write_pmessage_push(std::string& out, std::string_view pattern, std::string_view channel,
                         std::string_view message) {
  resp::write_array_header(out, 4);
  resp::write_bulk(out, "pmessage");
  resp::write_bulk(out, pattern);
  resp::write_bulk(out, channel);
  resp::write_bulk(out, message);
}

}  // namespace serverlab::kv
