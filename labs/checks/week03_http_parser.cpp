// Lab 03 (week 3): the HTTP request-head parser. Checks parse_request
// (serverlab/http/parser.hpp) through its public interface: bytes in, a Request
// and a verdict out. Tag: [parse-request].
#include <string>

#include <catch2/catch.hpp>

#include "lab_support.hpp"
#include "serverlab/http/parser.hpp"

using serverlab::http::Method;
using serverlab::http::parse_request;
using serverlab::http::ParseResult;
using serverlab::http::Request;

namespace {

struct Parsed {
  std::string bytes;  // the Request's views point into this
  Request request;
  ParseResult result;
};

Parsed parse(std::string bytes, const serverlab::http::ParseLimits& limits = {}) {
  Parsed p;
  p.bytes = std::move(bytes);
  p.result = parse_request(p.bytes, p.request, limits);
  return p;
}

}  // namespace

TEST_CASE("a simple GET parses into method, path, query and headers", "[parse-request]") {
  Parsed p = parse("GET /docs/a%20b.html?x=1&y=2 HTTP/1.1\r\nHost: example\r\n"
                   "User-Agent: lab\r\nAccept:  */*  \r\n\r\n");
  INFO(labcheck::escaped(p.bytes));
  REQUIRE(p.result.kind == ParseResult::Done);
  CHECK(p.result.consumed == p.bytes.size());
  CHECK(p.request.method == Method::Get);
  CHECK(p.request.method_token == "GET");
  CHECK(p.request.target == "/docs/a%20b.html?x=1&y=2");
  CHECK(p.request.path == "/docs/a%20b.html");
  CHECK(p.request.query == "x=1&y=2");
  CHECK(p.request.version_minor == 1);
  CHECK(p.request.host == "example");
  REQUIRE(p.request.headers.size() == 3);
  CHECK(p.request.header("user-agent") == "lab");
  CHECK(p.request.header("Accept") == "*/*");  // surrounding whitespace trimmed
  CHECK(p.request.keep_alive);
}

TEST_CASE("every proper prefix of a request is Incomplete", "[parse-request]") {
  const std::string full = "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  for (std::size_t n = 0; n < full.size(); ++n) {
    Parsed p = parse(full.substr(0, n));
    INFO("prefix: " << labcheck::escaped(p.bytes));
    CHECK(p.result.kind == ParseResult::Incomplete);
  }
  Parsed p = parse(full + "hello");
  REQUIRE(p.result.kind == ParseResult::Done);
  CHECK(p.result.consumed == full.size());  // the body is not part of the head
  CHECK(p.request.method == Method::Post);
  CHECK(p.request.content_length == 5u);
}

TEST_CASE("HTTP/1.0 closes by default and keeps alive only when asked", "[parse-request]") {
  Parsed closed = parse("GET / HTTP/1.0\r\n\r\n");
  REQUIRE(closed.result.kind == ParseResult::Done);
  CHECK(closed.request.version_minor == 0);
  CHECK_FALSE(closed.request.keep_alive);
  Parsed kept = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(kept.result.kind == ParseResult::Done);
  CHECK(kept.request.keep_alive);
  Parsed close11 = parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  REQUIRE(close11.result.kind == ParseResult::Done);
  CHECK_FALSE(close11.request.keep_alive);
}

TEST_CASE("malformed heads get the status the contract names", "[parse-request]") {
  struct Case {
    const char* bytes;
    int status;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", 400},                            // no Host on 1.1
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},      // two Hosts
      {"GET /\r\nHost: h\r\n\r\n", 400},                          // no version
      {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},                 // unsupported version
      {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},                // space before the colon
      {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},      // obs-fold
      {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},           // bare CR
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
       "Transfer-Encoding: chunked\r\n\r\n", 400},                // CL + TE: smuggling
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
  };
  for (const Case& c : cases) {
    Parsed p = parse(c.bytes);
    INFO("request: " << labcheck::escaped(p.bytes));
    CHECK(p.result.kind == ParseResult::Error);
    CHECK(p.result.status == c.status);
  }
}

TEST_CASE("limits: long request line 414, too many or too big headers 431, body 413",
          "[parse-request]") {
  serverlab::http::ParseLimits limits;
  limits.max_request_line = 64;
  limits.max_headers = 3;
  limits.max_header_bytes = 256;
  limits.max_body = 100;

  Parsed long_line = parse("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n",
                           limits);
  CHECK(long_line.result.kind == ParseResult::Error);
  CHECK(long_line.result.status == 414);

  Parsed many = parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits);
  CHECK(many.result.kind == ParseResult::Error);
  CHECK(many.result.status == 431);

  Parsed big = parse("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(300, 'v') + "\r\n\r\n",
                     limits);
  CHECK(big.result.kind == ParseResult::Error);
  CHECK(big.result.status == 431);

  Parsed body = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", limits);
  CHECK(body.result.kind == ParseResult::Error);
  CHECK(body.result.status == 413);
}

TEST_CASE("chunked requests and pipelined heads", "[parse-request]") {
  const std::string first = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  Parsed p = parse(first + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(p.result.kind == ParseResult::Done);
  CHECK(p.result.consumed == first.size());
  CHECK(p.request.chunked);
  CHECK_FALSE(p.request.content_length.has_value());
}
