// Bad start-up input: a --root or --error-pages that names no usable directory
// (missing, empty, a file) stops the server before it listens, with exit status 2
// and one line on stderr naming the flag and the problem, in the same shape from
// every HTTP stage (they share the flag code). Registered per stage like the
// rest of the suite, so each server binary runs every case.
#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

struct BadStart {
  const char* name;
  std::vector<std::string> (*flags)();  // appended after --root <docroot>
  const char* flag;                     // the flag the error line must name
  const char* problem;                  // and the problem it must state
};
void PrintTo(const BadStart& c, std::ostream* os) { *os << c.name; }

class Startup : public ::testing::TestWithParam<BadStart> {};

TEST_P(Startup, RefusesWithExitTwoAndOneLineNamingTheFlag) {
  const BadStart& c = GetParam();
  std::vector<std::string> argv{server_binary(), "--port", "0", "--root", docroot().root};
  for (std::string& f : c.flags()) argv.push_back(std::move(f));
  testing::ProgramResult r = testing::run_program(argv, "", 10s);
  EXPECT_EQ(r.status, 2) << "stderr:\n" << r.err;
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << "it started anyway:\n" << r.out;
  const std::string first = r.err.substr(0, r.err.find('\n'));
  EXPECT_NE(first.find(c.flag), std::string::npos) << "the first line names no flag: " << first;
  EXPECT_NE(first.find(c.problem), std::string::npos) << "the first line says no problem: " << first;
  // One line about it: the rest of stderr (the usage) does not repeat the error.
  EXPECT_EQ(r.err.find(c.problem, first.size()), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, Startup,
    ::testing::Values(
        BadStart{"MissingErrorPagesDirectory",
                 [] { return std::vector<std::string>{"--error-pages", docroot().base + "/nope"}; },
                 "--error-pages", "no such directory"},
        BadStart{"ErrorPagesIsAFile",
                 [] {
                   return std::vector<std::string>{"--error-pages",
                                                   docroot().root + "/hello.txt"};
                 },
                 "--error-pages", "not a directory"},
        BadStart{"EmptyRoot", [] { return std::vector<std::string>{"--root="}; }, "--root",
                 "empty"},
        BadStart{"MissingRoot",
                 [] { return std::vector<std::string>{"--root", docroot().base + "/nope"}; },
                 "--root", "no such directory"}),
    [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace serverlab::conformance
