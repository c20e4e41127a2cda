// routes.cpp: reading [[upstream]] / [[route]] tables and matching a request to a route.
#include "routes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>

#include "serverlab/socket.hpp"

namespace serverlab::proxy {

std::optional<BackendSpec> parse_backend(std::string_view text) {
  BackendSpec spec;
  std::size_t comma = text.find(',');
  if (comma != std::string_view::npos) {
    std::string_view option = text.substr(comma + 1);
    if (option.substr(0, 7) != "weight=") return std::nullopt;
    std::string_view n = option.substr(7);
    if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
    std::from_chars(n.data(), n.data() + n.size(), spec.weight);
    if (spec.weight < 1 || spec.weight > 100) return std::nullopt;
    text = text.substr(0, comma);
  }
  std::optional<HostPort> hp = parse_host_port(text);
  if (!hp || hp->host.empty() || hp->port == 0) return std::nullopt;
  spec.host = hp->host;
  spec.port = hp->port;
  return spec;
}

std::optional<bool> value_is_string(const std::string& where) {
  // FILE:LINE:COLUMN; FILE may itself contain ':', so split from the right.
  std::size_t c2 = where.rfind(':');
  if (c2 == std::string::npos || c2 == 0) return std::nullopt;
  std::size_t c1 = where.rfind(':', c2 - 1);
  if (c1 == std::string::npos) return std::nullopt;
  std::size_t line = 0;
  std::size_t column = 0;
  const char* l = where.data() + c1 + 1;
  const char* c = where.data() + c2 + 1;
  if (std::from_chars(l, where.data() + c2, line).ec != std::errc{} ||
      std::from_chars(c, where.data() + where.size(), column).ec != std::errc{} || line == 0 ||
      column == 0) {
    return std::nullopt;
  }
  std::ifstream in(where.substr(0, c1));
  std::string text;
  for (std::size_t n = 0; n < line; ++n) {
    if (!std::getline(in, text)) return std::nullopt;
  }
  if (column > text.size()) return std::nullopt;
  return text[column - 1] == '"' || text[column - 1] == '\'';
}

namespace {

// The checks every table key goes through: a string key must be a TOML string, a
// list key an array of strings, a number key a TOML integer.
enum class Want { String, StringList, Integer };

std::optional<std::string> check_type(std::string_view table, std::string_view key,
                                      const ConfigValue& value, Want want) {
  const std::string head = fmt::format("{}: [[{}]] {}", value.where, table, key);
  switch (want) {
    case Want::String:
      if (value.is_array || value_is_string(value.where) == false)
        return head + ": expects a string (in double quotes)";
      return std::nullopt;
    case Want::StringList:
      if (!value.is_array) return head + ": expects an array of strings, such as [\"127.0.0.1:8081\"]";
      return std::nullopt;
    case Want::Integer:
      if (value.is_array || value_is_string(value.where) == true ||
          value.text.find_first_not_of("0123456789") != std::string::npos || value.text.empty())
        return head + ": expects a whole number (a TOML integer)";
      return std::nullopt;
  }
  return std::nullopt;
}

// Looks `key` up among `allowed` for one table; the error names the first key that
// is not allowed.
std::optional<std::string> check_keys(std::string_view table, const ConfigTable& t,
                                      std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : t.values) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return fmt::format("{}: unknown key '{}' in [[{}]] (keys: {})", value.where, key, table, list);
  }
  return std::nullopt;
}

const ConfigValue* find(const ConfigTable& t, std::string_view key) {
  auto it = t.values.find(key);
  return it == t.values.end() ? nullptr : &it->second;
}

std::optional<std::string> read_upstream(const ConfigTable& t, UpstreamGroup& group) {
  constexpr std::string_view kT = "upstream";
  if (auto err = check_keys(kT, t, {"name", "servers", "server", "weight", "balance"})) return err;
  group.where = t.where;
  const ConfigValue* name = find(t, "name");
  if (name == nullptr) return t.where + ": [[upstream]] needs a name = \"...\"";
  if (auto err = check_type(kT, "name", *name, Want::String)) return err;
  if (name->text.empty()) return name->where + ": [[upstream]] name: must not be empty";
  group.name = name->text;

  const ConfigValue* servers = find(t, "servers");
  const ConfigValue* server = find(t, "server");
  const ConfigValue* weight = find(t, "weight");
  if (servers != nullptr && server != nullptr)
    return server->where + ": [[upstream]] server: give either servers = [...] or server = \"...\", not both";
  if (servers != nullptr) {
    if (auto err = check_type(kT, "servers", *servers, Want::StringList)) return err;
    if (weight != nullptr)
      return weight->where + ": [[upstream]] weight: goes with server = \"...\"; in servers write \"HOST:PORT,weight=N\"";
    for (const std::string& item : servers->items) {
      std::optional<BackendSpec> spec = parse_backend(item);
      if (!spec)
        return fmt::format("{}: [[upstream]] servers: '{}': expected HOST:PORT or HOST:PORT,weight=N",
                           servers->where, item);
      group.servers.push_back(*spec);
    }
  } else if (server != nullptr) {
    if (auto err = check_type(kT, "server", *server, Want::String)) return err;
    std::optional<BackendSpec> spec = parse_backend(server->text);
    if (!spec || server->text.find(',') != std::string::npos)
      return fmt::format("{}: [[upstream]] server: '{}': expected HOST:PORT", server->where, server->text);
    if (weight != nullptr) {
      if (auto err = check_type(kT, "weight", *weight, Want::Integer)) return err;
      if (weight->text.size() > 3 || std::stoul(weight->text) < 1 || std::stoul(weight->text) > 100)
        return weight->where + ": [[upstream]] weight: expects 1 to 100";
      spec->weight = static_cast<unsigned>(std::stoul(weight->text));
    }
    group.servers.push_back(*spec);
  }
  if (group.servers.empty())
    return t.where + ": [[upstream]] '" + group.name + "' has no backend (servers = [\"HOST:PORT\", ...])";

  if (const ConfigValue* balance = find(t, "balance")) {
    if (auto err = check_type(kT, "balance", *balance, Want::String)) return err;
    group.balance = parse_balance(balance->text);
    if (!group.balance)
      return fmt::format(
          "{}: [[upstream]] balance: '{}': expects round-robin, least-conn, hash-ip or hash-path",
          balance->where, balance->text);
  }
  return std::nullopt;
}

