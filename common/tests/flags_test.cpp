// Flags: one parser for every program: forms, --help, errors, config files,
// sizes and seconds.
#include "serverlab/flags.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "flags_test_support.hpp"

namespace serverlab {
namespace {

using testing::Args;
using testing::TempFile;

struct Demo {
  std::uint16_t port = 4000;
  std::string name = "anon";
  bool verbose = false;
  int workers = 4;
  std::uint64_t max_body = 1024;
  double timeout = 5;
  std::string mode = "fast";
  Flags flags{"demo", "a demo program"};
  Demo() {
    flags.add("port", port, "port");
    flags.add("name", name, "a name");
    flags.add("verbose", verbose, "talk more");
    flags.add("workers", workers, "worker count", 1, 64);
    flags.add_size("max-body", max_body, "largest body");
    flags.add_seconds("timeout", timeout, "seconds to wait");
    flags.add_choice("mode", mode, {"fast", "safe"}, "how to run");
  }
  std::optional<std::string> parse(std::initializer_list<const char*> words) {
    Args a(words);
    return flags.parse(a.argc(), a.argv());
  }
};

TEST(Flags, DefaultsStandWhenNothingIsGiven) {
  Demo d;
  EXPECT_EQ(d.parse({}), std::nullopt);
  EXPECT_EQ(d.port, 4000);
  EXPECT_EQ(d.name, "anon");
  EXPECT_FALSE(d.flags.was_set("port"));
}

TEST(Flags, AcceptsSpaceAndEqualsForms) {
  Demo d;
  EXPECT_EQ(d.parse({"--port", "8080", "--name=bob", "--workers=8", "--mode", "safe"}),
            std::nullopt);
  EXPECT_EQ(d.port, 8080);
  EXPECT_EQ(d.name, "bob");
  EXPECT_EQ(d.workers, 8);
  EXPECT_EQ(d.mode, "safe");
  EXPECT_TRUE(d.flags.was_set("port"));
  EXPECT_FALSE(d.flags.was_set("timeout"));
}

TEST(Flags, BooleanFlagNeedsNoValueAndNeverSwallowsTheNextArgument) {
  Demo d;
  EXPECT_EQ(d.parse({"--verbose", "--port", "1"}), std::nullopt);
  EXPECT_TRUE(d.verbose);
  EXPECT_EQ(d.port, 1);
  EXPECT_EQ(d.parse({"--verbose=false"}), std::nullopt);
  EXPECT_FALSE(d.verbose);
  EXPECT_NE(d.parse({"--verbose=maybe"}), std::nullopt);
}

TEST(Flags, RejectsUnknownMissingAndOutOfRangeValues) {
  const std::vector<std::vector<const char*>> cases = {
      {"--nope"},         {"--port"},          {"--port", "65536"}, {"--port", "-1"},
      {"--port", "80x"},  {"--workers", "0"},  {"--workers", "65"}, {"--mode", "slow"},
      {"--max-body", "lots"}, {"--timeout", "-1"}, {"stray"},       {"--"},
      {"--config"}};
  for (const auto& words : cases) {
    Demo d;
    Args a(words);
    auto err = d.flags.parse(a.argc(), a.argv());
    EXPECT_TRUE(err.has_value()) << "accepted: " << (words.empty() ? "" : words[0]) << " ...";
  }
}

TEST(Flags, ErrorMessageNamesTheFlag) {
  Demo d;
  auto err = d.parse({"--workers", "99"});
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("--workers"), std::string::npos) << *err;
  EXPECT_NE(err->find("64"), std::string::npos) << *err;
}

// The CLI entry as main() uses it; exits 3 if parse_or_exit returns.
void run_cli(std::initializer_list<const char*> words) {
  Demo d;
  Args a(words);
  d.flags.parse_or_exit(a.argc(), a.argv());
  std::exit(3);
}

TEST(Flags, HelpPrintsUsageAndExitsZero) {
  EXPECT_EXIT(run_cli({"--help"}),
      ::testing::ExitedWithCode(0), "");
}

TEST(Flags, BadFlagPrintsErrorAndUsageOnStderrAndExitsTwo) {
  EXPECT_EXIT(run_cli({"--bogus"}),
      ::testing::ExitedWithCode(2), "unknown flag --bogus(.|\n)*Usage: demo");
}

TEST(Flags, UsageListsEveryFlagWithDefaults) {
  Demo d;
  std::string u = d.flags.usage();
  for (const char* name : {"--help", "--config FILE", "--port PORT", "--max-body BYTES",
                           "--timeout SEC", "--mode fast|safe", "--verbose"})
    EXPECT_NE(u.find(name), std::string::npos) << name << " missing from:\n" << u;
  EXPECT_NE(u.find("(default: 4000)"), std::string::npos) << u;
}

TEST(Flags, ConfigFileSetsValuesAndTheCommandLineWins) {
  TempFile file(
      "# a comment line\n"
      "\n"
      "[server]\n"
      "port = 9000\n"
      "name = \"from-file\"   # trailing comment\n"
      "max-body = \"2M\"\r\n"
      "verbose = true\n");
  Demo d;
  // --port comes BEFORE --config and still wins over the file.
  EXPECT_EQ(d.parse({"--port", "9100", "--config", file.path().c_str()}), std::nullopt);
  EXPECT_EQ(d.port, 9100);
  EXPECT_EQ(d.name, "from-file");
  EXPECT_EQ(d.max_body, 2u << 20);
  EXPECT_TRUE(d.verbose);
  EXPECT_TRUE(d.flags.was_set("name"));
  EXPECT_EQ(d.flags.config_path(), file.path());
}

TEST(Flags, ConfigFileErrorsNameTheFileLineAndColumn) {
  TempFile file("[server]\nport = 1\nthis line has no equals sign\n");
  Demo d;
  auto err = d.parse({"--config", file.path().c_str()});
  ASSERT_TRUE(err);
  EXPECT_NE(err->find(file.path() + ":3:"), std::string::npos) << *err;

  TempFile nested("[server]\nconfig = \"/etc/passwd\"\n");
  EXPECT_TRUE(d.parse({"--config", nested.path().c_str()}).has_value());
  TempFile bad_value("[server]\n\nworkers = 1000\n");
  const std::string arg = "--config=" + bad_value.path();
  err = d.parse({arg.c_str()});
  ASSERT_TRUE(err);
  EXPECT_NE(err->find(bad_value.path() + ":3:11:"), std::string::npos) << *err;
  EXPECT_NE(err->find("workers"), std::string::npos) << *err;
  EXPECT_NE(err->find("between 1 and 64"), std::string::npos) << *err;
}

TEST(Flags, MissingConfigFileIsAnError) {
  Demo d;
  auto err = d.parse({"--config=/nonexistent/serverlab.conf"});
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("/nonexistent/serverlab.conf"), std::string::npos) << *err;
}

