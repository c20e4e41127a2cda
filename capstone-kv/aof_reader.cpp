// aof_reader.cpp: scan_aof (aof_reader.hpp).
#include "aof_reader.hpp"

#include <cstdio>
#include <optional>

namespace serverlab::kv {

namespace {

// A byte as an error message shows it: 'x', or '\x00' when it does not print.
std::string shown(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  char text[8];
  std::snprintf(text, sizeof text, "'\\x%02x'", u);
  return text;
}

}  // namespace

AofScan scan_aof(std::string_view bytes, const resp::Limits& limits, const AofApply& apply) {
  AofScan scan;
  resp::Command command;
  std::size_t offset = 0;
  std::optional<std::size_t> multi_at;  // where an unfinished MULTI starts
  auto corrupt = [&](std::string why) {
    scan.status = AofScan::kCorrupt;
    scan.good_bytes = offset;
    scan.error = std::move(why);
    return scan;
  };
  while (offset < bytes.size()) {
    const std::string_view rest = bytes.substr(offset);
    // Only arrays: an inline command (or zeros a crash left) is not something we wrote.
    if (rest[0] != '*') return corrupt("expected '*', got " + shown(rest[0]));
    const resp::ParseResult r = resp::parse_command(rest, command, limits);
    if (r.kind == resp::ParseResult::Incomplete) {
      scan.status = AofScan::kTruncated;  // good_bytes stays at the last whole command
      return scan;
    }
    if (r.kind == resp::ParseResult::Error) return corrupt(std::string(r.error));
    if (command.args.empty()) return corrupt("an empty command");
    std::string error;
    if (!apply(command.args, error)) return corrupt(error);
    ++scan.commands;
    if (resp::equals_nocase(command.args[0], "multi")) multi_at = offset;
    if (resp::equals_nocase(command.args[0], "exec")) multi_at.reset();
    offset += r.consumed;
    if (!multi_at) scan.good_bytes = offset;
  }
  // A MULTI whose EXEC never came: its commands were queued, never run; cut it off.
  if (multi_at) scan.status = AofScan::kTruncated;
  return scan;
}

}  // namespace serverlab::kv
