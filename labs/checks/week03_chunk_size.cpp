// Lab 03 (week 3), the client's side of message framing: the size line of a chunked
// body, as http-get reads it (stage2-http-seq/http_fetch.cpp, parse_chunk_size). A
// chunked body is "SIZE-IN-HEX[;extensions]\r\n DATA \r\n" repeated, ending with a size
// of 0 (RFC 9112 7.1). Tag: [chunk-size]. The stub answers nullopt for everything.
#include <cstdint>
#include <optional>

#include <catch2/catch.hpp>

#include "http_fetch.hpp"
#include "lab_support.hpp"

using serverlab::fetch::parse_chunk_size;

TEST_CASE("a chunk size is hexadecimal, either case", "[chunk-size]") {
  CHECK(parse_chunk_size("1a") == std::optional<std::uint64_t>(26));
  CHECK(parse_chunk_size("1A") == std::optional<std::uint64_t>(26));
  CHECK(parse_chunk_size("10") == std::optional<std::uint64_t>(16));
  CHECK(parse_chunk_size("fffffff") == std::optional<std::uint64_t>(0xfffffff));
}

TEST_CASE("the last chunk has size 0", "[chunk-size]") {
  CHECK(parse_chunk_size("0") == std::optional<std::uint64_t>(0));
  CHECK(parse_chunk_size("000") == std::optional<std::uint64_t>(0));
}

TEST_CASE("chunk extensions after ';' are skipped, and blanks around the digits", "[chunk-size]") {
  CHECK(parse_chunk_size("5;name=value") == std::optional<std::uint64_t>(5));
  CHECK(parse_chunk_size("5 ; ext") == std::optional<std::uint64_t>(5));
  CHECK(parse_chunk_size(" 5\r") == std::optional<std::uint64_t>(5));
}

TEST_CASE("anything else is not a chunk size", "[chunk-size]") {
  CHECK_FALSE(parse_chunk_size(""));
  CHECK_FALSE(parse_chunk_size(";ext"));
  CHECK_FALSE(parse_chunk_size("zz"));
  CHECK_FALSE(parse_chunk_size("12g"));
  CHECK_FALSE(parse_chunk_size("-1"));
  CHECK_FALSE(parse_chunk_size("0x10"));
  CHECK(parse_chunk_size("ffffffffffffffff") == std::optional<std::uint64_t>(UINT64_MAX));
  CHECK_FALSE(parse_chunk_size("10000000000000000"));  // 2^64: too big to be a size
}
