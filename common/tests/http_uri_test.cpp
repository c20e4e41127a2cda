// Tests of percent_decode, normalize_path and parse_query: the path function is
// the document root's only guard, so the climbing and forging attempts here are
// the ones real file servers have fallen to.
#include "serverlab/http/uri.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace serverlab::http {
namespace {

std::string show(const std::optional<std::string>& s) { return s ? "\"" + *s + "\"" : "nullopt"; }

TEST(PercentDecode, DecodesEscapesInEitherCase) {
  EXPECT_EQ(show(percent_decode("a%20b%2fc%2Fd")), "\"a b/c/d\"");
  EXPECT_EQ(show(percent_decode("%41%62%7e")), "\"Ab~\"");
  EXPECT_EQ(show(percent_decode("")), "\"\"");
}

TEST(PercentDecode, LeavesPlusAlone) { EXPECT_EQ(show(percent_decode("a+b")), "\"a+b\""); }

TEST(PercentDecode, DecodesNulAsAByte) {
  const auto s = percent_decode("a%00b");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, std::string("a\0b", 3));
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  for (const char* bad : {"%", "%2", "a%", "a%2", "%g0", "%0g", "%%20", "100%"}) {
    EXPECT_EQ(show(percent_decode(bad)), "nullopt") << bad;
  }
}

struct PathCase {
  const char* raw;
  const char* want;  // nullptr: refused
};

void check(const PathCase& c) {
  EXPECT_EQ(show(normalize_path(c.raw)), c.want ? "\"" + std::string(c.want) + "\"" : "nullopt")
      << "raw path: " << c.raw;
}

TEST(NormalizePath, KeepsCleanPathsAsTheyAre) {
  for (PathCase c : {PathCase{"/", "/"}, {"/index.html", "/index.html"},
                     {"/a/b/c.txt", "/a/b/c.txt"}, {"/dir/", "/dir/"}, {"/a.b/.c", "/a.b/.c"},
                     {"/...", "/..."}, {"/..a", "/..a"}, {"/a..", "/a.."}}) {
    check(c);
  }
}

TEST(NormalizePath, DecodesPercentEscapes) {
  check({"/a%20b/c%2Ed", "/a b/c.d"});
  check({"/%7Euser/", "/~user/"});
}

TEST(NormalizePath, RemovesDotAndEmptySegments) {
  check({"/./a", "/a"});
  check({"/a/./b", "/a/b"});
  check({"//a///b", "/a/b"});
  check({"/a/.", "/a/"});
  check({"/a//", "/a/"});
  check({"/.", "/"});
}

TEST(NormalizePath, ResolvesDotDotInsideTheRoot) {
  check({"/a/b/../c", "/a/c"});
  check({"/a/../b/", "/b/"});
  check({"/a/b/..", "/a/"});
  check({"/a/..", "/"});
  check({"/a/b/../../c", "/c"});
}

TEST(NormalizePath, RejectsDotDotOutsideRoot) {
  for (PathCase c : {PathCase{"/..", nullptr}, {"/../", nullptr}, {"/../etc/passwd", nullptr},
                     {"/a/../../etc/passwd", nullptr}, {"/a/./../..", nullptr},
                     {"/./../x", nullptr}}) {
    check(c);
  }
}

TEST(NormalizePath, RejectsEncodedDotDotOutsideRoot) {
  for (PathCase c : {PathCase{"/%2e%2e/etc/passwd", nullptr}, {"/%2E%2E/x", nullptr},
                     {"/.%2e/x", nullptr}, {"/%2e./x", nullptr}}) {
    check(c);
  }
  check({"/a/%2e%2e/b", "/b"});  // inside the root it is an ordinary ".."
}

TEST(NormalizePath, RejectsEncodedSlash) {
  for (PathCase c : {PathCase{"/a%2Fb", nullptr}, {"/a%2fb", nullptr},
                     {"/..%2f..%2fetc/passwd", nullptr}, {"/%2F", nullptr}}) {
    check(c);
  }
}

TEST(NormalizePath, RejectsBackslashTricks) {
  for (PathCase c : {PathCase{"/a\\b", nullptr}, {"/..\\..\\etc", nullptr},
                     {"/a%5cb", nullptr}, {"/a%5Cb", nullptr}, {"/..%5c..%5cetc", nullptr}}) {
    check(c);
  }
}

TEST(NormalizePath, RejectsNul) {
  check({"/index.html%00.png", nullptr});
  check({"/%00", nullptr});
  EXPECT_EQ(show(normalize_path(std::string_view("/a\0b", 4))), "nullopt");
}

