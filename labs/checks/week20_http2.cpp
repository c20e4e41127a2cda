// Lab 20 (week 20): the HTTP/2 frame header (common/src/http2/frame.cpp,
// parse_frame_header). Every HTTP/2 frame starts with 9 bytes: a 24-bit length, a type,
// flags, and a 31-bit stream id after one reserved bit, all big-endian. The stub finds no
// header at all. Tag: [frame-header].
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "serverlab/http/service.hpp"
#include "serverlab/http2/frame.hpp"
#include "serverlab/http2/session.hpp"

using namespace serverlab;
using http2::FrameHeader;
using http2::parse_frame_header;

namespace {
std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}
}  // namespace

TEST_CASE("a SETTINGS frame header from RFC 9113's layout", "[frame-header]") {
  auto h = parse_frame_header(bytes({0x00, 0x00, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00}));
  REQUIRE(h.has_value());
  CHECK(h->length == 18);
  CHECK(h->type == static_cast<std::uint8_t>(http2::FrameType::Settings));
  CHECK(h->flags == 0);
  CHECK(h->stream_id == 0);
}

TEST_CASE("all three length bytes count, most significant first", "[frame-header]") {
  auto h = parse_frame_header(bytes({0x01, 0x02, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05}));
  REQUIRE(h.has_value());
  CHECK(h->length == 0x010203);
  CHECK(h->type == 0);  // DATA
  CHECK(h->flags == http2::kFlagEndStream);
  CHECK(h->stream_id == 5);
}

TEST_CASE("bytes of 0x80 and above are not negative", "[frame-header]") {
  auto h = parse_frame_header(bytes({0xff, 0xff, 0xff, 0x09, 0xfc, 0x7f, 0xff, 0xff, 0xff}));
  REQUIRE(h.has_value());
  CHECK(h->length == 0xffffff);
  CHECK(h->type == 0x09);
  CHECK(h->flags == 0xfc);
  CHECK(h->stream_id == 0x7fffffff);
}

TEST_CASE("the reserved bit is not part of the stream id", "[frame-header]") {
  auto h = parse_frame_header(bytes({0x00, 0x00, 0x00, 0x01, 0x05, 0x80, 0x00, 0x00, 0x03}));
  REQUIRE(h.has_value());
  CHECK(h->stream_id == 3);
}

TEST_CASE("fewer than 9 bytes are not a header yet; more are left alone", "[frame-header]") {
  const std::string nine = bytes({0x00, 0x00, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x01});
  for (std::size_t n = 0; n < 9; ++n) CHECK_FALSE(parse_frame_header(nine.substr(0, n)));
  auto h = parse_frame_header(nine + "\x7f\xff\xff\xff");
  REQUIRE(h.has_value());
  CHECK(h->length == 4);
  CHECK(h->type == static_cast<std::uint8_t>(http2::FrameType::WindowUpdate));
  CHECK(h->stream_id == 1);
}

TEST_CASE("what append_frame_header writes, parse_frame_header reads back", "[frame-header]") {
  const std::vector<FrameHeader> cases = {
      {0, 0, 0, 0}, {16384, 1, 0x25, 1}, {0xffffff, 0xff, 0xff, 0x7fffffff}, {9, 7, 0, 0x12345678}};
  for (const FrameHeader& c : cases) {
    std::string wire;
    http2::append_frame_header(wire, c);
    auto h = parse_frame_header(wire);
    REQUIRE(h.has_value());
    CHECK(h->length == c.length);
    CHECK(h->type == c.type);
    CHECK(h->flags == c.flags);
    CHECK(h->stream_id == c.stream_id);
  }
}

TEST_CASE("the server's first frame reads as its SETTINGS", "[frame-header]") {
  http::HttpConfig config;
  config.root = ".";
  http::HttpService service(config);
  http2::Http2Session session(service, "127.0.0.1");
  const std::string_view out = session.output();
  auto h = parse_frame_header(out);
  REQUIRE(h.has_value());
  CHECK(h->type == static_cast<std::uint8_t>(http2::FrameType::Settings));
  CHECK(h->stream_id == 0);
  CHECK(h->length % 6 == 0);  // each setting is 6 bytes
  CHECK(out.size() >= http2::kFrameHeaderSize + h->length);
}
