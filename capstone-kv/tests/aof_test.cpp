// Unit tests of the append-only file's reader and keyspace writer (aof.hpp):
// a complete file, a file cut at every byte, an unfinished MULTI, corruption in
// the middle, and the commands BGREWRITEAOF writes for each type.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aof.hpp"
#include "serverlab/resp/writer.hpp"

namespace {

using namespace serverlab::kv;
using Words = std::vector<std::string>;

std::string encode(const std::vector<Words>& commands) {
  std::string out;
  for (const Words& c : commands) {
    serverlab::resp::write_array_header(out, c.size());
    for (const std::string& w : c) serverlab::resp::write_bulk(out, w);
  }
  return out;
}

// Scans `bytes`, collecting the commands handed to apply.
AofScan scan(std::string_view bytes, std::vector<Words>& seen) {
  return scan_aof(bytes, {}, [&](std::span<const std::string_view> args, std::string&) {
    seen.emplace_back(args.begin(), args.end());
    return true;
  });
}

const std::vector<Words> kFile = {
    {"SET", "a", "1"},
    {"RPUSH", "l", "x", std::string(300, 'y')},
    {"PEXPIREAT", "a", "1800000000000"},
};

TEST(AofScan, ACompleteFileIsReplayedInOrder) {
  const std::string bytes = encode(kFile);
  std::vector<Words> seen;
  const AofScan s = scan(bytes, seen);
  EXPECT_EQ(s.status, AofScan::kComplete);
  EXPECT_EQ(s.commands, 3u);
  EXPECT_EQ(s.good_bytes, bytes.size());
  EXPECT_EQ(seen, kFile);
}

TEST(AofScan, EmptyFileIsComplete) {
  std::vector<Words> seen;
  const AofScan s = scan("", seen);
  EXPECT_EQ(s.status, AofScan::kComplete);
  EXPECT_EQ(s.good_bytes, 0u);
}

TEST(AofScan, ACutAtEveryByteKeepsTheWholeCommandsBeforeIt) {
  const std::string bytes = encode(kFile);
  const std::size_t ends[] = {encode({kFile[0]}).size(), encode({kFile[0], kFile[1]}).size(),
                              bytes.size()};
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    std::vector<Words> seen;
    const AofScan s = scan(std::string_view(bytes).substr(0, cut), seen);
    std::size_t whole = 0;
    while (whole < 3 && ends[whole] <= cut) ++whole;
    const std::size_t good = whole == 0 ? 0 : ends[whole - 1];
    ASSERT_EQ(s.commands, whole) << "cut at " << cut;
    ASSERT_EQ(s.good_bytes, good) << "cut at " << cut;
    ASSERT_EQ(s.status, cut == good ? AofScan::kComplete : AofScan::kTruncated) << "cut at " << cut;
    ASSERT_EQ(seen, std::vector<Words>(kFile.begin(), kFile.begin() + static_cast<long>(whole)));
  }
}

TEST(AofScan, AMultiWithoutExecIsATruncatedTail) {
  const std::string before = encode({{"SET", "a", "1"}});
  const std::string bytes = before + encode({{"MULTI"}, {"INCR", "a"}, {"INCR", "a"}});
  std::vector<Words> seen;
  const AofScan s = scan(bytes, seen);
  EXPECT_EQ(s.status, AofScan::kTruncated);
  EXPECT_EQ(s.good_bytes, before.size());  // cut before MULTI
  const std::string closed = bytes + encode({{"EXEC"}});
  seen.clear();
  const AofScan t = scan(closed, seen);
  EXPECT_EQ(t.status, AofScan::kComplete);
  EXPECT_EQ(t.good_bytes, closed.size());
}

TEST(AofScan, GarbageInTheMiddleIsCorruptAtItsOffset) {
  const std::string first = encode({kFile[0]});
  std::string bytes = encode(kFile);
  bytes[first.size()] = '+';  // the second command's '*'
  std::vector<Words> seen;
  const AofScan s = scan(bytes, seen);
  EXPECT_EQ(s.status, AofScan::kCorrupt);
  EXPECT_EQ(s.good_bytes, first.size());
  EXPECT_EQ(s.commands, 1u);
  EXPECT_EQ(s.error, "expected '*', got '+'");
}

