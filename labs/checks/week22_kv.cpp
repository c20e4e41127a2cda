// Lab 22 (advanced track): the pieces of kv-server a student writes.
//   [resp-array]     resp::parse_command on arrays of bulk strings (common/src/resp/parser.cpp)
//   [resp-inline]    resp::parse_command on inline commands (the same file)
//   [glob-class]     [abc], [^a], [a-z] in glob_match (capstone-kv/glob.cpp)
//   [glob-match]     *, ?, \x and backtracking in glob_match (capstone-kv/glob.cpp)
//   [expire-sample]  Shard::expire_sample, the active expiry's sampler (capstone-kv/store.cpp)
//
// Each check states one promise of the interface; the stubs break every one of them:
// the parser's stubs answer Error (arrays) or "unbalanced quotes" (inline), glob_match's
// stub compares bytes, and the sampler's stub looks at nothing.
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "glob.hpp"
#include "serverlab/resp/parser.hpp"
#include "store.hpp"

using serverlab::kv::Database;
using serverlab::kv::glob_match;
using serverlab::kv::Value;
using serverlab::resp::Command;
using serverlab::resp::Limits;
using serverlab::resp::parse_command;
using serverlab::resp::ParseResult;

namespace {

std::vector<std::string> words(const Command& c) { return {c.args.begin(), c.args.end()}; }

std::string kind_name(ParseResult::Kind k) {
  return k == ParseResult::Done ? "Done" : k == ParseResult::Incomplete ? "Incomplete" : "Error";
}

ParseResult parse(std::string_view in, Command& c, const Limits& limits = {}) {
  ParseResult r = parse_command(in, c, limits);
  INFO("parse_command(" << in.size() << " bytes) = " << kind_name(r.kind)
                        << (r.kind == ParseResult::Error ? " (" + std::string(r.error) + ")" : ""));
  return r;
}

}  // namespace

TEST_CASE("an array of bulk strings is one command, its arguments views into the input",
          "[resp-array]") {
  const std::string in = "*2\r\n$4\r\nECHO\r\n$5\r\nhi\r\nx\r\n*1\r\n$4\r\nPING\r\n";
  Command c;
  const ParseResult r = parse(in, c);
  REQUIRE(kind_name(r.kind) == "Done");
  CHECK(r.consumed == 25);
  CHECK(words(c) == std::vector<std::string>{"ECHO", "hi\r\nx"});
  CHECK(c.args[0].data() == in.data() + 8);
}

TEST_CASE("every prefix of a command is Incomplete, and need points past the bulk",
          "[resp-array]") {
  const std::string in = "*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n";
  for (std::size_t n = 0; n < in.size(); ++n) {
    Command c;
    INFO("prefix of " << n << " bytes");
    CHECK(kind_name(parse_command(std::string_view(in).substr(0, n), c).kind) == "Incomplete");
  }
  Command c;
  CHECK(parse_command(std::string_view(in).substr(0, 20), c).need == in.size());
}

TEST_CASE("bad lengths get Redis's protocol errors", "[resp-array]") {
  Command c;
  CHECK(parse_command("*1\r\n$-1\r\n", c).error == "invalid bulk length");
  CHECK(parse_command("*abc\r\n", c).error == "invalid multibulk length");
  CHECK(parse_command("*1\r\n:1\r\n", c).error == "expected '$', got ':'");
  Limits small;
  small.max_bulk = 3;
  CHECK(parse_command("*1\r\n$4\r\n", c, small).error == "invalid bulk length");
  CHECK(kind_name(parse_command("*0\r\n", c).kind) == "Done");
}

TEST_CASE("an inline command is words split by blanks, ended by LF", "[resp-inline]") {
  Command c;
  const ParseResult r = parse("  SET  key\tvalue\r\nGET key\r\n", c);
  REQUIRE(kind_name(r.kind) == "Done");
  CHECK(r.consumed == 18);
  CHECK(words(c) == std::vector<std::string>{"SET", "key", "value"});
}

TEST_CASE("inline quotes and escapes decode like redis-cli's", "[resp-inline]") {
  Command c;
  REQUIRE(kind_name(parse("SET \"a b\\n\\x41\" 'it\\'s'\n", c).kind) == "Done");
  CHECK(words(c) == std::vector<std::string>{"SET", "a b\nA", "it's"});
  CHECK(parse_command("SET \"open\n", c).error == "unbalanced quotes in request");
}

TEST_CASE("an empty inline line is Done with no arguments", "[resp-inline]") {
  Command c;
  const ParseResult r = parse("\r\nPING\r\n", c);
  REQUIRE(kind_name(r.kind) == "Done");
  CHECK(r.consumed == 2);
  CHECK(c.args.empty());
}

TEST_CASE("a class matches one byte from a set, a range or its complement", "[glob-class]") {
  CHECK(glob_match("h[ae]llo", "hallo"));
  CHECK_FALSE(glob_match("h[ae]llo", "hillo"));
  CHECK(glob_match("h[^e]llo", "hallo"));
  CHECK_FALSE(glob_match("h[^e]llo", "hello"));
  CHECK(glob_match("[a-c]x", "bx"));
  CHECK(glob_match("[c-a]x", "bx"));
  CHECK(glob_match("[\\]]", "]"));
  CHECK(glob_match("[A-C]", "b", true));
}

TEST_CASE("stars, question marks and escapes match like Redis's KEYS", "[glob-match]") {
  CHECK(glob_match("*", ""));
  CHECK(glob_match("user:*", "user:42"));
  CHECK_FALSE(glob_match("user:*", "users"));
  CHECK(glob_match("*a*b", "aXbXb"));
  CHECK(glob_match("h?llo", "hello"));
  CHECK_FALSE(glob_match("h?llo", "hllo"));
  CHECK(glob_match("a\\*", "a*"));
  CHECK_FALSE(glob_match("a\\*", "ab"));
}

TEST_CASE("many stars do not make matching exponential", "[glob-match]") {
  const std::string text(3000, 'a');
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
}

TEST_CASE("the sampler deletes expired keys it looks at and keeps live ones",
          "[expire-sample]") {
  Database db;
  const Database::Ms now = 1'000'000;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    db.set(key, Value(std::string("v")), now);
    db.set_expire(key, i < 150 ? now - 1 : now + 60'000);  // 150 expired, 50 live
  }
  std::uint64_t fake_us = 0;
  auto clock = [&fake_us] { return fake_us += 1; };
  std::size_t deleted = 0;
  for (int cycle = 0; cycle < 100 && db.size() > 50; ++cycle)
    deleted += db.active_expire_cycle(now, 1'000'000, clock);
  CHECK(deleted == 150);
  CHECK(db.size() == 50);
  CHECK(db.expires_count() == 50);
  CHECK(db.expire_stats().sampled >= 150);
}

TEST_CASE("a cycle with nothing expired deletes nothing and stops early", "[expire-sample]") {
  Database db;
  const Database::Ms now = 1'000'000;
  for (int i = 0; i < 100; ++i) {
    db.set("k" + std::to_string(i), Value(std::string("v")), now);
    db.set_expire("k" + std::to_string(i), now + 1000);
  }
  std::uint64_t fake_us = 0;
  auto clock = [&fake_us] { return fake_us += 1; };
  CHECK(db.active_expire_cycle(now, 1'000'000, clock) == 0);
  CHECK(db.size() == 100);
  CHECK(db.expire_stats().sampled > 0);  // it did look
  CHECK(db.expire_stats().sampled <= 40);  // one sample (20 keys and the bucket's rest), not all
}
