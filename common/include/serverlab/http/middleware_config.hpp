// http/middleware_config.hpp: the settings of the middleware chain (request IDs,
// the access log's format, rate limiting) and the flags that set them.
//
//   [http]        --request-id on|off         --access-log-format clf|json
//                 --api on|off                (the /api/notes resource, api_notes.hpp)
//   [rate_limit]  --rate-limit R  --rate-limit-burst B      (per client address)
//                 --rate-limit-global R  --rate-limit-global-burst B
//                 --rate-limit-table N                       (addresses remembered)
//                 --max-conns-per-ip N      (open connections per client address)
//   [auth]        --auth-users FILE  --auth-admins A,B  --auth-writers A,B   (auth.hpp)
//
// Every setting is off by default: a server started without these flags behaves
// exactly as it did before the chain existed (no extra header, no 429).
//
// Who may call: main() (through add_http_flags) before any thread starts; the
// values are read-only afterwards.
#pragma once

#include <cstdint>
#include <string>

#include "serverlab/flags.hpp"

namespace serverlab::http {

struct MiddlewareConfig {
  std::string request_id = "off";         // --request-id: take or make X-Request-Id, echo it
  std::string access_log_format = "clf";  // --access-log-format clf|json
  std::string api = "off";                // --api: serve the /api/notes resource

  // Token buckets (rate_limit.hpp). A rate of 0 turns that bucket off.
  int rate_limit = 0;                // --rate-limit: requests per second per client address
  int rate_limit_burst = 0;          // --rate-limit-burst: bucket size (0: max(1, rate))
  int rate_limit_global = 0;         // --rate-limit-global: requests per second, all clients
  int rate_limit_global_burst = 0;   // --rate-limit-global-burst (0: max(1, rate))
  int rate_limit_table = 4096;       // --rate-limit-table: client addresses remembered
  int max_conns_per_ip = 0;          // --max-conns-per-ip: open connections per address (0: off)

  std::string auth_users;    // --auth-users FILE: Basic auth for /-/ and API writes (empty: off)
  std::string auth_admins;   // --auth-admins: users allowed on /-/ (empty: every user)
  std::string auth_writers;  // --auth-writers: users allowed to write /api/ (empty: every user)

  bool request_id_on() const { return request_id == "on"; }
  bool access_log_json() const { return access_log_format == "json"; }
  bool api_on() const { return api == "on"; }
  bool rate_limit_on() const { return rate_limit > 0 || rate_limit_global > 0; }
  bool auth_on() const { return !auth_users.empty(); }
};

// Registers the flags above: --request-id and --access-log-format in the current
// section, the rate-limit flags in section "rate_limit", the auth flags in
// section "auth" (with a check that the users file reads), then returns to section
// "http" (where add_http_flags leaves its caller). Called by add_http_flags.
void add_middleware_flags(Flags& flags, MiddlewareConfig& config);

}  // namespace serverlab::http