TEST(Flags, SizesTakeBinarySuffixes) {
  EXPECT_EQ(Flags::parse_size("0"), 0u);
  EXPECT_EQ(Flags::parse_size("4096"), 4096u);
  EXPECT_EQ(Flags::parse_size("64K"), 65536u);
  EXPECT_EQ(Flags::parse_size("64k"), 65536u);
  EXPECT_EQ(Flags::parse_size("1M"), 1u << 20);
  EXPECT_EQ(Flags::parse_size("2G"), 2ull << 30);
  for (const char* bad : {"", "K", "1.5M", "-1", "1T", "12 K", "0x10", "18446744073709551615K"})
    EXPECT_EQ(Flags::parse_size(bad), std::nullopt) << bad;
}

TEST(Flags, SecondsMayBeFractionalButNotNegative) {
  EXPECT_EQ(Flags::parse_seconds("5"), 5.0);
  EXPECT_EQ(Flags::parse_seconds("0.5"), 0.5);
  EXPECT_EQ(Flags::parse_seconds("0"), 0.0);
  for (const char* bad : {"", "-1", "abc", "5s", "nan", "inf", "1e12"})
    EXPECT_EQ(Flags::parse_seconds(bad), std::nullopt) << bad;
  Demo d;
  EXPECT_EQ(d.parse({"--timeout", "0.25", "--max-body", "8K"}), std::nullopt);
  EXPECT_EQ(d.timeout, 0.25);
  EXPECT_EQ(d.max_body, 8192u);
}

