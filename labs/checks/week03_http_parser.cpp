// Lab 03 (week 3): the HTTP request-head parser. Checks parse_request
// (serverlab/http/parser.hpp) through its public interface: bytes in, a Request
// and a verdict out. parse_request runs three steps, each a lab region of
// common/src/http/parser.cpp, and each step's checks carry its name as their tag:
//   [request-line]   stray empty lines, method, target, HTTP version (400, 414, 505)
//   [header-fields]  the fields up to the empty line (400, 431)
//   [head-rules]     rules that need the whole head: Host, framing, keep-alive (400, 413, 501)
//
// A failed check prints verdicts by name ("Incomplete == Done", "Error 400 == Done,
// 57 bytes"), and an answer of 501, what every lab03 stub returns, says that the
// region is still the stub.
#include <string>

#include <catch2/catch.hpp>

#include "lab_support.hpp"
#include "serverlab/http/parser.hpp"

using serverlab::http::Method;
using serverlab::http::parse_request;
using serverlab::http::ParseLimits;
using serverlab::http::ParseResult;
using serverlab::http::Request;

namespace {

// The status every lab03 stub answers with (parser.cpp's stub lines).
constexpr int kStubStatus = 501;

// A verdict a check expects: compare it with what parse_request returned,
//   CHECK(p.result == done(57));   CHECK(p.result == error(400));
struct Expected {
  ParseResult::Kind kind = ParseResult::Incomplete;
  std::size_t consumed = 0;  // Done only
  int status = 0;            // Error only
};
Expected incomplete() { return {ParseResult::Incomplete, 0, 0}; }
Expected done(std::size_t consumed) { return {ParseResult::Done, consumed, 0}; }
Expected error(int status) { return {ParseResult::Error, 0, status}; }

bool operator==(const ParseResult& got, const Expected& want) {
  if (got.kind != want.kind) return false;
  if (got.kind == ParseResult::Done) return got.consumed == want.consumed;
  if (got.kind == ParseResult::Error) return got.status == want.status;
  return true;
}

std::string kind_name(ParseResult::Kind kind) {
  switch (kind) {
    case ParseResult::Incomplete:
      return "Incomplete";
    case ParseResult::Done:
      return "Done";
    case ParseResult::Error:
      return "Error";
  }
  return "Kind(" + std::to_string(static_cast<int>(kind)) + ")";
}

std::string verdict(ParseResult::Kind kind, std::size_t consumed, int status) {
  if (kind == ParseResult::Done) return "Done, " + std::to_string(consumed) + " bytes";
  if (kind == ParseResult::Error) return "Error " + std::to_string(status);
  return kind_name(kind);
}

struct Parsed {
  std::string bytes;  // the Request's views point into this
  Request request;
  ParseResult result;
};

Parsed parse(std::string bytes, const ParseLimits& limits = {}) {
  Parsed p;
  p.bytes = std::move(bytes);
  p.result = parse_request(p.bytes, p.request, limits);
  return p;
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<ParseResult::Kind> {
  static std::string convert(ParseResult::Kind kind) { return kind_name(kind); }
};
template <>
struct StringMaker<ParseResult> {
  static std::string convert(const ParseResult& r) {
    std::string s = verdict(r.kind, r.consumed, r.status);
    if (r.kind == ParseResult::Error && r.status == kStubStatus) {
      s += " (what every lab03 stub returns: this is still the stub)";
    }
    return s;
  }
};
template <>
struct StringMaker<Expected> {
  static std::string convert(const Expected& e) { return verdict(e.kind, e.consumed, e.status); }
};
template <>
struct StringMaker<Method> {
  static std::string convert(Method m) {
    switch (m) {
      case Method::Get:
        return "GET";
      case Method::Head:
        return "HEAD";
      case Method::Post:
        return "POST";
      case Method::Put:
        return "PUT";
      case Method::Delete:
        return "DELETE";
      case Method::Patch:
        return "PATCH";
      case Method::Options:
        return "OPTIONS";
      case Method::Trace:
        return "TRACE";
      case Method::Connect:
        return "CONNECT";
      case Method::Unknown:
        return "Unknown";
    }
    return "Method(" + std::to_string(static_cast<int>(m)) + ")";
  }
};
}  // namespace Catch

// ---------------------------------------------------------------- [request-line]

TEST_CASE("the request line gives the method, the target and the version", "[request-line]") {
  Parsed p = parse("GET /docs/a%20b.html?x=1 HTTP/1.1\r\nHost: example\r\n\r\n");
  INFO(labcheck::escaped(p.bytes));
  CHECK(p.result == done(p.bytes.size()));
  CHECK(p.request.method == Method::Get);
  CHECK(p.request.method_token == "GET");
  CHECK(p.request.target == "/docs/a%20b.html?x=1");
  CHECK(p.request.version_minor == 1);

  Parsed old = parse("HEAD / HTTP/1.0\r\n\r\n");
  CHECK(old.result == done(old.bytes.size()));
  CHECK(old.request.method == Method::Head);
  CHECK(old.request.version_minor == 0);

  // Methods are case-sensitive tokens: "get" is some other method, not an error.
  Parsed other = parse("get / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(other.result == done(other.bytes.size()));
  CHECK(other.request.method == Method::Unknown);
  CHECK(other.request.method_token == "get");
}

TEST_CASE("up to four empty lines before the request line are skipped, and a bare LF ends a line",
          "[request-line]") {
  Parsed four = parse("\r\n\n\r\n\nGET / HTTP/1.1\nHost: h\n\n");
  INFO(labcheck::escaped(four.bytes));
  CHECK(four.result == done(four.bytes.size()));
  CHECK(four.request.target == "/");
  Parsed five = parse("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(five.result == error(400));
}

TEST_CASE("every proper prefix of a request line is Incomplete", "[request-line]") {
  const std::string line = "\r\nOPTIONS /a?b HTTP/1.1\r\n";
  for (std::size_t n = 0; n <= line.size(); ++n) {
    Parsed p = parse(line.substr(0, n));
    INFO("prefix: " << labcheck::escaped(p.bytes));
    CHECK(p.result == incomplete());
  }
  Parsed whole = parse(line + "Host: h\r\n\r\n");
  CHECK(whole.result == done(whole.bytes.size()));
  CHECK(whole.request.method == Method::Options);
}

TEST_CASE("bad request lines get 400, other versions 505, long lines 414", "[request-line]") {
  struct Case {
    const char* bytes;
    int status;
  };
  const Case cases[] = {
      {"GET /\r\nHost: h\r\n\r\n", 400},                 // no version
      {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},       // two spaces
      {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},       // no method
      {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},       // junk after the version
      {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},     // a space in the target
      {"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400},  // a fragment in the target
      {"GET / HTTP/1.1\rHost: h\r\n\r\n", 400},          // bare CR
      {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},        // "HTTP" is case-sensitive
      {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},        // not HTTP/1.x
      {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},
  };
  for (const Case& c : cases) {
    Parsed p = parse(c.bytes);
    INFO("request: " << labcheck::escaped(p.bytes));
    CHECK(p.result == error(c.status));
  }

  ParseLimits limits;
  limits.max_request_line = 64;
  const std::string fits = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1";  // 64 bytes
  Parsed at_limit = parse(fits + "\r\nHost: h\r\n\r\n", limits);
  CHECK(at_limit.result == done(at_limit.bytes.size()));
  Parsed over = parse("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", limits);
  CHECK(over.result == error(414));
  // Too long is known before the line ends: no need to wait for the rest.
  Parsed cut = parse("GET /" + std::string(100, 'a'), limits);
  CHECK(cut.result == error(414));
}

// ---------------------------------------------------------------- [header-fields]

TEST_CASE("header fields keep their names and lose the whitespace around values",
          "[header-fields]") {
  Parsed p = parse(
      "GET / HTTP/1.1\r\nHost: example\r\nUser-Agent: lab\r\n"
      "Accept:  */*  \r\nX-Empty:\r\n\r\n");
  INFO(labcheck::escaped(p.bytes));
  CHECK(p.result == done(p.bytes.size()));
  REQUIRE(p.request.headers.size() == 4);
  CHECK(p.request.headers[1].name == "User-Agent");  // case kept as sent
  CHECK(p.request.header("user-agent") == "lab");    // looked up case-insensitively
  CHECK(p.request.header("Accept") == "*/*");
  CHECK(p.request.header("X-Empty") == "");
  CHECK(p.request.host == "example");
}

TEST_CASE("every proper prefix of a head is Incomplete; the body is not part of the head",
          "[header-fields]") {
  const std::string head = "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  for (std::size_t n = 0; n < head.size(); ++n) {
    Parsed p = parse(head.substr(0, n));
    INFO("prefix: " << labcheck::escaped(p.bytes));
    CHECK(p.result == incomplete());
  }
  Parsed p = parse(head + "hello");
  CHECK(p.result == done(head.size()));
  CHECK(p.request.content_length == 5u);

  const std::string next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  Parsed pipelined = parse("GET /a HTTP/1.1\r\nHost: h\r\n\r\n" + next);
  CHECK(pipelined.result == done(pipelined.bytes.size() - next.size()));
  CHECK(pipelined.request.target == "/a");
}

TEST_CASE("malformed fields get 400", "[header-fields]") {
  const char* const cases[] = {
      "GET / HTTP/1.1\r\nHost : h\r\n\r\n",              // whitespace before the colon
      "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",    // obs-fold
      "GET / HTTP/1.1\r\n Host: h\r\n\r\n",              // whitespace before the first field
      "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",         // bare CR in a value
      "GET / HTTP/1.1\r\nHost: h\r\n: no-name\r\n\r\n",  // empty field name
      "GET / HTTP/1.1\r\nHost: h\r\nNo-Colon\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n\r\n",  // CR not followed by LF at the end
  };
  for (const char* bytes : cases) {
    Parsed p = parse(bytes);
    INFO("request: " << labcheck::escaped(p.bytes));
    CHECK(p.result == error(400));
  }
  static constexpr char kNul[] =
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";  // a NUL in a value
  Parsed nul = parse(std::string(kNul, sizeof kNul - 1));
  INFO("request: " << labcheck::escaped(nul.bytes));
  CHECK(nul.result == error(400));
}

TEST_CASE("too many fields or too large a section: 431", "[header-fields]") {
  ParseLimits limits;
  limits.max_headers = 3;
  limits.max_header_bytes = 256;

  Parsed three = parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits);
  CHECK(three.result == done(three.bytes.size()));
  Parsed many = parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits);
  CHECK(many.result == error(431));
  Parsed big =
      parse("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(300, 'v') + "\r\n\r\n", limits);
  CHECK(big.result == error(431));
  // Too large is known before the head ends.
  Parsed cut = parse("GET / HTTP/1.1\r\nX: " + std::string(300, 'v'), limits);
  CHECK(cut.result == error(431));
}

// ---------------------------------------------------------------- [head-rules]

TEST_CASE("the target splits into path and query; absolute-form names the host", "[head-rules]") {
  Parsed p = parse("GET /docs/a%20b.html?x=1&y=2 HTTP/1.1\r\nHost: example\r\n\r\n");
  CHECK(p.result == done(p.bytes.size()));
  CHECK(p.request.path == "/docs/a%20b.html");  // still percent-encoded
  CHECK(p.request.query == "x=1&y=2");

  Parsed absolute = parse("GET http://other.example/p?q HTTP/1.1\r\nHost: example\r\n\r\n");
  CHECK(absolute.result == done(absolute.bytes.size()));
  CHECK(absolute.request.host == "other.example");
  CHECK(absolute.request.path == "/p");
  CHECK(absolute.request.query == "q");

  Parsed star = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(star.result == done(star.bytes.size()));
  CHECK(parse("GET * HTTP/1.1\r\nHost: h\r\n\r\n").result == error(400));
}

TEST_CASE("Host: exactly one on HTTP/1.1, none needed on 1.0", "[head-rules]") {
  CHECK(parse("GET / HTTP/1.1\r\n\r\n").result == error(400));
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").result == error(400));
  CHECK(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n").result == error(400));  // not a host name
  Parsed old = parse("GET / HTTP/1.0\r\n\r\n");
  CHECK(old.result == done(old.bytes.size()));
}

TEST_CASE("body framing: one Content-Length, or chunked alone", "[head-rules]") {
  ParseLimits limits;
  limits.max_body = 100;
  Parsed chunked = parse("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  CHECK(chunked.result == done(chunked.bytes.size()));
  CHECK(chunked.request.chunked);
  CHECK_FALSE(chunked.request.content_length.has_value());

  struct Case {
    const char* fields;
    int status;
  };
  const Case cases[] = {
      {"Content-Length: 1\r\nContent-Length: 2\r\n", 400},           // two different lengths
      {"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400},  // both: smuggling
      {"Content-Length: -1\r\n", 400},
      {"Transfer-Encoding: chunked, gzip\r\n", 400},  // chunked must come last
      {"Transfer-Encoding: gzip\r\n", 501},           // a coding we do not do
      {"Content-Length: 101\r\n", 413},               // over max_body
  };
  for (const Case& c : cases) {
    Parsed p = parse(std::string("POST / HTTP/1.1\r\nHost: h\r\n") + c.fields + "\r\n", limits);
    INFO("request: " << labcheck::escaped(p.bytes));
    CHECK(p.result == error(c.status));
  }
  Parsed at_limit = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n", limits);
  CHECK(at_limit.result == done(at_limit.bytes.size()));
  CHECK(at_limit.request.content_length == 100u);
  // HTTP/1.0 has no chunked coding.
  CHECK(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").result == error(400));
}

TEST_CASE("keep-alive: HTTP/1.1 unless Connection: close, HTTP/1.0 only when asked",
          "[head-rules]") {
  Parsed p11 = parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(p11.result == done(p11.bytes.size()));
  CHECK(p11.request.keep_alive);
  Parsed close11 = parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, close\r\n\r\n");
  CHECK(close11.result == done(close11.bytes.size()));
  CHECK_FALSE(close11.request.keep_alive);
  Parsed kept10 = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK(kept10.result == done(kept10.bytes.size()));
  CHECK(kept10.request.keep_alive);
  Parsed closed10 = parse("GET / HTTP/1.0\r\n\r\n");
  CHECK(closed10.result == done(closed10.bytes.size()));
  CHECK_FALSE(closed10.request.keep_alive);
}
