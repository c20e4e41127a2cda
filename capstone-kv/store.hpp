// store.hpp: Database, the keyspace of kv-server: keys -> values, with expiry.
//
//   Database db;                                        // one shard (--model epoll)
//   db.set("k", Value(std::string("v")), now);          // overwrites, drops any TTL
//   if (Value* v = db.find("k", now)) ...               // nullptr: missing or expired
//   db.set_expire("k", now + 5000);                     // absolute ms since the epoch
//   db.active_expire_cycle(now, ...);                   // the loop's timer calls this
//
// Values are one of four types (Redis's names): string, list, hash, set. A
// string is stored inline; the containers sit behind a pointer, so a string
// key costs no more than it must.
//
// A Database is split into shards (class Shard); a key lives in the shard its
// hash picks (shard_of). The epoll model uses one shard: Database is then a thin
// forwarder. The threads model (threads_server.hpp) uses several and keeps one
// reader-writer lock per shard OUTSIDE this file: a command locks the shards of
// its keys, so two commands on keys of different shards run at the same time.
// Each Shard holds
//
//   keys_     std::unordered_map<Key, Value>             every key of the shard
//   expires_  std::unordered_map<std::string_view, ms>   keys with a TTL; the view
//                                                        points at keys_'s own key
//                                                        (unordered_map nodes never
//                                                        move, so it stays valid)
//
// Expiry, as Redis does it:
//   - lazily: find() deletes a key whose time has passed before anyone sees it
//     (under a SharedAccess guard it only hides it: see below);
//   - actively: active_expire_cycle() samples random keys that have a TTL and
//     deletes the expired ones, repeating while more than 10% of a sample was
//     expired and the time budget lasts (Redis's expire.c, effort 1). Memory held by keys nobody reads
//     again comes back without a full scan.
// Times are milliseconds since the Unix epoch (EXPIREAT speaks in them), read
// once per command by the caller so that one command sees one time.
//
// WATCH: a Watcher registered on a key is marked dirty when the key is modified
// (touch(), which the commands call as Redis's signalModifiedKey), deleted,
// overwritten or expired. MULTI/EXEC reads the flag.
//
// Who may call: one thread at a time per shard. The epoll model runs every command
// on its one thread. The threads model holds the shard's lock: exclusive for
// anything that writes, shared for reads made under a SharedAccess guard (then
// find() changes nothing but the LRU stamp, an atomic store). random() is a
// per-thread generator. WATCH marks: watch()/unwatch() change the shard's
// watcher list, so the threads model calls them under the shard's exclusive lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <atomic>
#include <vector>

namespace serverlab::kv {

// Heterogeneous lookup: find a std::string key with a std::string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;
using StringMap = std::unordered_map<std::string, std::string, StringHash, std::equal_to<>>;

// A key's bytes: inside the object when short (up to 22 bytes, most keys), on the
// heap otherwise. 24 bytes where std::string takes 32 and keeps only 15 inline, so
// a typical key costs no allocation of its own: with a million keys that is the
// difference between 1.3x and about 1.1x redis-server's memory (README.md).
// Never moves its bytes while it lives (the map's nodes do not move either), so
// a string_view of a stored key stays valid until the key is erased.
//
//   inline:  raw_[0..22) the bytes              raw_[23] their length (0..22)
//   heap:    raw_[0..8) a pointer, [8..16) the length          raw_[23] = 0xff
class Key {
 public:
  explicit Key(std::string_view bytes);
  Key(Key&& other) noexcept;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  Key& operator=(Key&&) = delete;
  ~Key();

  std::string_view view() const {
    if (tag() != kOnHeap) return {raw_, tag()};
    char* data = nullptr;
    std::size_t size = 0;
    std::memcpy(&data, raw_, sizeof data);
    std::memcpy(&size, raw_ + sizeof data, sizeof size);
    return {data, size};
  }
  operator std::string_view() const { return view(); }  // NOLINT: a key is its bytes
  friend bool operator==(const Key& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const Key& a, const Key& b) { return a.view() == b.view(); }

 private:
  static constexpr std::size_t kSize = 24;
  static constexpr std::size_t kInlineMax = kSize - 2;
  static constexpr unsigned char kOnHeap = 0xff;
  unsigned char tag() const { return static_cast<unsigned char>(raw_[kSize - 1]); }
  void set_tag(unsigned char t) { raw_[kSize - 1] = static_cast<char>(t); }
  alignas(8) char raw_[kSize];
};
static_assert(sizeof(Key) == 24);

using List = std::deque<std::string>;
using Hash = StringMap;
using Set = StringSet;

enum class Type { kString, kList, kHash, kSet };
std::string_view type_name(Type type);  // "string", "list", "hash", "set"

class Value {
 public:
  explicit Value(std::string s) : v_(std::move(s)) {}
  static Value new_list() { return Value(std::make_unique<List>()); }
  static Value new_hash() { return Value(std::make_unique<Hash>()); }
  static Value new_set() { return Value(std::make_unique<Set>()); }

