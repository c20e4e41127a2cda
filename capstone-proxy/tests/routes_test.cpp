// routes_test.cpp: the routing table (routes.hpp): which route a request gets, and
// how [[upstream]] / [[route]] tables are read and refused (file:line:column errors).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "routes.hpp"
#include "serverlab/flags.hpp"
#include "temp_dir.hpp"

using namespace serverlab;
using namespace serverlab::proxy;

namespace {

Route route(std::string host, std::string path, std::string upstream) {
  Route r;
  r.host = std::move(host);
  r.path = std::move(path);
  r.upstream = std::move(upstream);
  return r;
}

// The upstream name of the route chosen, or "404".
std::string where_to(const std::vector<Route>& routes, std::string_view host, std::string_view path) {
  std::optional<std::size_t> i = match_route(routes, host, path);
  return i ? routes[*i].upstream : "404";
}

}  // namespace

// ---------------------------------------------------------------- matching

TEST(RouteMatch, LongestPathPrefixWins) {
  std::vector<Route> routes = {route("", "/", "root"), route("", "/api/", "api"),
                               route("", "/api/v2/", "v2")};
  EXPECT_EQ(where_to(routes, "x", "/index.html"), "root");
  EXPECT_EQ(where_to(routes, "x", "/api/users"), "api");
  EXPECT_EQ(where_to(routes, "x", "/api/v2/users"), "v2");
  EXPECT_EQ(where_to(routes, "x", "/api"), "root");  // "/api/" is not a prefix of "/api"
}

TEST(RouteMatch, TheFirstOfEqualPrefixesWins) {
  std::vector<Route> routes = {route("", "/a/", "first"), route("", "/a/", "second")};
  EXPECT_EQ(where_to(routes, "", "/a/b"), "first");
}

TEST(RouteMatch, HostRoutesComeBeforeAnyHostRoutes) {
  std::vector<Route> routes = {route("", "/api/v1/", "any-long"), route("shop.example", "/", "shop"),
                               route("api.example", "/", "api")};
  // A route naming the Host wins even over a longer any-host prefix.
  EXPECT_EQ(where_to(routes, "shop.example", "/api/v1/x"), "shop");
  EXPECT_EQ(where_to(routes, "api.example", "/"), "api");
  // Another Host falls back to the any-host routes.
  EXPECT_EQ(where_to(routes, "other.example", "/api/v1/x"), "any-long");
  EXPECT_EQ(where_to(routes, "other.example", "/"), "404");
  EXPECT_EQ(where_to(routes, "", "/"), "404");
}

TEST(RouteMatch, HostRoutesWithoutAMatchingPathFallBack) {
  std::vector<Route> routes = {route("a.example", "/only/", "a"), route("", "/", "default")};
  EXPECT_EQ(where_to(routes, "a.example", "/only/x"), "a");
  EXPECT_EQ(where_to(routes, "a.example", "/else"), "default");
}

TEST(RouteMatch, HostIsComparedWithoutPortAndCase) {
  std::vector<Route> routes = {route("api.example", "/", "api"), route("[::1]", "/", "v6")};
  EXPECT_EQ(where_to(routes, "API.Example:8080", "/"), "api");
  EXPECT_EQ(where_to(routes, "[::1]:8080", "/"), "v6");
  EXPECT_EQ(normalize_host("Example.COM"), "example.com");
  EXPECT_EQ(normalize_host("[::1]"), "[::1]");
}

TEST(RouteMatch, NoRoutesNoMatch) {
  EXPECT_EQ(match_route({}, "x", "/"), std::nullopt);
}

TEST(Backend, HostPortAndWeight) {
  auto b = parse_backend("127.0.0.1:8081,weight=3");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 8081);
  EXPECT_EQ(b->weight, 3u);
  EXPECT_EQ(parse_backend("localhost:80")->weight, 1u);
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:80,weight=0",
                          "127.0.0.1:80,weight=101", "127.0.0.1:80,w=2"}) {
    EXPECT_EQ(parse_backend(bad), std::nullopt) << bad;
  }
}

// ---------------------------------------------------------------- the config file

namespace {

// Reads `toml` the way http-proxy does: the two table takers, then the link check.
struct Parsed {
  std::optional<std::string> error;
  std::vector<UpstreamGroup> upstreams;
  std::vector<Route> routes;
};

class ConfigTables : public ::testing::Test {
 protected:
  Parsed parse(std::string_view toml) {
    path_ = dir_.write("proxy.toml", toml);
    Parsed p;
    Flags flags("http-proxy", "test");
    flags.add_tables("upstream", [&](const std::vector<ConfigTable>& t) {
      return parse_upstream_tables(t, p.upstreams);
    });
    flags.add_tables("route", [&](const std::vector<ConfigTable>& t) {
      return parse_route_tables(t, p.routes);
    });
    flags.add_check([&] { return link_routes(p.routes, p.upstreams); });
    const std::string config = "--config=" + path_;
    const char* argv[] = {"http-proxy", config.c_str()};
    p.error = flags.parse(2, argv);
    return p;
  }
  // The error must be exactly "FILE:LINE:COLUMN: <starts with `text`>".
  void expect_error(std::string_view toml, const std::string& at, const std::string& text) {
    Parsed p = parse(toml);
    ASSERT_TRUE(p.error.has_value()) << toml;
    const std::string prefix = path_ + ":" + at + ": ";
    EXPECT_EQ(p.error->substr(0, prefix.size()), prefix) << *p.error;
    EXPECT_NE(p.error->find(text), std::string::npos) << *p.error;
  }
  serverlab::testing::TempDir dir_{"proxy-routes"};
  std::string path_;
};

constexpr std::string_view kGood = R"([[upstream]]
name = "api"
servers = ["127.0.0.1:8081", "127.0.0.1:8082,weight=3"]
balance = "least-conn"

[[upstream]]
name = "static"
server = "127.0.0.1:8083"
weight = 2

[[route]]
host = "API.example"
path = "/v1/"
upstream = "api"
host_header = "rewrite:internal.api"

[[route]]
upstream = "static"
host_header = "keep"
)";

}  // namespace