TEST(AofScan, ABadLengthOrZerosAreCorrupt) {
  std::vector<Words> seen;
  const std::string bad_length = encode({kFile[0]}) + "*2\r\n$x\r\nDEL\r\n" + encode({kFile[2]});
  AofScan s = scan(bad_length, seen);
  EXPECT_EQ(s.status, AofScan::kCorrupt);
  EXPECT_EQ(s.good_bytes, encode({kFile[0]}).size());
  EXPECT_EQ(s.error, "invalid bulk length");

  seen.clear();
  s = scan(encode({kFile[0]}) + std::string(16, '\0'), seen);  // a crash left zeros
  EXPECT_EQ(s.status, AofScan::kCorrupt);
  EXPECT_EQ(s.error, "expected '*', got '\\x00'");

  seen.clear();
  s = scan("*0\r\n", seen);
  EXPECT_EQ(s.status, AofScan::kCorrupt);
}

TEST(AofScan, ACommandTheApplierRefusesIsCorrupt) {
  const std::string bytes = encode({kFile[0], {"NOSUCH", "x"}, kFile[2]});
  const AofScan s = scan_aof(bytes, {}, [](std::span<const std::string_view> args, std::string& e) {
    if (args[0] != "NOSUCH") return true;
    e = "unknown";
    return false;
  });
  EXPECT_EQ(s.status, AofScan::kCorrupt);
  EXPECT_EQ(s.good_bytes, encode({kFile[0]}).size());
  EXPECT_EQ(s.error, "unknown");
}

TEST(AofKeyspace, EveryTypeBecomesCommandsAndExpiredKeysAreLeftOut) {
  constexpr Database::Ms kNow = 1'800'000'000'000;
  Database db;
  db.set("s", Value(std::string("v")), kNow);
  db.set_expire("s", kNow + 5000);
  List& list = *db.set("l", Value::new_list(), kNow).list();
  for (int i = 0; i < 130; ++i) list.push_back(std::to_string(i));  // three RPUSH of 64, 64, 2
  db.set_expire("l", kNow + 7000);
  db.set("h", Value::new_hash(), kNow).hash()->emplace("f", "1");
  db.set("z", Value::new_set(), kNow).set()->emplace("m");
  db.set("dead", Value(std::string("x")), kNow);
  db.set_expire("dead", kNow - 1);

  std::string bytes;
  write_keyspace(db, kNow, bytes);
  std::vector<Words> seen;
  ASSERT_EQ(scan(bytes, seen).status, AofScan::kComplete);
  std::vector<Words> rpush;
  Words list_items;
  bool list_ttl = false, string_ok = false, hash_ok = false, set_ok = false;
  for (const Words& c : seen) {
    EXPECT_NE(c[1], "dead");
    if (c[0] == "RPUSH") {
      rpush.push_back(c);
      list_items.insert(list_items.end(), c.begin() + 2, c.end());
    }
    list_ttl = list_ttl || c == Words{"PEXPIREAT", "l", std::to_string(kNow + 7000)};
    string_ok = string_ok || c == Words{"SET", "s", "v", "PXAT", std::to_string(kNow + 5000)};
    hash_ok = hash_ok || c == Words{"HSET", "h", "f", "1"};
    set_ok = set_ok || c == Words{"SADD", "z", "m"};
  }
  ASSERT_EQ(rpush.size(), 3u);
  EXPECT_EQ(rpush[0].size(), 2u + 64);
  EXPECT_EQ(list_items, Words(list.begin(), list.end()));
  EXPECT_TRUE(list_ttl && string_ok && hash_ok && set_ok);
  EXPECT_EQ(seen.size(), 3u + 1 + 1 + 1 + 1);  // RPUSH x3, PEXPIREAT, SET, HSET, SADD
}

}  // namespace
