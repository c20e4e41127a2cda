// Lab 12 (week 12): making room in the connection Buffer (common/src/buffer.cpp,
// Buffer::ensure_writable). The stub always grows the vector; the lab is to reuse the
// space already read from the front before growing. Tag: [buffer-make-space].
#include <string>

#include <catch2/catch.hpp>

#include "lab_support.hpp"
#include "serverlab/buffer.hpp"

using serverlab::Buffer;

TEST_CASE("ensure_writable leaves at least n writable bytes and keeps the data",
          "[buffer-make-space]") {
  Buffer b(16);
  b.append("0123456789");
  b.ensure_writable(100);
  CHECK(b.writable_bytes() >= 100);
  CHECK(b.view() == "0123456789");
}

TEST_CASE("space already consumed at the front is reused instead of growing",
          "[buffer-make-space]") {
  Buffer b(64);
  const std::size_t capacity = b.capacity();
  b.append(std::string(60, 'a'));
  b.retrieve(50);  // 10 readable bytes left, 50 consumed bytes in front of them
  b.append("0123456789");
  REQUIRE(b.readable_bytes() == 20);
  b.ensure_writable(40);  // 4 writable at the back, but 50 free at the front
  CHECK(b.writable_bytes() >= 40);
  CHECK(b.capacity() == capacity);  // slid back, not grown
  CHECK(b.prependable_bytes() == Buffer::kPrepend);
  CHECK(b.view() == std::string(10, 'a') + "0123456789");
}

TEST_CASE("the cheap prepend area survives a slide", "[buffer-make-space]") {
  Buffer b(32);
  b.append(std::string(30, 'x'));
  b.retrieve(25);
  b.ensure_writable(20);
  REQUIRE(b.prependable_bytes() >= Buffer::kPrepend);
  const char len[4] = {0, 0, 0, 5};
  b.prepend(len, sizeof len);
  CHECK(b.readable_bytes() == 9);
  CHECK(labcheck::escaped(b.view()) == "\\x00\\x00\\x00\\x05xxxxx");
}

TEST_CASE("a long stream through a small buffer never grows it", "[buffer-make-space]") {
  Buffer b(128);
  const std::size_t capacity = b.capacity();
  std::string out;
  for (int i = 0; i < 1000; ++i) {
    b.append("line " + std::to_string(i) + "\n");
    if (b.readable_bytes() > 64) out += b.retrieve_as_string(b.readable_bytes());
  }
  out += b.retrieve_as_string(b.readable_bytes());
  CHECK(b.capacity() == capacity);
  CHECK(out.substr(0, 14) == "line 0\nline 1\n");
  CHECK(out.ends_with("line 999\n"));
}
