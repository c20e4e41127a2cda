// The TOML config file, the environment and --check-config (docs/CONFIG.md): every
// rule of the format has a test here, and each test fails if its rule is broken.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "serverlab/flags.hpp"
#include "serverlab/http/config.hpp"
#include "flags_test_support.hpp"

namespace serverlab {
namespace {

using testing::Args;
using testing::TempFile;

// Sets an environment variable for the length of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// A program with a flag of every kind, in three sections.
struct Program {
  std::uint16_t port = 4000;
  std::string name = "anon";
  bool verbose = false;
  int workers = 4;
  std::uint64_t max_body = 1024;
  double timeout = 5;
  std::string autoindex = "on";
  std::string mode = "fast";
  Flags flags{"prog", "a test program"};
  Program() {
    flags.add("port", port, "port");
    flags.add("name", name, "a name");
    flags.add("verbose", verbose, "talk more");
    flags.begin_section("limits");
    flags.add("workers", workers, "worker count", 1, 64);
    flags.add_size("max-body", max_body, "largest body");
    flags.add_seconds("timeout", timeout, "seconds to wait");
    flags.begin_section("http");
    flags.add_choice("autoindex", autoindex, {"on", "off"}, "list directories");
    flags.add_choice("mode", mode, {"fast", "safe"}, "how to run");
  }
  std::optional<std::string> parse(std::vector<const char*> words) {
    Args a(std::move(words));
    return flags.parse(a.argc(), a.argv());
  }
  std::optional<std::string> parse_file(const TempFile& file) {
    return parse({"--config", file.path().c_str()});
  }
};

// Expects `err` to start with the file's path, the line and the column.
void expect_located(const std::optional<std::string>& err, const TempFile& file, int line,
                    int column) {
  ASSERT_TRUE(err.has_value()) << "the file was accepted";
  const std::string where =
      file.path() + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  EXPECT_EQ(err->rfind(where, 0), 0u) << "wanted '" << where << "' first in: " << *err;
}

TEST(ConfigFile, KeysAreFlagNamesInTheirSections) {
  TempFile file(
      "[server]\n"
      "port = 9000\n"
      "name = \"from-file\"\n"
      "verbose = true\n"
      "[limits]\n"
      "workers = 8\n"
      "max-body = 2048\n"
      "timeout = 0.25\n"
      "[http]\n"
      "autoindex = false\n"
      "mode = \"safe\"\n");
  Program p;
  ASSERT_EQ(p.parse_file(file), std::nullopt);
  EXPECT_EQ(p.port, 9000);
  EXPECT_EQ(p.name, "from-file");
  EXPECT_TRUE(p.verbose);
  EXPECT_EQ(p.workers, 8);
  EXPECT_EQ(p.max_body, 2048u);
  EXPECT_EQ(p.timeout, 0.25);
  EXPECT_EQ(p.autoindex, "off");  // an on|off choice is a boolean in the file
  EXPECT_EQ(p.mode, "safe");
}

TEST(ConfigFile, SizesAlsoTakeSuffixStringsAndSecondsTakeIntegers) {
  TempFile file("[limits]\nmax-body = \"64K\"\ntimeout = 3\n");
  Program p;
  ASSERT_EQ(p.parse_file(file), std::nullopt);
  EXPECT_EQ(p.max_body, 64u * 1024);
  EXPECT_EQ(p.timeout, 3.0);
}

TEST(ConfigFile, AFlagInTheWrongSectionIsAnError) {
  TempFile file("[server]\nautoindex = false\n");
  Program p;
  auto err = p.parse_file(file);
  expect_located(err, file, 2, 1);
  EXPECT_NE(err->find("belongs in [http]"), std::string::npos) << *err;
}

TEST(ConfigFile, UnknownKeyNamesFileLineAndColumn) {
  TempFile file("[http]\nmode = \"fast\"\n  autoindx = true\n");
  Program p;
  auto err = p.parse_file(file);
  expect_located(err, file, 3, 3);
  EXPECT_NE(err->find("unknown key 'autoindx' in [http]"), std::string::npos) << *err;
}

TEST(ConfigFile, AProgramsOwnSectionIsKnown) {
  TempFile file("[proxy]\nupstream = \"127.0.0.1:9000\"\n");
  Program p;
  std::string upstream;
  p.flags.begin_section("proxy");
  p.flags.add("upstream", upstream, "a backend");
  EXPECT_EQ(p.parse_file(file), std::nullopt);
  EXPECT_EQ(upstream, "127.0.0.1:9000");
  // Without a flag in [proxy], the table is unknown.
  Program q;
  auto err = q.parse_file(file);
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("unknown table [proxy]"), std::string::npos) << *err;
}

TEST(ConfigFile, UnknownTableIsAnError) {
  TempFile file("[server]\nport = 1\n\n[htpp]\nmode = \"fast\"\n");
  Program p;
  auto err = p.parse_file(file);
  expect_located(err, file, 4, 2);
  EXPECT_NE(err->find("unknown table [htpp]"), std::string::npos) << *err;
}

TEST(ConfigFile, WrongTypesAreErrorsAtTheValue) {
  struct Case {
    const char* text;
    int line, column;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"[server]\nport = \"8080\"\n", 2, 8, "whole number"},
      {"[server]\nverbose = \"yes\"\n", 2, 11, "true or false"},
      {"[server]\nname = 42\n", 2, 8, "string"},
      {"[http]\nautoindex = \"off\"\n", 2, 13, "true or false"},
      {"[http]\nmode = true\n", 2, 8, "string"},
      {"[limits]\nmax-body = 1.5\n", 2, 12, "byte count"},
      {"[limits]\ntimeout = \"5s\"\n", 2, 11, "seconds"},
      {"[limits]\nworkers = [1, 2]\n", 2, 11, "whole number"},
  };
  for (const Case& c : cases) {
    TempFile file(c.text);
    Program p;
    auto err = p.parse_file(file);
    SCOPED_TRACE(c.text);
    expect_located(err, file, c.line, c.column);
    EXPECT_NE(err->find(c.says), std::string::npos) << *err;
  }
}

