// routes.hpp: the proxy's routing table, [[upstream]] groups and [[route]] rules,
// read from the config file's tables, and the match that picks a route per request.
//
//   [[upstream]]                         [[route]]
//   name = "api"                         host = "api.example"     # optional
//   servers = ["127.0.0.1:8081",         path = "/v1/"            # prefix, default "/"
//              "127.0.0.1:8082,weight=3"] upstream = "api"
//   balance = "least-conn"   # optional  host_header = "keep"     # or "rewrite:NAME"
//
// An upstream lists its backends either as `servers` (an array of "HOST:PORT" or
// "HOST:PORT,weight=N") or, for one backend, as `server = "HOST:PORT"` with an
// optional `weight = N`. Its `balance` defaults to --balance.
//
// Matching (match_route), like virtual hosts then locations:
//   1. the routes whose `host` equals the request's Host (no port, any case) are
//      tried first; among those whose `path` is a prefix of the request path, the
//      longest prefix wins (the first in file order on a tie);
//   2. only when none of them matches, the routes without `host` are tried the same way;
//   3. nothing matches: no route (the proxy answers 404). A catch-all is a route with
//      no host and path "/".
// A path prefix is compared byte for byte: "/api" also matches "/apix"; write "/api/"
// to mean the directory.
//
// Who may call: main() while parsing flags (the parse_* functions), the loop thread
// (match_route). Pure: no I/O except reading the config file back to tell a TOML
// string from a number (value_is_string).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "picker.hpp"
#include "serverlab/flags.hpp"

namespace serverlab::proxy {

struct BackendSpec {
  std::string host;
  std::uint16_t port = 0;
  unsigned weight = 1;
};

// "HOST:PORT" or "HOST:PORT,weight=N" (1 <= N <= 100); nullopt for anything else.
std::optional<BackendSpec> parse_backend(std::string_view text);

// One [[upstream]] table: a named group of backends with its own balancing.
struct UpstreamGroup {
  std::string name;
  std::vector<BackendSpec> servers;
  std::optional<Balance> balance;  // nullopt: the --balance flag's mode
  std::string where;               // FILE:LINE:COLUMN of its [[upstream]] header
};

// One [[route]] table.
struct Route {
  std::string host;                // lower case, no port; "" matches any Host
  std::string path = "/";          // prefix of the request path
  std::string upstream;            // an UpstreamGroup's name
  std::string rewrite_host;        // "" keeps the client's Host; else the Host sent upstream
  std::size_t group = 0;           // index of `upstream` in the groups (link_routes)
  std::string where;               // FILE:LINE:COLUMN of its [[route]] header
  std::string upstream_where;      // FILE:LINE:COLUMN of its `upstream` value
};

// Reads [[upstream]] tables into `out` (appending); returns the first error as one
// line starting with FILE:LINE:COLUMN (unknown key, wrong type, bad address, no
// backend, duplicate name).
std::optional<std::string> parse_upstream_tables(const std::vector<ConfigTable>& tables,
                                                 std::vector<UpstreamGroup>& out);
// Reads [[route]] tables into `out` (appending); errors as above.
std::optional<std::string> parse_route_tables(const std::vector<ConfigTable>& tables,
                                              std::vector<Route>& out);
// Sets each route's `group` to its upstream's index; an unknown upstream name is an
// error at the route's `upstream` value.
std::optional<std::string> link_routes(std::vector<Route>& routes,
                                       const std::vector<UpstreamGroup>& groups);

// The index of the route for a request (rules above), or nullopt. `host` is the
// request's Host as sent ("Example.COM:8080" is fine); `path` its path, no query.
std::optional<std::size_t> match_route(std::span<const Route> routes, std::string_view host,
                                       std::string_view path);

// A Host value without its port, in lower case ("[::1]:80" -> "[::1]").
std::string normalize_host(std::string_view host);

// True when the config value at `where` ("FILE:LINE:COLUMN") is written as a TOML
// string (starts with a quote). ConfigValue keeps only the text of a scalar, so the
// file is read back to tell `weight = "3"` from `weight = 3`. nullopt when the file
// or position cannot be read.
std::optional<bool> value_is_string(const std::string& where);

}  // namespace serverlab::proxy
