// aof_fuzz.cpp: libFuzzer target for the append-only file's reader, scan_aof
// (capstone-kv/aof_reader.hpp), over arbitrary file contents.
//
// Built and run by tools/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined) with only
// aof_reader.cpp and common's RESP parser; not part of the CMake build. Beyond "does not
// crash", it checks what the server relies on when it loads (aof.cpp) and traps when a
// promise is broken:
//   - good_bytes never passes the end of the file, and kComplete means every byte;
//   - kCorrupt carries a reason, and stops before the end of the file;
//   - kTruncated's good_bytes is a place to cut: scanning just that prefix is kComplete,
//     with the same good_bytes (the cut file loads next time without another cut);
//   - every command handed to apply is non-empty and made of bytes of the file.
// apply refuses a command named "bad", so the "a command we never write" path is reached.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "../aof_reader.hpp"

namespace {

using namespace serverlab;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

kv::AofScan scan(std::string_view bytes, std::size_t& applied) {
  resp::Limits limits;
  limits.max_bulk = 256;  // small limits keep the "too big" paths reachable
  limits.max_elements = 16;
  applied = 0;
  return kv::scan_aof(bytes, limits,
                      [&](std::span<const std::string_view> args, std::string& error) {
                        require(!args.empty());
                        for (std::string_view arg : args)
                          require(arg.empty() || (arg.data() >= bytes.data() &&
                                                  arg.data() + arg.size() <= bytes.data() + bytes.size()));
                        if (resp::equals_nocase(args[0], "bad")) {
                          error = "'bad' is not a command an append-only file holds";
                          return false;
                        }
                        ++applied;
                        return true;
                      });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::size_t applied = 0;
  const kv::AofScan s = scan(bytes, applied);
  require(s.good_bytes <= bytes.size());
  require(s.commands == applied);
  switch (s.status) {
    case kv::AofScan::kComplete:
      require(s.good_bytes == bytes.size());
      break;
    case kv::AofScan::kCorrupt:
      require(!s.error.empty() && s.good_bytes < bytes.size());
      break;
    case kv::AofScan::kTruncated: {
      std::size_t again = 0;
      const kv::AofScan cut = scan(bytes.substr(0, s.good_bytes), again);
      require(cut.status == kv::AofScan::kComplete && cut.good_bytes == s.good_bytes);
      break;
    }
  }
  return 0;
}
