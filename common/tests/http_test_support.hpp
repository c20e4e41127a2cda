// http_test_support.hpp: helpers shared by the HTTP serving unit tests
// (the shared temporary directory, parsing a request from text, reading a
// Response plan's body). Test-only; header-only so each test stays one file.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "serverlab/http/file_cache.hpp"
#include "serverlab/http/parser.hpp"
#include "serverlab/http/request.hpp"
#include "serverlab/http/response.hpp"
#include "temp_dir.hpp"

namespace serverlab::http::test {

// A directory under /tmp, removed with everything in it (tests/support).
using TempDir = serverlab::testing::TempDir;

// Holds the text a Request's views point into.
struct ParsedRequest {
  std::string text;
  Request request;
  explicit ParsedRequest(std::string t) : text(std::move(t)) {
    ParseResult r = parse_request(text, request);
    if (r.kind != ParseResult::Done) throw std::runtime_error("test request does not parse");
  }
};

inline std::string read_region(int fd, std::uint64_t offset, std::uint64_t length) {
  std::string out(static_cast<std::size_t>(length), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

// The body a Response plan describes (text, then file region, then parts).
inline std::string body_of(const Response& r) {
  std::string body(r.text);
  if (r.file.file && r.file.length > 0)
    body += read_region(r.file.file->fd.get(), r.file.offset, r.file.length);
  for (const Response::Part& p : r.parts) {
    body += r.owned_text.substr(p.text_offset, p.text_length);
    if (p.file_length > 0) {
      if (r.file.file->inlined) body += r.file.file->bytes.substr(p.file_offset, p.file_length);
      else body += read_region(r.file.file->fd.get(), p.file_offset, p.file_length);
    }
  }
  return body;
}

// Finds "Name: value" in preformatted extra headers.
inline std::string extra_header(const Response& r, const std::string& name) {
  std::string key = name + ": ";
  auto at = r.extra_headers.find(key);
  if (at == std::string::npos) return {};
  auto end = r.extra_headers.find("\r\n", at);
  return r.extra_headers.substr(at + key.size(), end - at - key.size());
}

}  // namespace serverlab::http::test