TEST(ConfigFile, OutOfRangeValuesAreErrorsAtTheValue) {
  const std::vector<std::string> cases = {
      "[limits]\nworkers = 65\n",  "[limits]\nworkers = 0\n",          "[server]\nport = 70000\n",
      "[limits]\ntimeout = -1\n",  "[limits]\nmax-body = \"1T\"\n",    "[limits]\nmax-body = -5\n",
      "[http]\nmode = \"slow\"\n", "[limits]\nworkers = 99999999999\n"};
  for (const std::string& text : cases) {
    TempFile file(text);
    Program p;
    auto err = p.parse_file(file);
    SCOPED_TRACE(text);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->rfind(file.path() + ":2:", 0), 0u) << *err;
  }
}

// parse_or_exit as main() calls it; exits 3 if it returns.
void run_cli(std::vector<const char*> words) {
  Program p;
  Args a(std::move(words));
  p.flags.parse_or_exit(a.argc(), a.argv());
  std::exit(3);
}

TEST(ConfigFile, AnInvalidFileExitsTwoNamingTheLocation) {
  TempFile file("[limits]\nworkers = 65\n");
  EXPECT_EXIT(run_cli({"--config", file.path().c_str()}), ::testing::ExitedWithCode(2),
              "^prog: " + file.path() +
                  ":2:11: \\[limits\\] workers = 65: must be between 1 "
                  "and 64\n");
}

