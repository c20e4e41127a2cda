// aof_reader.hpp: reading an append-only file (aof.hpp), as a pure function over its
// bytes. It is the part of the AOF that parses what it reads, so it lives apart from
// the server: tools/fuzz.sh builds it alone with common's RESP parser (capstone-kv/fuzz/).
//
// The file is RESP arrays, one per command, as aof.hpp writes them. scan_aof walks
// them in order and hands each to `apply`:
//   - every byte parsed                                  -> kComplete
//   - a command cut short at the end (a crash mid-write),
//     or a MULTI whose EXEC never came                    -> kTruncated: good_bytes is where
//                                                           the caller may cut the file
//   - anything else (not an array, a bad length, zeros,
//     a command `apply` refuses)                          -> kCorrupt at good_bytes
// Who may call: anyone; it keeps no state between calls.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "serverlab/resp/parser.hpp"

namespace serverlab::kv {

struct AofScan {
  enum Status { kComplete, kTruncated, kCorrupt };
  Status status = kComplete;
  std::size_t commands = 0;    // commands handed to apply
  // kComplete, kTruncated: the length of the good prefix (the end of the last whole
  // command outside an unfinished MULTI). kCorrupt: where the bad command starts.
  std::size_t good_bytes = 0;
  std::string error;  // kCorrupt: why
};
// Replays one command; false + error stops the scan as kCorrupt (an unknown command).
using AofApply = std::function<bool(std::span<const std::string_view> args, std::string& error)>;
// Hands every whole command of `bytes` to `apply`, in order.
AofScan scan_aof(std::string_view bytes, const resp::Limits& limits, const AofApply& apply);

}  // namespace serverlab::kv
