// http/config.hpp: HttpConfig, every setting an HTTP server of any stage shares,
// and add_http_flags(), which registers them under the names in the contract.
//
//   HttpConfig config;
//   Flags flags("http-seq", "...");
//   add_http_flags(flags, config, 8080);
//   flags.parse_or_exit(argc, argv);
//   configure_logging(config.server);
//
// Why one struct: stages 2-5 must accept the same flags with the same defaults
// (the conformance suite and the bench start them all alike). A stage registers
// its own extra flags (--keep-alive, --threads, ...) next to these.
//
// Who may call: main() before any thread starts; afterwards the config is
// read-only and may be read from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "serverlab/flags.hpp"
#include "serverlab/http/middleware_config.hpp"
#include "serverlab/http/parser.hpp"
#include "serverlab/tls/flags.hpp"

namespace serverlab::http {

struct HttpConfig {
  ServerOptions server;  // --port --bind --log-level --log-format --shutdown-timeout

  std::string root;                 // --root: the document root (default: the bundled www/)
  std::string access_log = "off";   // --access-log PATH|-|off ('-' = stdout)
  std::uint64_t access_log_buffer = 32 * 1024;  // --access-log-buffer: bytes held (0: none)
  double access_log_flush = 1.0;    // --access-log-flush: oldest buffered line's longest wait
  double header_timeout = 10.0;     // --header-timeout: a request head must arrive within this
  double keepalive_timeout = 5.0;   // --keepalive-timeout: an idle persistent connection closes
  double send_timeout = 60.0;       // (no flag) a peer that takes no bytes this long is dropped
  int max_keepalive_requests = 1000;  // --max-keepalive-requests: then Connection: close
  std::uint64_t max_request_line = 8 * 1024;   // --max-request-line (-> 414)
  std::uint64_t max_header_bytes = 16 * 1024;  // --max-header-bytes (-> 431)
  int max_headers = 100;                       // --max-headers (-> 431)
  std::uint64_t max_body = 1024 * 1024;        // --max-body (-> 413)
  std::string autoindex = "on";   // --autoindex on|off: directory listings
  std::string error_pages;        // --error-pages DIR: DIR/404.html etc. replace the stock pages
  std::string admin = "on";       // --admin on|off: the /-/ routes (health, metrics, form)
  std::string dotfiles = "deny";  // --dotfiles allow|deny: paths with a ".name" segment (deny: 404)
  int cache_max_age = 0;          // --cache-max-age: Cache-Control of files (0: no-cache)
  int error_log_rate = 10;        // --error-log-rate: protocol-error log lines per second

  // --tls-cert --tls-key --tls-client-ca --tls-verify-client ([tls]): HTTPS when
  // tls.enabled(). The context is made once at start-up (TlsContext::server).
  tls::ServerFlags tls;

  MiddlewareConfig middleware;  // --request-id --access-log-format --rate-limit* (middleware_config.hpp)

  // Not a shared flag: stage 2 registers --keep-alive (default off); the other
  // stages keep persistent connections on.
  bool keep_alive = true;

  // Open-file cache (no flags; see file_cache.hpp).
  std::size_t file_cache_entries = 1024;
  double file_cache_validity = 1.0;

  bool autoindex_on() const { return autoindex == "on"; }
  bool admin_on() const { return admin == "on"; }
  bool dotfiles_allowed() const { return dotfiles == "allow"; }
  ParseLimits parse_limits() const;
};

// The bundled document root (the repository's www/, an absolute path fixed at build time).
std::string default_document_root();

// Registers every flag of the HTTP contract (including add_server_flags' ones),
// and the start-up checks: --root must name a readable directory, and so must
// --error-pages when given (otherwise exit 2 with one line naming the flag).
void add_http_flags(Flags& flags, HttpConfig& config, std::uint16_t default_port = 8080);

// What a reload (SIGHUP) cannot apply in a running process: a new listener (--port,
// --bind) or new TLS settings (the context, its certificate and ticket key, is made
// once at start-up). Returns "--port 8080 -> 9090" style text for the first
// difference, or nullopt.
std::optional<std::string> listener_change(const HttpConfig& before, const HttpConfig& after);

}  // namespace serverlab::http
