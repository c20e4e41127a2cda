// http-proxy: a reverse proxy and load balancer on stage 4's EventLoop (capstone 1).
//
//   main: flags -> backends -> ProxyServer -> listen -> EventLoop + SignalWatcher -> run()
//   SIGINT/SIGTERM: graceful shutdown (stop accepting, finish in-flight exchanges);
//   a second signal closes everything at once.
//
// Backends: --upstream flags (one group, every request goes there), or the config
// file's [[upstream]] groups and [[route]] rules (routes.hpp); --upstream wins when
// both are given. A request no route matches gets 404.
//
// --upstream may be given several times (Flags keeps the last value of a flag, so
// main collects every occurrence from argv itself; Flags still checks each one).
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "proxy_server.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/reload.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"

using namespace serverlab;
using namespace serverlab::proxy;

namespace {

// Every value of --upstream in argv, in order (both "--upstream X" and "--upstream=X").
std::vector<std::string> all_upstreams(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--upstream") == 0 && i + 1 < argc) {
      out.emplace_back(argv[++i]);
    } else if (std::strncmp(argv[i], "--upstream=", 11) == 0) {
      out.emplace_back(argv[i] + 11);
    }
  }
  return out;
}

// Everything the flags and the config file set; define_flags registers them.
struct Settings {
  ServerOptions server;
  ProxyOptions options;
  std::string upstream;  // for usage and validation; the list comes from all_upstreams
  std::string balance = "round-robin";
  std::string admin = "on";
  bool tables_overridden = false;  // --upstream given while the file has [[upstream]]/[[route]]
  std::uint64_t max_body = ProxyOptions{}.limits.max_body;
  std::uint64_t max_header_bytes = ProxyOptions{}.limits.max_header_bytes;
  std::uint64_t max_request_line = ProxyOptions{}.limits.max_request_line;
  int max_headers = static_cast<int>(ProxyOptions{}.limits.max_headers);
  int pool_size = static_cast<int>(ProxyOptions{}.pool_size);
  int fail_threshold = static_cast<int>(ProxyOptions{}.fail_threshold);
};

// What a reload applies: the backends, the routes and --balance. Everything else is
// read once at start, so a reload that changes it is refused whole (one log line
// naming the first such change), never half-applied.
std::optional<std::string> needs_restart(const Settings& before, const Settings& after) {
  const ProxyOptions& a = before.options;
  const ProxyOptions& b = after.options;
  if (auto c = listener_change(before.server, after.server)) return c;
  if (auto c = changed("connect-timeout", a.connect_timeout, b.connect_timeout)) return c;
  if (auto c = changed("read-timeout", a.read_timeout, b.read_timeout)) return c;
  if (auto c = changed("write-timeout", a.write_timeout, b.write_timeout)) return c;
  if (auto c = changed("header-timeout", a.header_timeout, b.header_timeout)) return c;
  if (auto c = changed("keepalive-timeout", a.keepalive_timeout, b.keepalive_timeout)) return c;
  if (auto c = changed("pool-idle-timeout", a.pool_idle_timeout, b.pool_idle_timeout)) return c;
  if (auto c = changed("pool-size", before.pool_size, after.pool_size)) return c;
  if (auto c = changed("retries", a.retries, b.retries)) return c;
  if (auto c = changed("fail-threshold", before.fail_threshold, after.fail_threshold)) return c;
  if (auto c = changed("fail-cooldown", a.fail_cooldown, b.fail_cooldown)) return c;
  if (auto c = changed("health-path", a.health_path, b.health_path)) return c;
  if (auto c = changed("health-interval", a.health_interval, b.health_interval)) return c;
  if (auto c = changed("max-body", before.max_body, after.max_body)) return c;
  if (auto c = changed("max-header-bytes", before.max_header_bytes, after.max_header_bytes))
    return c;
  if (auto c = changed("max-request-line", before.max_request_line, after.max_request_line))
    return c;
  if (auto c = changed("max-headers", before.max_headers, after.max_headers)) return c;
  if (auto c = changed("access-log", a.access_log, b.access_log)) return c;
  if (auto c = changed("admin", before.admin, after.admin)) return c;
  if (auto c = changed("max-keepalive-requests", a.max_keepalive_requests,
                       b.max_keepalive_requests))
    return c;
  return changed("error-log-rate", a.error_log_rate, b.error_log_rate);
}

