// Unit tests of Database (store.hpp): values, lazy expiry, the active expiry
// cycle on a fake clock, and WATCH marks; a Database of several shards (--model threads).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "store.hpp"

namespace {

using serverlab::kv::Database;
using serverlab::kv::SharedAccess;
using serverlab::kv::Type;
using serverlab::kv::Value;
using serverlab::kv::Watcher;

constexpr Database::Ms kNow = 1'000'000;

TEST(Store, SetFindEraseAndTypes) {
  Database db;
  db.set("s", Value(std::string("v")), kNow);
  db.set("l", Value::new_list(), kNow).list()->push_back("x");
  db.set("h", Value::new_hash(), kNow).hash()->emplace("f", "v");
  db.set("z", Value::new_set(), kNow).set()->emplace("m");
  ASSERT_NE(db.find("s", kNow), nullptr);
  EXPECT_EQ(*db.find("s", kNow)->string(), "v");
  EXPECT_EQ(db.find("l", kNow)->type(), Type::kList);
  EXPECT_EQ(db.find("h", kNow)->list(), nullptr);  // the wrong accessor gives nothing
  EXPECT_EQ(db.size(), 4u);
  EXPECT_TRUE(db.erase("s", kNow));
  EXPECT_FALSE(db.erase("s", kNow));
  EXPECT_EQ(db.find("s", kNow), nullptr);
}

TEST(Store, OverwriteDropsTheTtlUnlessKept) {
  Database db;
  db.set("k", Value(std::string("1")), kNow);
  db.set_expire("k", kNow + 100);
  db.set("k", Value(std::string("2")), kNow, /*keep_ttl=*/true);
  EXPECT_EQ(db.expire_at("k"), kNow + 100);
  db.set("k", Value(std::string("3")), kNow);
  EXPECT_EQ(db.expire_at("k"), Database::kNoExpire);
}

TEST(Store, LazyExpiryDeletesOnAccess) {
  Database db;
  db.set("k", Value(std::string("v")), kNow);
  db.set_expire("k", kNow + 10);
  EXPECT_NE(db.find("k", kNow + 9), nullptr);
  EXPECT_EQ(db.size(), 1u);
  EXPECT_EQ(db.find("k", kNow + 10), nullptr);  // due at exactly its time
  EXPECT_EQ(db.size(), 0u);
  EXPECT_EQ(db.expires_count(), 0u);
}

TEST(Store, RenameCarriesTheTtl) {
  Database db;
  db.set("a", Value(std::string("v")), kNow);
  db.set_expire("a", kNow + 50);
  db.rename("a", "b", kNow);
  EXPECT_EQ(db.find("a", kNow), nullptr);
  EXPECT_EQ(db.expire_at("b"), kNow + 50);
}

TEST(Store, ActiveCycleRemovesExpiredKeysNobodyReads) {
  Database db;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    db.set(key, Value(std::string("v")), kNow);
    if (i % 2 == 0) db.set_expire(key, kNow + 5);        // 500 will expire
    else if (i % 5 == 0) db.set_expire(key, kNow + 1'000'000);  // 100 live with a TTL
  }
  std::uint64_t fake_us = 0;
  auto clock = [&fake_us] { return fake_us += 10; };
  // Before their time: nothing goes.
  EXPECT_EQ(db.active_expire_cycle(kNow, 25'000, clock), 0u);
  EXPECT_EQ(db.size(), 1000u);
  // After: each cycle samples until a sample is mostly live (<= 10% expired), so the
  // last few expired keys go a cycle at a time, each found with some probability: the
  // number of cycles has a long tail (measured over 3,000 runs: median about 18, 1.8%
  // past 50, 1 past 100). 1,000 cycles (100 s of a server at --hz 10) make a miss
  // vanishingly unlikely; a sampler that never deletes still fails at once.
  std::size_t deleted = 0;
  for (int cycle = 0; cycle < 1000 && db.size() > 500; ++cycle)
    deleted += db.active_expire_cycle(kNow + 10, 25'000, clock);
  EXPECT_EQ(deleted, 500u);
  EXPECT_EQ(db.size(), 500u);
  EXPECT_EQ(db.expires_count(), 100u);
  EXPECT_EQ(db.expire_stats().expired, 500u);
}

TEST(Store, ActiveCycleStopsAtItsTimeBudget) {
  Database db;
  for (int i = 0; i < 20000; ++i) {
    const std::string key = "k" + std::to_string(i);
    db.set(key, Value(std::string("v")), kNow);
    db.set_expire(key, kNow + 1);
  }
  std::uint64_t fake_us = 0;
  auto slow_clock = [&fake_us] { return fake_us += 1000; };  // every read: +1 ms
  const std::size_t deleted = db.active_expire_cycle(kNow + 2, 1500, slow_clock);
  EXPECT_GT(deleted, 0u);
  EXPECT_LT(deleted, 20000u);  // the budget ended the cycle before the work did
}

TEST(Store, WatchersSeeWritesDeletesAndExpiry) {
  Database db;
  Watcher w;
  db.set("k", Value(std::string("v")), kNow);
  db.watch("k", w);
  EXPECT_FALSE(w.dirty);
  db.touch("other");
  EXPECT_FALSE(w.dirty);
  db.touch("k");
  EXPECT_TRUE(w.dirty);

  Watcher on_expiry;
  db.set_expire("k", kNow + 1);
  db.watch("k", on_expiry);
  db.find("k", kNow + 5);  // lazy expiry deletes it
  EXPECT_TRUE(on_expiry.dirty);

  Watcher on_flush;
  db.set("f", Value(std::string("v")), kNow);
  db.watch("f", on_flush);
  db.unwatch("f", on_flush);
  db.clear();
  EXPECT_FALSE(on_flush.dirty);  // no longer watching
}

TEST(Store, LruEvictionTakesTheLeastRecentlyUsedOfItsSample) {
  Database db;
  for (std::uint32_t i = 0; i < 10; ++i) {
    db.set_lru_clock(1000 + i);
    db.set("k" + std::to_string(i), Value(std::string("v")), kNow);
  }
  db.set_lru_clock(2000);
  db.find("k0", kNow);  // read: k0 is now the most recent, k1 the least
  // 300 samples of 10 keys: every key is in the sample (all but certainly).
  ASSERT_TRUE(db.evict_one_lru(kNow, 300));
  EXPECT_EQ(db.find("k1", kNow), nullptr);
  EXPECT_NE(db.find("k0", kNow), nullptr);
  EXPECT_EQ(db.size(), 9u);
  EXPECT_EQ(db.evicted(), 1u);
  Database empty;
  EXPECT_FALSE(empty.evict_one_lru(kNow));
}

TEST(Store, RandomKeyComesFromTheKeyspace) {
  Database db;
  EXPECT_FALSE(db.random_key().has_value());
  db.set("only", Value(std::string("v")), kNow);
  ASSERT_TRUE(db.random_key().has_value());
  EXPECT_EQ(*db.random_key(), "only");
  const std::string long_key(100, 'k');  // on the heap, not inline
  db.erase("only", kNow);
  db.set(long_key, Value(std::string("v")), kNow);
  EXPECT_EQ(*db.random_key(), long_key);
  EXPECT_NE(db.find(long_key, kNow), nullptr);
}

// ---- several shards (--model threads)

TEST(ShardedStore, KeysSpreadOverShardsAndTheKeyspaceSeesThemAll) {
  Database db(8);
  ASSERT_EQ(db.shard_count(), 8u);
  std::set<std::size_t> used;
  for (int i = 0; i < 400; ++i) {
    const std::string key = "key:" + std::to_string(i);
    db.set(key, Value(std::string("v")), kNow);
    used.insert(db.shard_of(key));
    EXPECT_EQ(db.shard_of(key), db.shard_of(key));  // a key always hashes to one shard
  }
  EXPECT_EQ(used.size(), 8u);
  EXPECT_EQ(db.size(), 400u);
  std::size_t seen = 0;
  db.for_each_key([&](std::string_view) { ++seen; });
  EXPECT_EQ(seen, 400u);
  // SCAN's buckets: every key is in exactly one of them, across all shards.
  std::set<std::string> scanned;
  std::vector<std::string> bucket;
  for (std::size_t b = 0; b < db.bucket_count(); ++b) {
    bucket.clear();
    db.keys_in_bucket(b, bucket);
    for (auto& k : bucket) EXPECT_TRUE(scanned.insert(k).second) << k;
  }
  EXPECT_EQ(scanned.size(), 400u);
  ASSERT_TRUE(db.random_key().has_value());
  db.clear();
  EXPECT_EQ(db.size(), 0u);
  EXPECT_FALSE(db.random_key().has_value());
}

TEST(ShardedStore, RenameAcrossShardsMovesTheValueAndItsTtl) {
  Database db(16);
  std::string from = "from", to;
  for (int i = 0; to.empty(); ++i) {  // a destination in another shard
    const std::string candidate = "to:" + std::to_string(i);
    if (db.shard_of(candidate) != db.shard_of(from)) to = candidate;
  }
  db.set(from, Value(std::string("v")), kNow);
  db.set_expire(from, kNow + 5000);
  db.set(to, Value(std::string("old")), kNow);
  db.rename(from, to, kNow);
  EXPECT_EQ(db.find(from, kNow), nullptr);
  ASSERT_NE(db.find(to, kNow), nullptr);
  EXPECT_EQ(*db.find(to, kNow)->string(), "v");
  EXPECT_EQ(db.expire_at(to), kNow + 5000);
  EXPECT_EQ(db.size(), 1u);
  EXPECT_EQ(db.expires_count(), 1u);
}

TEST(ShardedStore, AReaderHidesAnExpiredKeyAndAWriterDeletesIt) {
  Database db(4);
  db.set("k", Value(std::string("v")), kNow);
  db.set_expire("k", kNow + 10);
  {
    SharedAccess reading;  // as under a shard's shared lock
    EXPECT_EQ(db.find("k", kNow + 20), nullptr);
    EXPECT_EQ(db.size(), 1u);  // still there: a reader must not write
  }
  EXPECT_EQ(db.find("k", kNow + 20), nullptr);
  EXPECT_EQ(db.size(), 0u);  // lazy expiry, by a caller allowed to write
}

TEST(ShardedStore, EachShardRunsItsOwnExpiryCycle) {
  Database db(4);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "e" + std::to_string(i);
    db.set(key, Value(std::string("v")), kNow);
    db.set_expire(key, kNow + 1);
  }
  std::uint64_t fake_us = 0;
  auto clock = [&fake_us] { return fake_us; };
  std::size_t deleted = 0;
  for (std::size_t s = 0; s < db.shard_count(); ++s)
    deleted += db.shard(s).active_expire_cycle(kNow + 2, 1'000'000, clock);
  EXPECT_EQ(deleted, 100u);
  EXPECT_EQ(db.size(), 0u);
  EXPECT_EQ(db.expire_stats().expired, 100u);
}

}  // namespace
