// resp_fuzz.cpp: libFuzzer target for the RESP2 command parser (serverlab/resp/parser.hpp).
//
// Built and run by tools/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined);
// not part of the CMake build. Beyond "does not crash", it checks the parser's
// promises and traps when one is broken:
//   - Done consumes at least one byte and at most the input; array arguments lie
//     inside the consumed bytes (at most max_elements of them, each at most
//     max_bulk long), inline ones inside cmd.storage (each at most max_inline);
//   - every shorter prefix of a Done command is Incomplete;
//   - Incomplete's need, when given, lies beyond the input;
//   - an Error carries a text;
//   - parsing the input, then the rest after each Done, ends (consumed > 0).
// Small limits keep the "too big" and "invalid length" paths reachable with short inputs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serverlab/resp/parser.hpp"

namespace {

using namespace serverlab::resp;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool inside(std::string_view part, const char* begin, std::size_t size) {
  if (part.empty()) return true;
  return part.data() >= begin && part.data() + part.size() <= begin + size;
}

void check_one(std::string_view bytes, const Limits& limits) {
  Command command;
  const ParseResult r = parse_command(bytes, command, limits);
  if (r.kind == ParseResult::Error) {
    require(!r.error.empty());
    return;
  }
  if (r.kind == ParseResult::Incomplete) {
    require(r.need == 0 || r.need > bytes.size());
    return;
  }
  require(r.consumed > 0 && r.consumed <= bytes.size());
  const bool array = bytes[0] == '*';
  if (array) require(command.args.size() <= limits.max_elements);
  for (std::string_view arg : command.args) {
    if (array) {
      require(arg.size() <= limits.max_bulk && inside(arg, bytes.data(), r.consumed));
    } else {  // an inline word is bounded by its line
      require(arg.size() <= limits.max_inline &&
              inside(arg, command.storage.data(), command.storage.size()));
    }
  }
  // A strict prefix never finishes early.
  Command shorter;
  require(parse_command(bytes.substr(0, r.consumed - 1), shorter, limits).kind ==
          ParseResult::Incomplete);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_bulk = 64;
  limits.max_elements = 16;
  limits.max_inline = 128;
  // Walk the input as a pipeline: command after command until it stops being Done.
  for (int commands = 0; !bytes.empty() && commands < 64; ++commands) {
    check_one(bytes, limits);
    Command command;
    const ParseResult r = parse_command(bytes, command, limits);
    if (r.kind != ParseResult::Done) break;
    bytes.remove_prefix(r.consumed);
  }
  return 0;
}