TEST(ServerFlags, SharedNamesAndDefaults) {
  Flags flags("server", "test");
  ServerOptions opts;
  add_server_flags(flags, opts, 8080);
  Args a{"--log-level", "debug", "--shutdown-timeout", "1.5"};
  EXPECT_EQ(flags.parse(a.argc(), a.argv()), std::nullopt);
  EXPECT_EQ(opts.port, 8080);
  EXPECT_EQ(opts.bind, "127.0.0.1");
  EXPECT_EQ(opts.log_level, "debug");
  EXPECT_EQ(opts.log_format, "text");
  EXPECT_EQ(opts.shutdown_timeout, 1.5);
  Args bad{"--log-format", "xml"};
  EXPECT_TRUE(flags.parse(bad.argc(), bad.argv()).has_value());
}

TEST(Flags, ChecksRunAfterEveryFlagAndTheFirstFailureIsTheError) {
  Flags flags("demo", "test");
  std::string dir = "a";
  flags.add("dir", dir, "a directory");
  std::vector<std::string> seen;  // the value each check saw
  flags.add_check([&]() -> std::optional<std::string> {
    seen.push_back(dir);
    return dir == "bad" ? std::optional<std::string>("--dir bad: first") : std::nullopt;
  });
  flags.add_check([&]() -> std::optional<std::string> { return std::string("second"); });
  // The file says "bad", the command line wins: the checks see the final value.
  TempFile config("[server]\ndir = \"bad\"\n");
  Args ok{"--config", config.path().c_str(), "--dir", "good"};
  EXPECT_EQ(flags.parse(ok.argc(), ok.argv()), std::optional<std::string>("second"));
  EXPECT_EQ(seen, std::vector<std::string>{"good"});
  Args bad{"--dir", "bad"};
  EXPECT_EQ(flags.parse(bad.argc(), bad.argv()), std::optional<std::string>("--dir bad: first"));
}

TEST(Flags, ChecksAreSkippedForHelpAndAfterABadFlag) {
  Flags flags("demo", "test");
  int calls = 0;
  flags.add_check([&]() -> std::optional<std::string> {
    ++calls;
    return std::string("refused");
  });
  Args help{"--help"};
  EXPECT_EQ(flags.parse(help.argc(), help.argv()), std::nullopt);
  Args unknown{"--bogus"};
  EXPECT_NE(flags.parse(unknown.argc(), unknown.argv()), std::nullopt);
  EXPECT_EQ(calls, 0);
}

TEST(Flags, FailedCheckExitsTwoWithItsLineFirst) {
  Flags flags("demo", "test");
  flags.add_check([]() -> std::optional<std::string> { return std::string("--root '/x': no"); });
  Args a{};
  EXPECT_EXIT(flags.parse_or_exit(a.argc(), a.argv()), ::testing::ExitedWithCode(2),
              "^demo: --root '/x': no\n");
}

TEST(Flags, DirectoryProblemNamesWhatIsWrong) {
  char tmpl[] = "/tmp/serverlab-flags-dir-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string file = dir + "/file";
  std::ofstream(file) << "x";
  EXPECT_EQ(directory_problem(dir), std::nullopt);
  EXPECT_EQ(directory_problem(""), std::optional<std::string>("the value is empty"));
  EXPECT_EQ(directory_problem(dir + "/missing"), std::optional<std::string>("no such directory"));
  EXPECT_EQ(directory_problem(file), std::optional<std::string>("not a directory"));
  ::unlink(file.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace serverlab
