// parser_fuzz.cpp: libFuzzer target for the HTTP request parser and friends.
//
// Built and run by tools/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined);
// not part of the CMake build. libFuzzer hands us exactly `size` heap bytes, so
// ASan turns any read past the input into a crash. Beyond "does not crash",
// it checks the parser's promises and traps when one is broken:
//   - Done consumes at most the input, and every view lies inside it;
//   - the head minus its last byte is Incomplete (prefixes never succeed/fail early
//     differently);
//   - an Incomplete's limit_at lies beyond the input;
//   - the body decodes the same whole or split in two;
//   - normalize_path's result is absolute and free of "." / ".." segments.
// Small limits keep the 413/414/431 paths reachable with short inputs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "serverlab/http/mime.hpp"
#include "serverlab/http/parser.hpp"
#include "serverlab/http/uri.hpp"

namespace {

using namespace serverlab::http;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

BodyDecoder::Step decode(const Request& r, std::uint64_t max_body, std::string_view body,
                         std::size_t cut, std::size_t& total) {
  BodyDecoder decoder;
  decoder.start(r, max_body);
  total = 0;
  BodyDecoder::Step step = decoder.feed(body.substr(0, cut));
  require(step.consumed <= cut);
  total += step.consumed;
  if (step.state != BodyDecoder::State::More) return step;
  require(step.consumed == cut);
  step = decoder.feed(body.substr(cut));
  require(step.consumed <= body.size() - cut);
  total += step.consumed;
  return step;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ParseLimits limits;
  limits.max_request_line = 256;
  limits.max_header_bytes = 512;
  limits.max_headers = 16;
  limits.max_body = 1024;

  Request request;
  const ParseResult result = parse_request(bytes, request, limits);
  if (result.kind == ParseResult::Error) {
    require(result.status >= 400 && result.status <= 505);
    return 0;
  }
  // Incomplete: a limit that falls due is still ahead (limit_at 0: not known).
  if (result.kind == ParseResult::Incomplete) {
    require(result.limit_at == 0 || result.limit_at > size);
  }
  if (result.kind != ParseResult::Done) return 0;

  require(result.consumed > 0 && result.consumed <= size);
  const std::string_view head = bytes.substr(0, result.consumed);
  require(inside(request.method_token, head) && inside(request.target, head));
  require(inside(request.query, head) && inside(request.host, head));
  require(inside(request.path, head) || request.path == "/");
  require(request.headers.size() <= limits.max_headers);
  for (const Header& h : request.headers) require(inside(h.name, head) && inside(h.value, head));

  Request shorter;
  require(parse_request(head.substr(0, head.size() - 1), shorter, limits).kind ==
          ParseResult::Incomplete);

  // The body: whole, then cut where the input's first byte says.
  const std::string_view body = bytes.substr(result.consumed);
  std::size_t whole_total = 0;
  const BodyDecoder::Step whole = decode(request, limits.max_body, body, body.size(), whole_total);
  const std::size_t cut = body.empty() ? 0 : data[0] % (body.size() + 1);
  std::size_t split_total = 0;
  const BodyDecoder::Step split = decode(request, limits.max_body, body, cut, split_total);
  require(whole.state == split.state);
  if (whole.state == BodyDecoder::State::Error) {
    require(whole.status == split.status);
  } else {
    require(whole_total == split_total);
  }

  if (const auto path = normalize_path(request.path)) {
    require(!path->empty() && path->front() == '/');
    const std::string padded = *path + "/";
    require(padded.find("/../") == std::string::npos && padded.find("/./") == std::string::npos);
    (void)mime_type(*path);
  }
  (void)parse_query(request.query);
  return 0;
}