TEST(ConfigFile, TheOldNameEqualsValueFormatIsRefusedWithAHint) {
  TempFile unquoted("root = /srv/www\n");  // not TOML at all
  Program p;
  auto err = p.parse_file(unquoted);
  expect_located(err, unquoted, 1, 8);
  EXPECT_NE(err->find("old 'name = value' format"), std::string::npos) << *err;

  TempFile bare("port = 9000\n");  // valid TOML, but outside any section
  err = p.parse_file(bare);
  expect_located(err, bare, 1, 1);
  EXPECT_NE(err->find("outside any section"), std::string::npos) << *err;
  EXPECT_EQ(p.port, 4000);
}

TEST(ConfigFile, PrecedenceIsCommandLineThenEnvironmentThenFileThenDefault) {
  TempFile file("[server]\nport = 9000\nname = \"file\"\n[limits]\nworkers = 8\nmax-body = 100\n");
  ScopedEnv env_port("SERVERLAB_PORT", "9100");
  ScopedEnv env_body("SERVERLAB_MAX_BODY", "2K");  // --max-body: '-' becomes '_'
  Program p;
  ASSERT_EQ(p.parse({"--config", file.path().c_str(), "--port", "9200"}), std::nullopt);
  EXPECT_EQ(p.port, 9200);       // command line over environment and file
  EXPECT_EQ(p.max_body, 2048u);  // environment over file
  EXPECT_EQ(p.workers, 8);       // file over default
  EXPECT_EQ(p.name, "file");
  EXPECT_EQ(p.timeout, 5.0);  // default
  EXPECT_TRUE(p.flags.was_set("max-body"));
}

TEST(ConfigFile, EnvironmentNamesAndErrors) {
  EXPECT_EQ(Flags::env_name("max-body"), "SERVERLAB_MAX_BODY");
  EXPECT_EQ(Flags::env_name("autoindex"), "SERVERLAB_AUTOINDEX");
  ScopedEnv bad("SERVERLAB_WORKERS", "lots");
  Program p;
  auto err = p.parse({});
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("SERVERLAB_WORKERS=lots"), std::string::npos) << *err;
}

TEST(ConfigFile, EnvironmentMayNameTheFile) {
  TempFile file("[server]\nname = \"via-env\"\n");
  ScopedEnv env("SERVERLAB_CONFIG", file.path().c_str());
  Program p;
  ASSERT_EQ(p.parse({}), std::nullopt);
  EXPECT_EQ(p.name, "via-env");
}

TEST(ConfigFile, CheckConfigSaysOkAndExitsZero) {
  TempFile file("[server]\nport = 1\n");
  // The verdict goes to stdout; the death test sees stderr, so send one to the other.
  EXPECT_EXIT(
      {
        ::dup2(2, 1);
        run_cli({"--check-config", "--config", file.path().c_str()});
      },
      ::testing::ExitedWithCode(0), "^prog: configuration OK \\(" + file.path() + "\\)\n$");
}

TEST(ConfigFile, CheckConfigFailsWithTwoAndNoUsage) {
  TempFile file("[server]\nport = \"x\"\n");
  EXPECT_EXIT(run_cli({"--check-config", "--config", file.path().c_str()}),
              ::testing::ExitedWithCode(2),
              "^prog: " + file.path() + ":2:8: .*\nprog: configuration check failed\n$");
}

TEST(ConfigFile, ChecksOfAFileValueNameItsLocation) {
  Flags flags("prog", "test");
  std::string root = "ok";
  flags.begin_section("http");
  flags.add("root", root, "a directory");
  flags.add_check([&]() -> std::optional<std::string> {
    if (root == "ok") return std::nullopt;
    return "--root '" + root + "': no such directory";
  });
  TempFile file("[http]\n\nroot = \"/missing\"\n");
  Args argv{"--config", file.path().c_str()};
  auto err = flags.parse(argv.argc(), argv.argv());
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(*err, file.path() + ":3:8: --root '/missing': no such directory");
  // The same value from the command line: no file location.
  Args cli{"--config", file.path().c_str(), "--root", "/gone"};
  err = flags.parse(cli.argc(), cli.argv());
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(*err, "--root '/gone': no such directory");
}

