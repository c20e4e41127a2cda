#include "serverlab/http/config.hpp"

#include <fmt/format.h>

#include "serverlab/reload.hpp"

#ifndef SERVERLAB_DEFAULT_ROOT
#define SERVERLAB_DEFAULT_ROOT "www"
#endif

namespace serverlab::http {

ParseLimits HttpConfig::parse_limits() const {
  ParseLimits limits;
  limits.max_request_line = static_cast<std::size_t>(max_request_line);
  limits.max_header_bytes = static_cast<std::size_t>(max_header_bytes);
  limits.max_headers = static_cast<std::size_t>(max_headers);
  limits.max_body = max_body;
  return limits;
}

std::string default_document_root() { return SERVERLAB_DEFAULT_ROOT; }

// A buffer is memory held per log (per stage 5 worker): a sane ceiling.
constexpr std::uint64_t kMaxAccessLogBuffer = 64 * 1024 * 1024;

void add_http_flags(Flags& flags, HttpConfig& config, std::uint16_t default_port) {
  add_server_flags(flags, config.server, default_port);
  flags.begin_section("http");
  if (config.root.empty()) config.root = default_document_root();
  flags.add("root", config.root, "document root: the directory whose files are served");
  flags.begin_section("log");
  flags.add("access-log", config.access_log,
            "access log in Combined Log Format: a file PATH, '-' for stdout, or off");
  flags.add_size("access-log-buffer", config.access_log_buffer,
                 "a file access log keeps lines in memory and writes them at once when they "
                 "fill BYTES, and at exit (0: one write per line)");
  flags.add_seconds("access-log-flush", config.access_log_flush,
                    "buffered access-log lines are written at the latest SEC after the first "
                    "(0: one write per line)");
  flags.begin_section("limits");
  flags.add_seconds("header-timeout", config.header_timeout,
                    "a request head not complete within SEC gets 408 and the connection closes");
  flags.add_seconds("keepalive-timeout", config.keepalive_timeout,
                    "an idle persistent connection is closed after SEC");
  flags.add("max-keepalive-requests", config.max_keepalive_requests,
            "requests served on one connection before it is closed", 1);
  flags.add_size("max-request-line", config.max_request_line,
                 "longest request line (longer: 414)");
  flags.add_size("max-header-bytes", config.max_header_bytes,
                 "largest header section (larger: 431)");
  flags.add("max-headers", config.max_headers, "most header fields in a request (more: 431)", 1);
  flags.add_size("max-body", config.max_body, "largest request body (larger: 413)");
  flags.begin_section("http");
  flags.add_choice("autoindex", config.autoindex, {"on", "off"},
                   "list directories that have no index.html (off: 403)");
  flags.add("error-pages", config.error_pages,
            "directory of custom error pages named NNN.html (e.g. 404.html)");
  flags.add_choice("admin", config.admin, {"on", "off"},
                   "serve /-/health, /-/metrics and /-/form (off: /-/ paths are ordinary files)");
  flags.add_choice("dotfiles", config.dotfiles, {"allow", "deny"},
                   "deny: paths with a segment starting with '.' (.git, .env) are 404 and "
                   "unlisted; /.well-known/ stays public");
  flags.add("cache-max-age", config.cache_max_age,
            "Cache-Control of files, listings and 304s: max-age=N (0: no-cache, revalidate "
            "each time)",
            0, 315360000);
  flags.begin_section("log");
  flags.add("error-log-rate", config.error_log_rate,
            "protocol errors (400, 408, ...) logged per second per process; the rest are "
            "counted (0: none)",
            0, 1000000);
  add_middleware_flags(flags, config.middleware);  // [http] [rate_limit] [auth]
  tls::add_server_flags(flags, config.tls);          // [tls]
  flags.begin_section("server");  // a stage's own flags follow
  flags.add_check([&config]() -> std::optional<std::string> {
    if (auto problem = directory_problem(config.root))
      return fmt::format("--root '{}': {}", config.root, *problem);
    return std::nullopt;
  });
  flags.add_check([&config]() -> std::optional<std::string> {
    if (config.error_pages.empty()) return std::nullopt;  // not given: the stock pages
    if (auto problem = directory_problem(config.error_pages))
      return fmt::format("--error-pages '{}': {}", config.error_pages, *problem);
    return std::nullopt;
  });
  flags.add_check([&config]() -> std::optional<std::string> {
    if (config.access_log_buffer <= kMaxAccessLogBuffer) return std::nullopt;
    return fmt::format("--access-log-buffer {}: at most {} (64M)", config.access_log_buffer,
                       kMaxAccessLogBuffer);
  });
}

std::optional<std::string> listener_change(const HttpConfig& before, const HttpConfig& after) {
  if (auto c = serverlab::listener_change(before.server, after.server)) return c;
  if (auto c = changed("tls-cert", before.tls.cert, after.tls.cert)) return c;
  if (auto c = changed("tls-key", before.tls.key, after.tls.key)) return c;
  if (auto c = changed("tls-client-ca", before.tls.client_ca, after.tls.client_ca)) return c;
  return changed("tls-verify-client", before.tls.verify_client, after.tls.verify_client);
}

}  // namespace serverlab::http