  Type type() const { return static_cast<Type>(v_.index()); }
  std::string* string() { return std::get_if<std::string>(&v_); }
  List* list() { return get<List>(); }
  Hash* hash() { return get<Hash>(); }
  Set* set() { return get<Set>(); }
  const std::string* string() const { return std::get_if<std::string>(&v_); }
  const List* list() const { return get<List>(); }
  const Hash* hash() const { return get<Hash>(); }
  const Set* set() const { return get<Set>(); }
  // An empty container is deleted by the command that emptied it (Redis never
  // keeps an empty list, hash or set).
  bool empty_container() const;

 private:
  template <typename T>
  explicit Value(std::unique_ptr<T> p) : v_(std::move(p)) {}
  template <typename T>
  T* get() const {
    auto* p = std::get_if<std::unique_ptr<T>>(&v_);
    return p ? p->get() : nullptr;
  }
  std::variant<std::string, std::unique_ptr<List>, std::unique_ptr<Hash>, std::unique_ptr<Set>> v_;

 public:
  // Last access on the database's LRU clock (ms, wrapping every 49 days), for
  // allkeys-lru eviction. It fits in the hash node's allocation without growing it.
  std::uint32_t lru = 0;
};

// A WATCH on some keys. dirty turns true when one of them changes. Atomic: in
// the threads model two writers on keys of different shards (so under different
// locks) may mark the same watcher at once; EXEC reads it holding the locks of
// every watched key, after those writers released theirs.
struct Watcher {
  std::atomic<bool> dirty{false};
};

struct ExpireStats {
  std::uint64_t expired = 0;  // keys deleted by the active cycle, ever
  std::uint64_t sampled = 0;  // keys it looked at, ever
  std::uint64_t cycles = 0;
};

// One shard of a Database: a hash table of keys, their TTLs, WATCH marks. Every
// Database method that names a key forwards to the key's shard.
class Shard {
 public:
  using Ms = std::int64_t;  // milliseconds since the Unix epoch
  static constexpr Ms kNoExpire = -1;

  Shard();

  // The value at `key`, or nullptr when it does not exist or has expired (then
  // it is deleted now: lazy expiry).
  Value* find(std::string_view key, Ms now);
  bool exists(std::string_view key, Ms now) { return find(key, now) != nullptr; }
  // Stores `value` at `key`, replacing any old value. Drops the TTL unless keep_ttl.
  Value& set(std::string_view key, Value value, Ms now, bool keep_ttl = false);
  // Deletes `key`; false if it was not there (or had expired).
  bool erase(std::string_view key, Ms now);
  // Moves the value and TTL of `from` to `to` (overwriting it). `from` must exist.
  void rename(std::string_view from, std::string_view to, Ms now);
  // Removes `key` (which must exist) and hands back its value (RENAME across shards).
  Value take(std::string_view key);
  void clear();

  // TTL: absolute expiry time in ms, or kNoExpire. The key must exist.
  Ms expire_at(std::string_view key) const;
  void set_expire(std::string_view key, Ms when);
  bool persist(std::string_view key);  // false if it had no TTL

  std::size_t size() const { return keys_.size(); }
  std::size_t expires_count() const { return expires_.size(); }

  // The keys of one hash bucket of the keyspace (SCAN's unit of work); `bucket`
  // below bucket_count(). Expired keys are included: the caller checks them.
  void keys_in_bucket(std::size_t bucket, std::vector<std::string>& out) const;
  std::size_t bucket_count() const { return keys_.bucket_count(); }
  // Calls f(key) for every key, expired ones included (KEYS checks them itself).
  void for_each_key(const std::function<void(std::string_view)>& f) const;
  // Calls f(key, value, expiry time or kNoExpire) for every key, expired ones too (SAVE).
  void for_each_entry(const std::function<void(std::string_view, const Value&, Ms)>& f) const;
  // A random key (valid until the keyspace changes), or nullopt if it is empty.
  std::optional<std::string_view> random_key();

  // One run of the active expiry cycle: see the header comment. `budget_us` bounds
  // its time; `clock_us` reads a monotonic clock in microseconds (tests pass a fake).
  // Returns the number of keys it deleted.
  std::size_t active_expire_cycle(Ms now, std::uint64_t budget_us,
                                  const std::function<std::uint64_t()>& clock_us);
  const ExpireStats& expire_stats() const { return stats_; }

  // WATCH support (see the header comment).
  void watch(std::string_view key, Watcher& watcher);
  void unwatch(std::string_view key, Watcher& watcher);
  // The key changed: every watcher of it becomes dirty. Commands call this after
  // writing, set()/erase()/expiry call it themselves.
  void touch(std::string_view key);
  // FLUSHDB: every watched key that exists now is touched.
  void touch_all_watched_existing();

  // allkeys-lru: the clock find() and set() stamp on values (ms, the caller's clock),
  // and one eviction: of `samples` random keys, the least recently used is deleted
  // (Redis's approximated LRU). False when the database is empty.
  void set_lru_clock(std::uint32_t now_ms) { lru_clock_ = now_ms; }
  bool evict_one_lru(Ms now, int samples = 5);
  std::uint64_t evicted() const { return evicted_; }

