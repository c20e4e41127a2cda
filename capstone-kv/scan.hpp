// scan.hpp: the cursor of SCAN, HSCAN and SSCAN, and their shared arguments.
//
// A cursor is the index of the next hash bucket to visit in the table being
// scanned (std::unordered_* exposes its buckets). One call visits COUNT buckets
// (10 by default) and returns every element in them, plus the next cursor; 0
// means the walk is over.
//
// Guarantee, and where it differs from Redis: an element present for the whole
// walk is returned if the table did not grow or shrink during the walk. Redis's
// tables have power-of-two sizes and a reverse-binary cursor that survives a
// resize; the standard library's tables have prime sizes, so after a rehash this
// cursor may return an element twice or miss one. Callers must (as with Redis)
// expect duplicates; the miss is the honest price of using the standard table.
//
// Who may call: the command handlers (cmd_keys.cpp, cmd_hashes.cpp, cmd_sets.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "glob.hpp"
#include "store.hpp"

namespace serverlab::kv {

struct ScanArgs {
  std::size_t cursor = 0;
  std::size_t count = 10;
  std::string_view match;  // empty: everything
  bool has_type = false;   // SCAN only
  Type type = Type::kString;
  bool type_unknown = false;  // TYPE names no type: nothing matches
};

// Parses "cursor [MATCH p] [COUNT n] [TYPE t]" starting at args[first]. Replies
// (invalid cursor, syntax error, not an integer) and returns false on error.
bool parse_scan_args(Context& ctx, std::size_t first, bool allow_type, ScanArgs& scan);

// *2 [cursor as a bulk string, [elements...]]
void write_scan_reply(std::string& out, std::size_t cursor, const std::vector<std::string>& items);

// A hash or set this small is returned whole by one HSCAN/SSCAN (cursor 0), as
// Redis does for its compact encodings (hash-max-listpack-entries).
inline constexpr std::size_t kScanWhole = 128;

// Visits buckets of `table` from `cursor` on, calling emit(element) for each;
// returns the next cursor (0: done). A table of kScanWhole elements or fewer is
// visited whole.
template <typename Table, typename Emit>
std::size_t scan_buckets(const Table& table, std::size_t cursor, std::size_t count, Emit emit) {
  if (table.size() <= kScanWhole) {
    for (const auto& element : table) emit(element);
    return 0;
  }
  const std::size_t buckets = table.bucket_count();
  if (cursor >= buckets) cursor = 0;
  std::size_t visited = 0;
  do {
    for (auto it = table.begin(cursor); it != table.end(cursor); ++it) emit(*it);
    cursor = (cursor + 1) % buckets;
    ++visited;
  } while (cursor != 0 && visited < count);
  return cursor;
}

}  // namespace serverlab::kv