std::optional<std::string> read_route(const ConfigTable& t, Route& route) {
  constexpr std::string_view kT = "route";
  if (auto err = check_keys(kT, t, {"host", "path", "upstream", "host_header"})) return err;
  route.where = t.where;
  if (const ConfigValue* host = find(t, "host")) {
    if (auto err = check_type(kT, "host", *host, Want::String)) return err;
    route.host = normalize_host(host->text);
  }
  if (const ConfigValue* path = find(t, "path")) {
    if (auto err = check_type(kT, "path", *path, Want::String)) return err;
    if (path->text.empty() || path->text.front() != '/')
      return fmt::format("{}: [[route]] path: '{}': a path prefix starts with /", path->where, path->text);
    route.path = path->text;
  }
  const ConfigValue* upstream = find(t, "upstream");
  if (upstream == nullptr) return t.where + ": [[route]] needs upstream = \"NAME\" (an [[upstream]]'s name)";
  if (auto err = check_type(kT, "upstream", *upstream, Want::String)) return err;
  route.upstream = upstream->text;
  route.upstream_where = upstream->where;
  if (const ConfigValue* hh = find(t, "host_header")) {
    if (auto err = check_type(kT, "host_header", *hh, Want::String)) return err;
    constexpr std::string_view kRewrite = "rewrite:";
    if (hh->text.starts_with(kRewrite) && hh->text.size() > kRewrite.size() &&
        hh->text.find_first_of(" \t\r\n") == std::string::npos) {
      route.rewrite_host = hh->text.substr(kRewrite.size());
    } else if (hh->text != "keep") {
      return fmt::format("{}: [[route]] host_header: '{}': expects \"keep\" or \"rewrite:NAME\"",
                         hh->where, hh->text);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> parse_upstream_tables(const std::vector<ConfigTable>& tables,
                                                 std::vector<UpstreamGroup>& out) {
  std::set<std::string, std::less<>> names;
  for (const UpstreamGroup& g : out) names.insert(g.name);
  for (const ConfigTable& t : tables) {
    UpstreamGroup group;
    if (auto err = read_upstream(t, group)) return err;
    if (!names.insert(group.name).second)
      return fmt::format("{}: [[upstream]] name: '{}' is already used by another [[upstream]]",
                         find(t, "name")->where, group.name);
    out.push_back(std::move(group));
  }
  return std::nullopt;
}

std::optional<std::string> parse_route_tables(const std::vector<ConfigTable>& tables,
                                              std::vector<Route>& out) {
  for (const ConfigTable& t : tables) {
    Route route;
    if (auto err = read_route(t, route)) return err;
    out.push_back(std::move(route));
  }
  return std::nullopt;
}

std::optional<std::string> link_routes(std::vector<Route>& routes,
                                       const std::vector<UpstreamGroup>& groups) {
  for (Route& r : routes) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const UpstreamGroup& g) { return g.name == r.upstream; });
    if (it == groups.end()) {
      std::string known;
      for (const UpstreamGroup& g : groups) known += (known.empty() ? "" : ", ") + g.name;
      return fmt::format("{}: [[route]] upstream: no [[upstream]] is named '{}' (known: {})",
                         r.upstream_where.empty() ? r.where : r.upstream_where, r.upstream,
                         known.empty() ? "none" : known);
    }
    r.group = static_cast<std::size_t>(it - groups.begin());
  }
  return std::nullopt;
}

std::string normalize_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    std::size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string out(host);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

namespace {

// The longest-prefix route among those whose host is `host` ("" = the any-host routes).
std::optional<std::size_t> longest_prefix(std::span<const Route> routes, std::string_view host,
                                          std::string_view path) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const Route& r = routes[i];
    if (r.host != host || !path.starts_with(r.path)) continue;
    if (!best || r.path.size() > routes[*best].path.size()) best = i;
  }
  return best;
}

}  // namespace

std::optional<std::size_t> match_route(std::span<const Route> routes, std::string_view host,
                                       std::string_view path) {
  const std::string wanted = normalize_host(host);
  if (!wanted.empty()) {
    if (std::optional<std::size_t> i = longest_prefix(routes, wanted, path)) return i;
  }
  return longest_prefix(routes, "", path);
}

}  // namespace serverlab::proxy
