// response_head_fuzz.cpp: libFuzzer target for the proxy's backend-response parser
// (capstone-proxy/response_head.cpp): the bytes a backend sends are as untrusted as a
// client's. Built and run by tools/fuzz.sh (`tools/fuzz.sh 60 proxy`); not part of the
// CMake build. Beyond "does not crash", it traps when a promise breaks:
//   - Done consumes at most the input, ends with a blank line, and every view lies inside it;
//   - Done has a status in 100..599 and never both Content-Length and chunked;
//   - the head minus its last byte is Incomplete (a prefix never decides early);
//   - a head over the limit is TooBig, never Done.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../response_head.hpp"

namespace {

using namespace serverlab::proxy;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t kMax = 512;  // small, so TooBig is reachable
  ResponseHead head;
  HeadResult r = parse_response_head(input, head, kMax);
  if (r.kind != HeadParse::Done) return 0;
  require(r.consumed <= input.size() && r.consumed <= kMax);
  require(input.substr(0, r.consumed).ends_with("\n\n") ||
          input.substr(0, r.consumed).ends_with("\n\r\n"));
  require(head.status >= 100 && head.status <= 599);
  require(!(head.chunked && head.content_length));
  require(inside(head.reason, input) && inside(head.connection, input));
  for (const auto& h : head.headers) require(inside(h.name, input) && inside(h.value, input));
  ResponseHead again;
  require(parse_response_head(input.substr(0, r.consumed - 1), again, kMax).kind ==
          HeadParse::Incomplete);
  return 0;
}
