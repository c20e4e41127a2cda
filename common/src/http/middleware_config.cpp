#include "serverlab/http/middleware_config.hpp"

#include "serverlab/http/auth.hpp"

namespace serverlab::http {

void add_middleware_flags(Flags& flags, MiddlewareConfig& config) {
  flags.begin_section("log");
  flags.add_choice("request-id", config.request_id, {"on", "off"},
                   "take X-Request-Id from the client (or make one), echo it in the response "
                   "and write it in the access and error logs");
  flags.add_choice("access-log-format", config.access_log_format, {"clf", "json"},
                   "access log lines: Combined Log Format, or one JSON object per line");
  flags.begin_section("http");
  flags.add_choice("api", config.api, {"on", "off"},
                   "serve the toy REST resource /api/notes (JSON, in memory, per process)");
  flags.begin_section("rate_limit");
  flags.add("rate-limit", config.rate_limit,
            "requests per second per client address; over it: 429 with Retry-After (0: off)", 0,
            1000000000);
  flags.add("rate-limit-burst", config.rate_limit_burst,
            "requests a client address may send at once before --rate-limit applies "
            "(0: the rate)",
            0, 1000000000);
  flags.add("rate-limit-global", config.rate_limit_global,
            "requests per second from all clients together (0: off)", 0, 1000000000);
  flags.add("rate-limit-global-burst", config.rate_limit_global_burst,
            "burst of the global bucket (0: the rate)", 0, 1000000000);
  flags.add("rate-limit-table", config.rate_limit_table,
            "client addresses the rate limiter remembers (the quietest is forgotten when full)",
            128, 1 << 24);
  flags.add("max-conns-per-ip", config.max_conns_per_ip,
            "open connections one client address may hold; over it a new connection gets 429 "
            "with Retry-After and is closed (0: off)",
            0, 1000000);
  flags.begin_section("auth");
  flags.add("auth-users", config.auth_users,
            "FILE of NAME:pbkdf2-sha256:ITER:SALT:HASH lines (serverlab-passwd): HTTP Basic "
            "auth for /-/ (except /-/health) and for writes under /api/");
  flags.add("auth-admins", config.auth_admins,
            "comma-separated users allowed on /-/ (not set: every user in --auth-users)");
  flags.add("auth-writers", config.auth_writers,
            "comma-separated users allowed to POST/PUT/DELETE under /api/ (not set: every user)");
  flags.add_check([&config]() -> std::optional<std::string> {
    if (!config.auth_on()) return std::nullopt;
    std::vector<AuthUser> users;
    if (auto problem = load_users_file(config.auth_users, users))
      return "--auth-users: " + *problem;
    return std::nullopt;
  });
  flags.begin_section("http");  // the caller's later flags stay where they were
}

}  // namespace serverlab::http
