// Unit tests of glob_match (glob.hpp): Redis's KEYS/PSUBSCRIBE patterns.
#include <gtest/gtest.h>

#include <string>

#include "glob.hpp"

namespace {

using serverlab::kv::glob_match;

TEST(Glob, LiteralsAndWildcards) {
  EXPECT_TRUE(glob_match("abc", "abc"));
  EXPECT_FALSE(glob_match("abc", "abcd"));
  EXPECT_FALSE(glob_match("abcd", "abc"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("a*", "a"));
  EXPECT_TRUE(glob_match("a*c", "abbbc"));
  EXPECT_FALSE(glob_match("a*c", "abbbd"));
  EXPECT_TRUE(glob_match("*c*", "abcd"));
  EXPECT_TRUE(glob_match("h?llo", "hello"));
  EXPECT_FALSE(glob_match("h?llo", "hllo"));
  EXPECT_TRUE(glob_match("**a**", "xxaxx"));
  EXPECT_TRUE(glob_match("*a*b", "aXbXb"));  // backtracking to the last star
}

TEST(Glob, Classes) {
  EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
  EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
  EXPECT_TRUE(glob_match("h[b-a]llo", "hallo"));  // a reversed range still works
  EXPECT_FALSE(glob_match("h[a-b]llo", "hcllo"));
  EXPECT_TRUE(glob_match("[\\]]", "]"));
  EXPECT_TRUE(glob_match("a[bc", "ab"));  // an unclosed class ends with the pattern
}

TEST(Glob, EscapesAndCase) {
  EXPECT_TRUE(glob_match("a\\*b", "a*b"));
  EXPECT_FALSE(glob_match("a\\*b", "axb"));
  EXPECT_TRUE(glob_match("a\\?", "a?"));
  EXPECT_TRUE(glob_match("ab\\", "ab\\"));  // a trailing backslash is itself
  EXPECT_FALSE(glob_match("ABC", "abc"));
  EXPECT_TRUE(glob_match("ABC", "abc", true));
  EXPECT_TRUE(glob_match("[A-C]x", "bX", true));
}

TEST(Glob, BinaryBytes) {
  const std::string key("a\0b", 3);
  EXPECT_TRUE(glob_match(std::string("a\0*", 3), key));
  EXPECT_TRUE(glob_match("a?b", key));
}

TEST(Glob, ManyStarsStayFast) {
  // Exponential backtracking would take ages here; the two-pointer method does not.
  const std::string text(5000, 'a');
  const std::string pattern = std::string(40, '*').insert(20, "a*") + "b";
  EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
  EXPECT_FALSE(glob_match(pattern, text));
}

}  // namespace