TEST(ConfigFile, ArraysOfTablesGoToTheirTaker) {
  TempFile file(
      "[[route]]\nprefix = \"/api/\"\nmethods = [\"GET\", \"POST\"]\nauth = true\n"
      "[[route]]\nprefix = \"/-/\"\n");
  Program p;
  std::vector<ConfigTable> got;
  p.flags.add_tables("route", [&](const std::vector<ConfigTable>& tables) {
    got = tables;
    return std::optional<std::string>();
  });
  ASSERT_EQ(p.parse_file(file), std::nullopt);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].where, file.path() + ":1:1");
  EXPECT_EQ(got[0].values.at("prefix").text, "/api/");
  EXPECT_EQ(got[0].values.at("auth").text, "true");
  EXPECT_TRUE(got[0].values.at("methods").is_array);
  EXPECT_EQ(got[0].values.at("methods").items, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(got[1].values.at("prefix").text, "/-/");

  // The taker's error is the parse error.
  Program q;
  q.flags.add_tables("route", [](const std::vector<ConfigTable>& tables) {
    return std::optional<std::string>(tables.at(1).where + ": refused");
  });
  EXPECT_EQ(q.parse_file(file), std::optional<std::string>(file.path() + ":5:1: refused"));
}

TEST(ConfigFile, ArraysOfTablesWithoutATakerAreErrors) {
  TempFile file("[[upstream]]\naddress = \"127.0.0.1:9000\"\n");
  Program p;
  auto err = p.parse_file(file);
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("takes no [[upstream]] tables"), std::string::npos) << *err;
}

TEST(ConfigFile, UsageGroupsFlagsBySection) {
  Program p;
  const std::string u = p.flags.usage();
  const auto server = u.find("[server]");
  const auto limits = u.find("[limits]");
  const auto http = u.find("[http]");
  ASSERT_NE(server, std::string::npos) << u;
  ASSERT_NE(limits, std::string::npos) << u;
  ASSERT_NE(http, std::string::npos) << u;
  EXPECT_LT(server, u.find("--verbose"));
  EXPECT_LT(limits, u.find("--workers"));
  EXPECT_GT(u.find("--workers"), u.find("--verbose"));
  EXPECT_LT(http, u.find("--autoindex on|off"));
  EXPECT_NE(u.find("--check-config"), std::string::npos) << u;
}

// The shared HTTP flags sit in the sections docs/CONFIG.md lists.
TEST(ConfigFile, HttpFlagsLiveInTheirSections) {
  TempFile file(
      "[server]\nport = 0\nbind = \"127.0.0.1\"\n"
      "[http]\nautoindex = false\nadmin = true\ndotfiles = \"allow\"\n"
      "[limits]\nmax-body = \"64K\"\nheader-timeout = 2.5\nshutdown-timeout = 1\n"
      "max-headers = 50\n"
      "[log]\nlog-level = \"warn\"\nlog-format = \"json\"\naccess-log = \"off\"\n"
      "error-log-rate = 5\n");
  http::HttpConfig config;
  Flags flags("http", "test");
  http::add_http_flags(flags, config, 8080);
  Args argv{"--config", file.path().c_str()};
  ASSERT_EQ(flags.parse(argv.argc(), argv.argv()), std::nullopt);
  EXPECT_EQ(config.server.port, 0);
  EXPECT_EQ(config.autoindex, "off");
  EXPECT_EQ(config.dotfiles, "allow");
  EXPECT_EQ(config.max_body, 64u * 1024);
  EXPECT_EQ(config.header_timeout, 2.5);
  EXPECT_EQ(config.server.shutdown_timeout, 1.0);
  EXPECT_EQ(config.max_headers, 50);
  EXPECT_EQ(config.server.log_level, "warn");
  EXPECT_EQ(config.server.log_format, "json");
  EXPECT_EQ(config.error_log_rate, 5);
}

}  // namespace
}  // namespace serverlab
