// Unit tests of the RDB snapshot (rdb.hpp): the checksum, a save/load round trip
// of every type with expiry, and damaged files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "rdb.hpp"

namespace {

using namespace serverlab::kv;

constexpr Database::Ms kNow = 1'800'000'000'000;

std::string temp_path(const char* name) {
  return "/tmp/kv_rdb_test_" + std::to_string(::getpid()) + "_" + name;
}

TEST(Rdb, Crc64IsRedisJones) {
  EXPECT_EQ(crc64(0, "123456789"), 0xe9c6d914c4b8d9caull);  // Redis's crc64.c check value
  EXPECT_EQ(crc64(0, ""), 0u);
}

TEST(Rdb, RoundTripOfEveryType) {
  Database db;
  db.set("s", Value(std::string("value")), kNow);
  db.set(std::string(300, 'k'), Value(std::string(20000, 'v')), kNow);  // long lengths
  db.set("l", Value::new_list(), kNow).list()->assign({"a", "b", "c"});
  db.set("h", Value::new_hash(), kNow).hash()->emplace("f", "v");
  db.set("z", Value::new_set(), kNow).set()->emplace("m");
  db.set("ttl", Value(std::string("x")), kNow);
  db.set_expire("ttl", kNow + 5000);
  db.set("expired", Value(std::string("x")), kNow);
  db.set_expire("expired", kNow - 1);
  const std::string path = temp_path("roundtrip.rdb");
  std::string error;
  ASSERT_TRUE(save_rdb(db, path, kNow, error)) << error;

  Database loaded;
  ASSERT_TRUE(load_rdb(loaded, path, kNow, error)) << error;
  std::remove(path.c_str());
  EXPECT_EQ(loaded.size(), 6u);  // the expired key was not written
  EXPECT_EQ(*loaded.find("s", kNow)->string(), "value");
  EXPECT_EQ(loaded.find(std::string(300, 'k'), kNow)->string()->size(), 20000u);
  EXPECT_EQ(*loaded.find("l", kNow)->list(), (List{"a", "b", "c"}));
  EXPECT_EQ(loaded.find("h", kNow)->hash()->at("f"), "v");
  EXPECT_EQ(loaded.find("z", kNow)->set()->count("m"), 1u);
  EXPECT_EQ(loaded.expire_at("ttl"), kNow + 5000);
}

TEST(Rdb, MissingFileLoadsNothing) {
  Database db;
  std::string error;
  EXPECT_TRUE(load_rdb(db, temp_path("does-not-exist.rdb"), kNow, error));
  EXPECT_EQ(db.size(), 0u);
}

TEST(Rdb, DamageIsRefusedWithAReason) {
  Database db;
  db.set("key", Value(std::string("value")), kNow);
  const std::string path = temp_path("damaged.rdb");
  std::string error;
  ASSERT_TRUE(save_rdb(db, path, kNow, error));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto load_bytes = [&](const std::string& content) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    Database fresh;
    std::string why;
    const bool ok = load_rdb(fresh, path, kNow, why);
    return ok ? std::string("loaded") : why;
  };
  EXPECT_EQ(load_bytes(bytes), "loaded");
  EXPECT_NE(load_bytes(bytes.substr(0, bytes.size() - 12)).find("truncated"), std::string::npos);
  std::string flipped = bytes;
  flipped[flipped.size() - 14] ^= 1;  // a byte of the value: the checksum disagrees
  EXPECT_NE(load_bytes(flipped).find("checksum"), std::string::npos);
  EXPECT_NE(load_bytes("NOTREDIS0").find("not an RDB file"), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