TEST_F(ConfigTables, AGoodFileGivesGroupsAndLinkedRoutes) {
  Parsed p = parse(kGood);
  ASSERT_EQ(p.error, std::nullopt);
  ASSERT_EQ(p.upstreams.size(), 2u);
  EXPECT_EQ(p.upstreams[0].name, "api");
  ASSERT_EQ(p.upstreams[0].servers.size(), 2u);
  EXPECT_EQ(p.upstreams[0].servers[1].port, 8082);
  EXPECT_EQ(p.upstreams[0].servers[1].weight, 3u);
  EXPECT_EQ(p.upstreams[0].balance, Balance::LeastConn);
  ASSERT_EQ(p.upstreams[1].servers.size(), 1u);
  EXPECT_EQ(p.upstreams[1].servers[0].weight, 2u);
  EXPECT_EQ(p.upstreams[1].balance, std::nullopt);
  ASSERT_EQ(p.routes.size(), 2u);
  EXPECT_EQ(p.routes[0].host, "api.example");
  EXPECT_EQ(p.routes[0].path, "/v1/");
  EXPECT_EQ(p.routes[0].rewrite_host, "internal.api");
  EXPECT_EQ(p.routes[0].group, 0u);
  EXPECT_EQ(p.routes[1].host, "");
  EXPECT_EQ(p.routes[1].path, "/");
  EXPECT_EQ(p.routes[1].rewrite_host, "");
  EXPECT_EQ(p.routes[1].group, 1u);
}

TEST_F(ConfigTables, UnknownKeys) {
  expect_error("[[route]]\nupstream = \"a\"\npaht = \"/x\"\n", "3:8", "unknown key 'paht' in [[route]]");
  expect_error("[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\nbackup = true\n", "4:10",
               "unknown key 'backup' in [[upstream]]");
}

TEST_F(ConfigTables, WrongTypes) {
  expect_error("[[upstream]]\nname = 5\nserver = \"127.0.0.1:1\"\n", "2:8", "name: expects a string");
  expect_error("[[upstream]]\nname = \"a\"\nserver = \"127.0.0.1:1\"\nweight = \"2\"\n", "4:10",
               "weight: expects a whole number");
  expect_error("[[upstream]]\nname = \"a\"\nservers = \"127.0.0.1:1\"\n", "3:11",
               "servers: expects an array of strings");
  expect_error("[[upstream]]\nname = \"a\"\nserver = [\"127.0.0.1:1\"]\n", "3:10",
               "server: expects a string");
  expect_error("[[route]]\nupstream = \"a\"\npath = 1\n", "3:8", "path: expects a string");
}

TEST_F(ConfigTables, BadValues) {
  expect_error("[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1\"]\n", "3:11",
               "'127.0.0.1': expected HOST:PORT");
  expect_error("[[upstream]]\nname = \"a\"\nserver = \"127.0.0.1:1\"\nweight = 0\n", "4:10",
               "weight: expects 1 to 100");
  expect_error("[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\nbalance = \"random\"\n",
               "4:11", "balance: 'random'");
  expect_error("[[upstream]]\nname = \"a\"\n", "1:1", "has no backend");
  expect_error("[[upstream]]\nname = \"a\"\nserver = \"127.0.0.1:1\"\n[[upstream]]\nname = \"a\"\n"
               "server = \"127.0.0.1:2\"\n",
               "5:8", "'a' is already used");
  expect_error("[[route]]\nupstream = \"a\"\nhost_header = \"rewrite\"\n", "3:15",
               "expects \"keep\" or \"rewrite:NAME\"");
  expect_error("[[route]]\nupstream = \"a\"\npath = \"api/\"\n", "3:8", "starts with /");
  expect_error("[[route]]\npath = \"/\"\n", "1:1", "needs upstream");
}

TEST_F(ConfigTables, ARouteToAnUnknownUpstream) {
  expect_error("[[upstream]]\nname = \"api\"\nserver = \"127.0.0.1:1\"\n\n[[route]]\nupstream = \"apl\"\n",
               "6:12", "no [[upstream]] is named 'apl' (known: api)");
}
