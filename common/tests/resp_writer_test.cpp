// Unit tests of the RESP2 reply writer (serverlab/resp/writer.hpp).
#include <gtest/gtest.h>

#include <string>

#include "serverlab/resp/writer.hpp"

namespace {

using namespace serverlab::resp;
using namespace std::string_literals;

TEST(RespWriter, EveryType) {
  std::string out;
  write_ok(out);
  write_simple(out, "PONG");
  write_error(out, "ERR syntax error");
  write_integer(out, -12);
  write_bulk(out, std::string("a\0b", 3));
  write_bulk(out, "");
  write_null(out);
  write_null_array(out);
  write_array_header(out, 3);
  EXPECT_EQ(out, "+OK\r\n+PONG\r\n-ERR syntax error\r\n:-12\r\n$3\r\na\0b\r\n"
                 "$0\r\n\r\n$-1\r\n*-1\r\n*3\r\n"s);
}

TEST(RespWriter, LineBreaksCannotSplitAReply) {
  std::string out;
  write_error(out, "ERR bad\r\n+OK");
  EXPECT_EQ(out, "-ERR bad  +OK\r\n");
}

TEST(RespWriter, DoublesAsRedisPrintsThem) {
  EXPECT_EQ(format_double(10.5L), "10.5");
  EXPECT_EQ(format_double(3.0L), "3");
  EXPECT_EQ(format_double(-0.0L), "0");
  EXPECT_EQ(format_double(1e20L), "100000000000000000000");
  EXPECT_EQ(format_double(0.1L + 0.2L), "0.3");
}

}  // namespace
