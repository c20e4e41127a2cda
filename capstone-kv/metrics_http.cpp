#include "metrics_http.hpp"

#include <fmt/format.h>

#include <iterator>
#include <string_view>
#include <utility>

#include "kv_server.hpp"
#include "serverlab/http/static_files.hpp"

namespace serverlab::kv {
namespace {

// One metric: its HELP and TYPE lines, then the sample.
void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::uint64_t value) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name,
                 type, name, value);
}

}  // namespace

std::string render_prometheus(KvServer& server) {
  const Stats& st = server.stats();
  std::size_t blocked = 0, pubsub = 0;
  for (const auto& c : server.clients()) {
    blocked += c->blocked.active ? 1 : 0;
    pubsub += c->subscriptions() > 0 ? 1 : 0;
  }
  std::string out;
  out.reserve(2048);
  metric(out, "kv_connected_clients", "gauge", "Clients connected now.", server.client_count());
  metric(out, "kv_blocked_clients", "gauge", "Clients waiting in BLPOP and friends.", blocked);
  metric(out, "kv_pubsub_clients", "gauge", "Clients with at least one subscription.", pubsub);
  metric(out, "kv_connections_received_total", "counter", "Connections accepted.", st.connections);
  metric(out, "kv_connections_rejected_total", "counter", "Connections refused by maxclients.",
         st.rejected);
  metric(out, "kv_commands_processed_total", "counter", "Commands executed.", st.commands);
  metric(out, "kv_keyspace_hits_total", "counter", "Key lookups that found the key.",
         st.keyspace_hits);
  metric(out, "kv_keyspace_misses_total", "counter", "Key lookups that did not.",
         st.keyspace_misses);
  metric(out, "kv_expired_keys_total", "counter", "Keys deleted by the active expiry cycle.",
         server.db().expire_stats().expired);
  metric(out, "kv_evicted_keys_total", "counter", "Keys evicted by maxmemory.",
         server.db().evicted());
  metric(out, "kv_keys", "gauge", "Keys in the keyspace (expired ones not yet deleted included).",
         server.db().size());
  metric(out, "kv_used_memory_bytes", "gauge", "Bytes the allocator holds (INFO used_memory).",
         KvServer::used_memory());
  metric(out, "kv_maxmemory_bytes", "gauge", "The maxmemory limit (0: none).",
         server.options().maxmemory);
  metric(out, "kv_net_input_bytes_total", "counter", "Bytes read from clients.", st.bytes_in);
  metric(out, "kv_net_output_bytes_total", "counter", "Bytes written to clients.", st.bytes_out);
  metric(out, "kv_pubsub_messages_total", "counter", "Messages delivered to subscribers.",
         st.pubsub_messages);
  metric(out, "kv_client_output_limit_disconnections_total", "counter",
         "Subscribers cut off by the output limit.", st.output_limit_disconnects);
  metric(out, "kv_client_idle_timeouts_total", "counter", "Clients closed by the idle timeout.",
         st.timeouts);
  metric(out, "kv_rdb_bgsave_in_progress", "gauge", "1 while a BGSAVE child runs.",
         server.bgsave_running() ? 1 : 0);
  if (const tls::TlsContext* tls = server.options().tls) {
    const tls::TlsCounters& c = tls->counters();
    metric(out, "kv_tls_handshakes_total", "counter", "TLS handshakes completed.",
           c.handshakes.load(std::memory_order_relaxed));
    out += "# HELP kv_tls_handshake_failures_total TLS handshakes that failed, by reason.\n"
           "# TYPE kv_tls_handshake_failures_total counter\n";
    for (std::size_t i = 1; i < tls::kFailureKinds; ++i) {  // 0 is Failure::None
      const auto f = static_cast<tls::Failure>(i);
      fmt::format_to(std::back_inserter(out),
                     "kv_tls_handshake_failures_total{{reason=\"{}\"}} {}\n",
                     tls::failure_name(f), c.failed(f));
    }
  }
  return out;
}

http::HttpConfig MetricsEndpoint::config() {
  http::HttpConfig config;
  // The file cache must open a document root, but no request reaches the static
  // files: the catch-all route below answers every path the others do not.
  config.root = http::default_document_root();
  config.admin = "off";       // no /-/ routes: this endpoint's routes are its own
  config.autoindex = "off";
  config.access_log = "off";
  return config;
}

EpollServerOptions MetricsEndpoint::server_options() {
  EpollServerOptions options;
  options.max_connections = kMaxConnections;
  return options;
}

MetricsEndpoint::MetricsEndpoint(EventLoop& loop, std::function<std::string()> render)
    : service_(config()),
      server_(loop, service_, server_options()) {
  using http::Method;
  using Match = http::Router::Match;
  service_.add_route(Match::Exact, "/metrics", {Method::Get},
                     [render = std::move(render)](http::Exchange&, const http::Request&,
                                                  http::Response& r) {
                       r.set_owned_body("text/plain; version=0.0.4; charset=utf-8", render());
                     });
  service_.add_route(Match::Exact, "/health", {Method::Get},
                     [](http::Exchange&, const http::Request&, http::Response& r) {
                       r.set_owned_body(http::kTextType, "ok\n");
                     });
  // Every other path, whatever the method: 404 (never the static files).
  service_.add_route(Match::Prefix, "/",
                     {Method::Get, Method::Head, Method::Post, Method::Put, Method::Delete,
                      Method::Patch, Method::Options},
                     [this](http::Exchange&, const http::Request&, http::Response& r) {
                       service_.error(404, r);
                     });
}

}  // namespace serverlab::kv
