// rdb.hpp: snapshots of the keyspace in Redis's RDB format (SAVE, BGSAVE, load at start).
//
//   std::string error;
//   if (!save_rdb(db, "/var/lib/kv/dump.rdb", now, error)) log::error("SAVE: {}", error);
//   if (!load_rdb(db, "/var/lib/kv/dump.rdb", now, error)) ...   // a missing file is fine
//
// The file is what Redis writes (RDB version 9), so `redis-check-rdb` accepts it and a
// real redis-server loads it:
//
//   "REDIS0009"  AUX fields (0xFA name value)  SELECTDB 0 (0xFE)  RESIZEDB (0xFB)
//   per key: [EXPIRETIME_MS (0xFC) + 8 bytes LE]  type  key  value
//            type 0 string | 1 list (count, elements) | 2 set (count, members)
//                 | 4 hash (count, field value ...)
//   EOF (0xFF)  CRC-64 (Jones, reflected; 8 bytes LE) of everything before it
//
// Strings are length-prefixed ("length encoding": 6, 14, 32 or 64 bits). The loader
// reads this subset plus the integer-encoded strings and second-resolution expiry
// Redis may write; compressed strings (LZF) and the compact types of a real Redis
// dump (listpack, intset, ...) are refused with a clear error naming the type.
//
// Crash safety: save_rdb writes "<path>.tmp-<pid>", fsyncs it, renames it over
// <path> and fsyncs the directory. A crash at any point leaves either the old dump
// or the new one, never half of one.
//
// Who may call: the loop thread (SAVE, load at start) or a forked child (BGSAVE),
// which has its own copy of the keyspace (copy-on-write). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store.hpp"

namespace serverlab::kv {

bool save_rdb(const Database& db, const std::string& path, Database::Ms now, std::string& error);
// Loads into `db` (which should be empty); keys already expired at `now` are skipped.
// A missing file is not an error (returns true, loads nothing).
bool load_rdb(Database& db, const std::string& path, Database::Ms now, std::string& error);

// The last step of a crash-safe save, shared by the RDB dump and the AOF rewrite:
// renames the finished temporary file `tmp` over `path`, then fsyncs the directory
// so the rename itself reaches the disk. On failure `tmp` is removed, `path` is
// left as it was, and false + error says why.
bool rename_into_place(const std::string& tmp, const std::string& path, std::string& error);

// CRC-64/Jones as Redis computes it (for tests: crc64(0, "123456789") == 0xe9c6d914c4b8d9ca).
std::uint64_t crc64(std::uint64_t crc, std::string_view bytes);

}  // namespace serverlab::kv