TEST(NormalizePath, RejectsMalformedEscapes) {
  check({"/a%2", nullptr});
  check({"/a%zz", nullptr});
  check({"/%", nullptr});
}

TEST(NormalizePath, RejectsPathsThatAreNotAbsolute) {
  check({"", nullptr});
  check({"a/b", nullptr});
  check({"*", nullptr});
  check({"../x", nullptr});
}

TEST(NormalizePath, ResultNeverContainsDotSegments) {
  // Every combination of a few nasty segments: whatever comes back must be
  // absolute and free of "." and ".." segments.
  const char* parts[] = {"a", ".", "..", "%2e", "%2e%2e", "", "b%20c", ".%2e"};
  int checked = 0;
  for (const char* x : parts) {
    for (const char* y : parts) {
      for (const char* z : parts) {
        const std::string raw = std::string("/") + x + "/" + y + "/" + z;
        const auto got = normalize_path(raw);
        if (!got) continue;
        ++checked;
        ASSERT_EQ(got->front(), '/') << raw;
        const std::string padded = *got + "/";
        EXPECT_EQ(padded.find("/./"), std::string::npos) << raw << " -> " << *got;
        EXPECT_EQ(padded.find("/../"), std::string::npos) << raw << " -> " << *got;
        EXPECT_EQ(got->find("//"), std::string::npos) << raw << " -> " << *got;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(IsNormalPath, AcceptsExactlyThePathsNormalizePathLeavesUnchanged) {
  // Every path of up to three segments from these pieces (with and without a
  // trailing '/'): is_normal_path must say yes exactly when normalize_path
  // returns the input unchanged, since handlers then skip normalize_path.
  const char* parts[] = {"a", "b.txt", ".", "..", "", "%2e", "%41", ".hidden", "a\\b", "..."};
  int normal = 0, other = 0;
  for (const char* x : parts) {
    for (const char* y : parts) {
      for (const char* z : parts) {
        for (const char* tail : {"", "/"}) {
          const std::string raw = std::string("/") + x + "/" + y + "/" + z + tail;
          const auto got = normalize_path(raw);
          const bool unchanged = got && *got == raw;
          EXPECT_EQ(is_normal_path(raw), unchanged)
              << raw << " -> " << (got ? *got : std::string("nullopt"));
          ++(unchanged ? normal : other);
        }
      }
    }
  }
  EXPECT_GT(normal, 50);
  EXPECT_GT(other, 500);
}

TEST(IsNormalPath, HandlesTheEdges) {
  EXPECT_TRUE(is_normal_path("/"));
  EXPECT_TRUE(is_normal_path("/a"));
  EXPECT_TRUE(is_normal_path("/dir/"));
  EXPECT_FALSE(is_normal_path(""));
  EXPECT_FALSE(is_normal_path("a/b"));
  EXPECT_FALSE(is_normal_path("//"));
  EXPECT_FALSE(is_normal_path("/a//b"));
  EXPECT_FALSE(is_normal_path("/a/."));
  EXPECT_FALSE(is_normal_path("/.."));
  EXPECT_FALSE(is_normal_path(std::string_view("/a\0b", 4)));
}

using Query = std::vector<std::pair<std::string, std::string>>;

TEST(ParseQuery, SplitsPairsAndDecodes) {
  EXPECT_EQ(parse_query("a=1&b=x+y&c"), (Query{{"a", "1"}, {"b", "x y"}, {"c", ""}}));
  EXPECT_EQ(parse_query("name=J%C3%BCrgen&q=a%26b%3Dc"),
            (Query{{"name", "J\xC3\xBCrgen"}, {"q", "a&b=c"}}));
  EXPECT_EQ(parse_query("k%20ey=v=w"), (Query{{"k ey", "v=w"}}));
}

TEST(ParseQuery, KeepsOrderAndDuplicates) {
  EXPECT_EQ(parse_query("x=2&x=1"), (Query{{"x", "2"}, {"x", "1"}}));
}

TEST(ParseQuery, SkipsEmptyPiecesAndKeepsBadEscapesLiterally) {
  EXPECT_EQ(parse_query(""), Query{});
  EXPECT_EQ(parse_query("&&a=1&"), (Query{{"a", "1"}}));
  EXPECT_EQ(parse_query("p=100%&q=%zz"), (Query{{"p", "100%"}, {"q", "%zz"}}));
  EXPECT_EQ(parse_query("=v"), (Query{{"", "v"}}));
}

}  // namespace
}  // namespace serverlab::http
