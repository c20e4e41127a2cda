// http2_fuzz.cpp: libFuzzer target for the server side of HTTP/2 (Http2Session).
//
// Built and run by tools/fuzz.sh http2 (clang, -fsanitize=fuzzer,address,undefined);
// not part of the CMake build. Each input is what a hostile client might send after
// the 24-byte preface (which the target puts in front, so the fuzzer spends its time
// on frames, not on the magic): its first byte picks how the rest is cut into
// on_input() calls (1 to 256 bytes each) and whether the driver takes all the output
// or only part of it each time (a slow reader). The session answers through a real
// HttpService over a small document root made at start-up, so HPACK, the request
// mapping, StaticFiles and the body data source all run. Then the peer "closes"
// (on_eof()). Beyond "does not crash, leak or read out of bounds", it traps when a
// promise is broken:
//   - output waiting to be sent never exceeds the high-water mark by more than one
//     frame (bounded memory per connection, whatever the streams ask for);
//   - open streams never exceed SETTINGS_MAX_CONCURRENT_STREAMS;
//   - after EOF, once the output is drained, the session wants to close.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "serverlab/http/service.hpp"
#include "serverlab/http2/frame.hpp"
#include "serverlab/http2/session.hpp"

namespace {

using namespace serverlab;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

std::unique_ptr<http::HttpService> g_service;

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The most output a session may hold: its high-water mark plus one frame it was
// producing when it crossed the mark (a DATA frame, or a HEADERS block).
constexpr std::size_t kMostOutput = http2::Http2Session::kOutputHighWater + 80 * 1024;

void drain(http2::Http2Session& s, bool slow) {
  for (int i = 0; i < 10000 && !s.output().empty(); ++i) {
    require(s.output().size() <= kMostOutput);
    const std::size_t n = slow ? std::min<std::size_t>(s.output().size(), 1000) : s.output().size();
    s.wrote(n);
  }
  require(s.open_streams() <= 100);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char dir[] = "/tmp/serverlab-h2fuzz-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return 1;
  const std::string root = dir;
  write_file(root + "/index.html", "<!doctype html><p>home</p>\n");
  write_file(root + "/a.txt", "alpha\n");
  write_file(root + "/big.bin", std::string(100 * 1024, 'b'));  // over the cache's inline size
  ::mkdir((root + "/sub").c_str(), 0755);
  write_file(root + "/sub/page.txt", "a page\n");
  http::HttpConfig config;
  config.root = root;
  config.error_log_rate = 0;  // no log lines per input
  g_service = std::make_unique<http::HttpService>(config);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::size_t piece = 1 + (mode & 0x7f) * 2;  // 1 .. 255 bytes per on_input()
  const bool slow = (mode & 0x80) != 0;
  const std::string input = std::string(http2::kClientPreface) +
                            std::string(reinterpret_cast<const char*>(data + 1), size - 1);

  http2::Http2Session session(*g_service, "127.0.0.1");
  drain(session, slow);
  for (std::size_t at = 0; at < input.size(); at += piece) {
    if (session.want() == http2::Http2Session::Want::Close) break;
    session.input().append(std::string_view(input).substr(at, piece));
    session.on_input();
    drain(session, slow);
  }
  session.on_eof();
  drain(session, false);
  require(session.want() == http2::Http2Session::Want::Close);
  return 0;
}
