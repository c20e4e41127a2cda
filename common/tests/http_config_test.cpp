// add_http_flags: the shared flags of every HTTP stage, their defaults, and the
// start-up checks that refuse a --root or --error-pages no server could use.
#include "serverlab/http/config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace serverlab::http {
namespace {

// Parses `words` (without argv[0]) with the HTTP flags into `config`.
std::optional<std::string> parse(HttpConfig& config, std::vector<std::string> words) {
  Flags flags("http-test", "test");
  add_http_flags(flags, config);
  std::vector<const char*> argv{"http-test"};
  for (const std::string& w : words) argv.push_back(w.c_str());
  return flags.parse(static_cast<int>(argv.size()), argv.data());
}

TEST(HttpFlags, NewDefaultsDenyDotfilesRevalidateAndRateLimit) {
  HttpConfig c;
  EXPECT_EQ(parse(c, {}), std::nullopt);  // the bundled www/ exists
  EXPECT_FALSE(c.dotfiles_allowed());
  EXPECT_EQ(c.cache_max_age, 0);
  EXPECT_EQ(c.error_log_rate, 10);
}

TEST(HttpFlags, DotfilesCacheMaxAgeAndErrorLogRateAreParsed) {
  HttpConfig c;
  EXPECT_EQ(parse(c, {"--dotfiles", "allow", "--cache-max-age", "3600", "--error-log-rate", "0"}),
            std::nullopt);
  EXPECT_TRUE(c.dotfiles_allowed());
  EXPECT_EQ(c.cache_max_age, 3600);
  EXPECT_EQ(c.error_log_rate, 0);
  HttpConfig d;
  EXPECT_NE(parse(d, {"--dotfiles", "maybe"}), std::nullopt);
  EXPECT_NE(parse(d, {"--cache-max-age", "-1"}), std::nullopt);
}

TEST(HttpFlags, EmptyRootIsRefusedNamingTheFlag) {
  HttpConfig c;
  EXPECT_EQ(parse(c, {"--root="}), std::optional<std::string>("--root '': the value is empty"));
}

TEST(HttpFlags, MissingRootOrErrorPagesDirectoryIsRefusedNamingTheFlag) {
  testing::TempDir dir("http-flags");
  std::string file = dir.write("file.html", "x");
  HttpConfig c;
  EXPECT_EQ(parse(c, {"--root", dir.path("nope")}),
            "--root '" + dir.path("nope") + "': no such directory");
  HttpConfig d;
  EXPECT_EQ(parse(d, {"--root", dir.path(), "--error-pages", dir.path("nope")}),
            "--error-pages '" + dir.path("nope") + "': no such directory");
  HttpConfig e;
  EXPECT_EQ(parse(e, {"--root", dir.path(), "--error-pages", file}),
            "--error-pages '" + file + "': not a directory");
  HttpConfig ok;
  EXPECT_EQ(parse(ok, {"--root", dir.path(), "--error-pages", dir.path()}), std::nullopt);
}

}  // namespace
}  // namespace serverlab::http