  // For the append-only file (aof.hpp): a count of modifications (touch() and
  // clear() add one), so a caller can tell whether a command changed anything;
  // and a listener told of every key the server deletes on its own (lazy or
  // active expiry, eviction), before it goes.
  std::uint64_t changes() const { return changes_; }
  void set_deletion_listener(std::function<void(std::string_view)> f) { on_delete_ = std::move(f); }

 private:
  bool expired(std::string_view key, Ms now) const;
  using KeyMap = std::unordered_map<Key, Value, StringHash, std::equal_to<>>;
  void erase_entry(KeyMap::iterator it);
  // Looks at up to `count` keys with a TTL, starting in a random bucket of
  // expires_; deletes the expired ones. Returns how many it deleted.
  std::size_t expire_sample(Ms now, std::size_t count, std::size_t& looked_at);

  KeyMap keys_;
  std::unordered_map<std::string_view, Ms> expires_;
  std::unordered_map<std::string, std::vector<Watcher*>, StringHash, std::equal_to<>> watchers_;
  std::mt19937_64 random_;
  ExpireStats stats_;
  std::uint32_t lru_clock_ = 0;
  std::uint64_t evicted_ = 0;
  std::uint64_t changes_ = 0;
  std::function<void(std::string_view)> on_delete_;
  bool in_active_expiry_ = false;  // erase_entry reports deletions to on_delete_
};

// While one of these lives on a thread, Shard::find() does not delete an expired
// key, it only reports it missing: the caller holds a shared (reader) lock, so it
// must not write. The threads model puts one around every read-only command; a
// later write or the active expiry cycle deletes the key.
class SharedAccess {
 public:
  SharedAccess();
  ~SharedAccess();
  SharedAccess(const SharedAccess&) = delete;
  SharedAccess& operator=(const SharedAccess&) = delete;
  static bool active();
};

class Database {
 public:
  using Ms = Shard::Ms;
  static constexpr Ms kNoExpire = Shard::kNoExpire;

  explicit Database(std::size_t shards = 1);

  // ---- sharding
  // Re-splits an EMPTY database into `shards` (>= 1) shards (main, before serving).
  void reshard(std::size_t shards);
  std::size_t shard_count() const { return shards_.size(); }
  std::size_t shard_of(std::string_view key) const;
  Shard& shard(std::size_t i) { return *shards_[i]; }

  // ---- one key: forwarded to its shard (Shard has the details)
  Value* find(std::string_view key, Ms now) { return of(key).find(key, now); }
  bool exists(std::string_view key, Ms now) { return find(key, now) != nullptr; }
  Value& set(std::string_view key, Value value, Ms now, bool keep_ttl = false) {
    return of(key).set(key, std::move(value), now, keep_ttl);
  }
  bool erase(std::string_view key, Ms now) { return of(key).erase(key, now); }
  // Moves the value and TTL of `from` to `to` (overwriting it). `from` must exist.
  void rename(std::string_view from, std::string_view to, Ms now);
  Ms expire_at(std::string_view key) const { return of(key).expire_at(key); }
  void set_expire(std::string_view key, Ms when) { of(key).set_expire(key, when); }
  bool persist(std::string_view key) { return of(key).persist(key); }
  void watch(std::string_view key, Watcher& w) { of(key).watch(key, w); }
  void unwatch(std::string_view key, Watcher& w) { of(key).unwatch(key, w); }
  void touch(std::string_view key) { of(key).touch(key); }

  // ---- the whole keyspace: every shard in turn
  void clear();
  std::size_t size() const;
  std::size_t expires_count() const;
  // SCAN's buckets: shard 0's buckets first, then shard 1's, ...
  std::size_t bucket_count() const;
  void keys_in_bucket(std::size_t bucket, std::vector<std::string>& out) const;
  void for_each_key(const std::function<void(std::string_view)>& f) const;
  void for_each_entry(const std::function<void(std::string_view, const Value&, Ms)>& f) const;
  // A random key from a random non-empty shard, or nullopt if all are empty.
  std::optional<std::string_view> random_key();
  // Every shard's active expiry cycle, each with the whole budget's share.
  std::size_t active_expire_cycle(Ms now, std::uint64_t budget_us,
                                  const std::function<std::uint64_t()>& clock_us);
  ExpireStats expire_stats() const;  // summed over the shards
  void touch_all_watched_existing();
  void set_lru_clock(std::uint32_t now_ms);
  // allkeys-lru: one eviction, from a random non-empty shard.
  bool evict_one_lru(Ms now, int samples = 5);
  std::uint64_t evicted() const;
  // Shard::changes() summed; Shard::set_deletion_listener on every shard.
  std::uint64_t changes() const;
  void set_deletion_listener(const std::function<void(std::string_view)>& f);

  // The calling thread's random generator (SPOP, SRANDMEMBER, HRANDFIELD).
  static std::mt19937_64& random();

 private:
  Shard& of(std::string_view key) { return *shards_[shard_of(key)]; }
  const Shard& of(std::string_view key) const { return *shards_[shard_of(key)]; }
  std::size_t random_nonempty_shard();

  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace serverlab::kv