void define_flags(Flags& flags, Settings& s, int argc, char** argv) {
  add_server_flags(flags, s.server, 8080);
  flags.begin_section("proxy");
  flags.add("upstream", s.upstream,
            "a backend HOST:PORT[,weight=N]; repeat for each backend (or [[upstream]] tables in the file)");
  flags.add_choice("balance", s.balance, {"round-robin", "least-conn", "hash-ip", "hash-path"},
                   "how a backend is chosen");
  flags.add_seconds("connect-timeout", s.options.connect_timeout, "backend TCP handshake limit");
  flags.add_seconds("read-timeout", s.options.read_timeout,
                    "how long a backend may stay silent mid-exchange (then 504)");
  flags.add_seconds("write-timeout", s.options.write_timeout,
                    "how long a client may leave our output unread (then close)");
  flags.add_seconds("header-timeout", s.options.header_timeout, "a request head must arrive within this");
  flags.add_seconds("keepalive-timeout", s.options.keepalive_timeout, "idle client connections close after this");
  flags.add_seconds("pool-idle-timeout", s.options.pool_idle_timeout,
                    "a pooled backend connection idle longer is closed, not reused");
  flags.add("pool-size", s.pool_size, "idle keep-alive connections kept per backend", 0, 100000);
  flags.add("retries", s.options.retries,
            "other backends tried for an idempotent request that failed before any response byte",
            0, 10);
  flags.add("fail-threshold", s.fail_threshold, "failures in a row that take a backend out", 1, 1000);
  flags.add_seconds("fail-cooldown", s.options.fail_cooldown,
                    "seconds before a backend taken out gets one probe request");
  flags.add("health-path", s.options.health_path, "active health check: GET this path (empty: off)");
  flags.add_seconds("health-interval", s.options.health_interval, "seconds between active checks");
  flags.add_size("max-body", s.max_body, "largest request body accepted (-> 413); streamed, not held");
  flags.add_size("max-header-bytes", s.max_header_bytes, "largest request header section (-> 431)");
  flags.add_size("max-request-line", s.max_request_line, "longest request line (-> 414)");
  flags.add("max-headers", s.max_headers, "most request header fields (-> 431)", 1, 10000);
  flags.add("access-log", s.options.access_log, "PATH, - (stdout) or off");
  flags.add_choice("admin", s.admin, {"on", "off"}, "answer GET /-/metrics here (off: forward it)");
  flags.add("max-keepalive-requests", s.options.max_keepalive_requests,
            "requests per client connection, then Connection: close", 1);
  flags.add("error-log-rate", s.options.error_log_rate,
            "refused-request records per second in the error log (0: none)", 0, 1000000);
  // [[upstream]] and [[route]] tables of the config file (routes.hpp).
  flags.add_tables("upstream", [&s](const std::vector<ConfigTable>& tables) {
    return parse_upstream_tables(tables, s.options.upstreams);
  });
  flags.add_tables("route", [&s](const std::vector<ConfigTable>& tables) {
    return parse_route_tables(tables, s.options.routes);
  });
  // Backends come from --upstream (command line, environment or [proxy] upstream) or
  // from the file's tables; when both are there, --upstream wins and the tables are
  // not used, like any command-line value over the file's.
  flags.add_check([&s, argc, argv]() -> std::optional<std::string> {
    std::vector<std::string> list = all_upstreams(argc, argv);
    if (list.empty() && !s.upstream.empty()) list.push_back(s.upstream);
    if (list.empty()) {
      if (s.options.upstreams.empty())
        return std::string("--upstream: at least one backend is required (or [[upstream]] tables in --config)");
      return link_routes(s.options.routes, s.options.upstreams);
    }
    for (const std::string& u : list) {
      std::optional<BackendSpec> spec = parse_backend(u);
      if (!spec) return "--upstream " + u + ": expected HOST:PORT or HOST:PORT,weight=N";
      s.options.backends.push_back(*spec);
    }
    s.tables_overridden = !s.options.upstreams.empty() || !s.options.routes.empty();
    s.options.upstreams.clear();
    s.options.routes.clear();
    return std::nullopt;
  });
  flags.add_check([&s]() -> std::optional<std::string> {
    if (s.options.health_interval < 0.05) return std::string("--health-interval: at least 0.05");
    return std::nullopt;
  });
}

// The parsed flags into ProxyOptions' own types.
ProxyOptions finish(Settings& s) {
  ProxyOptions& options = s.options;
  options.balance = *parse_balance(s.balance);
  options.limits.max_body = s.max_body;
  options.limits.max_header_bytes = s.max_header_bytes;
  options.limits.max_request_line = s.max_request_line;
  options.limits.max_headers = static_cast<std::size_t>(s.max_headers);
  options.pool_size = static_cast<std::size_t>(s.pool_size);
  options.fail_threshold = static_cast<unsigned>(s.fail_threshold);
  options.shutdown_timeout = s.server.shutdown_timeout;
  options.admin = s.admin == "on";
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  ConfigLoader<Settings> loader(
      "http-proxy", "HTTP/1.1 reverse proxy and load balancer on one epoll loop (capstone)",
      [argc, argv](Flags& flags, Settings& s) { define_flags(flags, s, argc, argv); }, argc, argv);
  Settings settings = loader.load_or_exit();
  ProxyOptions options = finish(settings);
  const ServerOptions& server = settings.server;

  try {
    configure_logging(server);
    ignore_sigpipe();
    EventLoop loop;
    ProxyServer* proxy_ptr = nullptr;
    // SIGHUP: the file, environment and command line read again as a restart would;
    // the backends and routes change, in-flight requests keep what they have. An
    // invalid file leaves everything as it is (one log line says why).
    SignalWatcher signals(loop, {SIGINT, SIGTERM, SIGHUP}, [&](int signo) {
      if (proxy_ptr == nullptr) return;
      if (signo != SIGHUP) {
        proxy_ptr->shutdown();
        return;
      }
      if (std::optional<Settings> next = reload_settings(loader, settings, needs_restart)) {
        if (proxy_ptr->reload(finish(*next))) settings = std::move(*next);
      }
    });
    Metrics metrics;
    ProxyServer proxy(loop, options, metrics);
    proxy_ptr = &proxy;

    Fd listener = listen_tcp(server.bind, server.port,
                             ListenOptions{.backlog = 511, .reuse_port = false, .nonblocking = true});
    announce_listening(listener.get());
    proxy.listen(std::move(listener));
    std::string names;
    for (const auto& b : proxy.backends()) names += " " + b->name;
    log::info("http-proxy: {} over{}", balance_name(options.balance), names);
    if (settings.tables_overridden) {
      log::warn("http-proxy: --upstream replaces the [[upstream]] and [[route]] tables of {}",
                loader.file());
    }

    loop.set_before_sleep([&proxy] { proxy.before_sleep(); });
    loop.run();
    proxy.before_sleep();
    log::info("http-proxy stopped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http-proxy: %s\n", e.what());
    return 1;
  }
  return 0;
}
