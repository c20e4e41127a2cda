// Unit tests of resp::parse_command (serverlab/resp/parser.hpp): arrays of bulk
// strings, inline commands, every limit and error text, prefixes, and the `need` hint.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "serverlab/resp/parser.hpp"

namespace {

using serverlab::resp::Command;
using serverlab::resp::Limits;
using serverlab::resp::parse_command;
using serverlab::resp::parse_int64;
using serverlab::resp::ParseResult;

std::vector<std::string> args_of(const Command& c) {
  return {c.args.begin(), c.args.end()};
}

TEST(RespParser, ArrayOfBulkStrings) {
  const std::string in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv a\r\n\r\n";
  Command c;
  const ParseResult r = parse_command(in, c);
  ASSERT_EQ(r.kind, ParseResult::Done);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(args_of(c), (std::vector<std::string>{"SET", "k", "v a\r\n"}));
  // Views into the input, not copies.
  EXPECT_EQ(c.args[0].data(), in.data() + 8);
}

TEST(RespParser, BinarySafeAndEmptyBulk) {
  const std::string in("*2\r\n$0\r\n\r\n$3\r\n\0\r\n\r\n", 19);
  Command c;
  const ParseResult r = parse_command(in, c);
  ASSERT_EQ(r.kind, ParseResult::Done);
  EXPECT_EQ(r.consumed, in.size());
  ASSERT_EQ(c.args.size(), 2u);
  EXPECT_EQ(c.args[0], "");
  EXPECT_EQ(c.args[1], std::string_view("\0\r\n", 3));
}

TEST(RespParser, PipelinedCommandsOneAtATime) {
  const std::string in = "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n";
  Command c;
  std::string_view rest = in;
  std::vector<std::vector<std::string>> seen;
  while (!rest.empty()) {
    const ParseResult r = parse_command(rest, c);
    ASSERT_EQ(r.kind, ParseResult::Done);
    seen.push_back(args_of(c));
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(seen, (std::vector<std::vector<std::string>>{{"PING"}, {"ECHO", "hi"}, {"PING"}}));
}

TEST(RespParser, EveryPrefixIsIncomplete) {
  const std::string in = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
  for (std::size_t n = 0; n < in.size(); ++n) {
    Command c;
    EXPECT_EQ(parse_command(std::string_view(in).substr(0, n), c).kind, ParseResult::Incomplete)
        << "prefix of " << n << " bytes";
  }
}

TEST(RespParser, NeedPointsAtTheEndOfTheBulkBeingRead) {
  const std::string in = "*1\r\n$10\r\n0123";
  Command c;
  const ParseResult r = parse_command(in, c);
  ASSERT_EQ(r.kind, ParseResult::Incomplete);
  EXPECT_EQ(r.need, 9u + 10u + 2u);
}

TEST(RespParser, EmptyArraysAreDoneWithNoArguments) {
  for (std::string in : {"*0\r\n", "*-1\r\n"}) {
    Command c;
    const ParseResult r = parse_command(in, c);
    ASSERT_EQ(r.kind, ParseResult::Done) << in;
    EXPECT_EQ(r.consumed, in.size());
    EXPECT_TRUE(c.args.empty());
  }
}

ParseResult parse_text(std::string_view in, const Limits& limits = {}) {
  Command c;
  return parse_command(in, c, limits);
}

TEST(RespParser, ArrayErrorsUseRedisTexts) {
  EXPECT_EQ(parse_text("*x\r\n").error, "invalid multibulk length");
  EXPECT_EQ(parse_text("*01\r\n").error, "invalid multibulk length");
  EXPECT_EQ(parse_text("*2\r\n+OK\r\n").error, "expected '$', got '+'");
  EXPECT_EQ(parse_text("*1\r\n$-1\r\n").error, "invalid bulk length");
  EXPECT_EQ(parse_text("*1\r\n$abc\r\n").error, "invalid bulk length");
  EXPECT_EQ(parse_text("*1\r\n$1\r\nabc").error, "expected CRLF after bulk string");
  EXPECT_EQ(parse_text("*1\r\n$1\nx\r\n").kind, ParseResult::Error);
}

TEST(RespParser, Limits) {
  Limits small;
  small.max_bulk = 4;
  small.max_elements = 2;
  small.max_inline = 8;
  EXPECT_EQ(parse_text("*1\r\n$4\r\nabcd\r\n", small).kind, ParseResult::Done);
  EXPECT_EQ(parse_text("*1\r\n$5\r\n", small).error, "invalid bulk length");
  EXPECT_EQ(parse_text("*3\r\n", small).error, "invalid multibulk length");
  EXPECT_EQ(parse_text("*111111111", small).error, "too big mbulk count string");
  EXPECT_EQ(parse_text("*1\r\n$111111111", small).error, "too big bulk count string");
  EXPECT_EQ(parse_text("PING PING", small).error, "too big inline request");
  EXPECT_EQ(parse_text("PING PIN", small).kind, ParseResult::Incomplete);
  // The default: 512 MiB, and a length over it fails before any byte of it arrives.
  EXPECT_EQ(parse_text("*1\r\n$536870912\r\n").kind, ParseResult::Incomplete);
  EXPECT_EQ(parse_text("*1\r\n$536870913\r\n").error, "invalid bulk length");
  EXPECT_EQ(parse_text("*1048577\r\n").error, "invalid multibulk length");
}

TEST(RespParser, InlineWords) {
  Command c;
  const std::string in = "  set  key\tvalue \r\nGET key\r\n";
  const ParseResult r = parse_command(in, c);
  ASSERT_EQ(r.kind, ParseResult::Done);
  EXPECT_EQ(r.consumed, 19u);
  EXPECT_EQ(args_of(c), (std::vector<std::string>{"set", "key", "value"}));
}

TEST(RespParser, InlineQuotesAndEscapes) {
  Command c;
  ASSERT_EQ(parse_command("SET \"a b\\n\\x41\\\"\" 'it\\'s' \"\"\n", c).kind, ParseResult::Done);
  EXPECT_EQ(args_of(c), (std::vector<std::string>{"SET", "a b\nA\"", "it's", ""}));
  EXPECT_EQ(parse_text("SET \"abc\n").error, "unbalanced quotes in request");
  EXPECT_EQ(parse_text("SET \"a\"b\n").error, "unbalanced quotes in request");
  EXPECT_EQ(parse_text("SET 'a\n").error, "unbalanced quotes in request");
}

TEST(RespParser, EmptyInlineLineHasNoArguments) {
  Command c;
  const ParseResult r = parse_command("\r\n", c);
  ASSERT_EQ(r.kind, ParseResult::Done);
  EXPECT_EQ(r.consumed, 2u);
  EXPECT_TRUE(c.args.empty());
}

TEST(RespInt64, StrictLikeRedis) {
  std::int64_t v = 7;
  EXPECT_TRUE(parse_int64("0", v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(parse_int64("-42", v));
  EXPECT_EQ(v, -42);
  EXPECT_TRUE(parse_int64("9223372036854775807", v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(parse_int64("-9223372036854775808", v));
  EXPECT_EQ(v, INT64_MIN);
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "01", "-0", "1.0", "9223372036854775808",
                          "-9223372036854775809", "99999999999999999999"}) {
    EXPECT_FALSE(parse_int64(bad, v)) << bad;
  }
}

}  // namespace
