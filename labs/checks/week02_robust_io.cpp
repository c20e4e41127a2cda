// Lab 02 (week 2): robust I/O. Checks read_n, write_n, BufferedReader::read_line and
// read_frame through their public interface (serverlab/rio.hpp, serverlab/framing.hpp).
// Tags name the anchors: [read-n] [write-n] [read-line] [read-frame].
#include <fcntl.h>

#include <algorithm>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "lab_support.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/rio.hpp"

using serverlab::BufferedReader;
using serverlab::IoResult;

TEST_CASE("read_n gathers bytes that arrive in several pieces", "[read-n]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "hel");
  std::thread writer([fd = b.get()] {
    // A second piece after the reader has (probably) taken the first: read(2) returns
    // short counts and read_n must loop.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    labcheck::put(fd, "lo, world");
  });
  char buf[12] = {};
  IoResult r = serverlab::read_n(a.get(), buf, sizeof buf);
  writer.join();
  INFO("status " << static_cast<int>(r.status) << ", error " << r.error);
  CHECK(r.is_ok());
  CHECK(r.bytes == 12);
  CHECK(std::string(buf, 12) == "hello, world");
}

TEST_CASE("read_n reports EOF with the short count when the peer closes early", "[read-n]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "abc");
  b.reset();
  char buf[10];
  IoResult r = serverlab::read_n(a.get(), buf, sizeof buf);
  CHECK(r.is_eof());
  CHECK(r.bytes == 3);
  CHECK(std::string(buf, 3) == "abc");
}

TEST_CASE("read_n says would-block on an empty non-blocking descriptor", "[read-n]") {
  auto [a, b] = labcheck::stream_pair();
  ::fcntl(a.get(), F_SETFL, O_NONBLOCK);
  char buf[4];
  IoResult r = serverlab::read_n(a.get(), buf, sizeof buf);
  CHECK(r.status == IoResult::Status::WouldBlock);
  CHECK(r.bytes == 0);
}

TEST_CASE("write_n delivers a buffer larger than the socket buffer", "[write-n]") {
  auto [a, b] = labcheck::stream_pair();
  std::string big(2 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  std::string got;
  std::thread reader([&got, fd = b.get()] {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  });
  IoResult r = serverlab::write_n(a.get(), big.data(), big.size());
  a.reset();
  reader.join();
  CHECK(r.is_ok());
  CHECK(r.bytes == big.size());
  CHECK(got.size() == big.size());
  // The index of the first wrong byte, not two 2 MiB strings, when it fails.
  const auto wrong = std::mismatch(big.begin(), big.end(), got.begin(), got.end());
  CHECK(static_cast<std::size_t>(wrong.first - big.begin()) == big.size());
}

TEST_CASE("write_n to a closed peer is EPIPE, not a dead process", "[write-n]") {
  auto [a, b] = labcheck::stream_pair();
  b.reset();
  IoResult r = serverlab::write_n(a.get(), std::string_view("anyone there?"));
  CHECK(r.is_error());
  CHECK(r.error == EPIPE);
}

TEST_CASE("write_n works on a pipe, not only on sockets", "[write-n]") {
  auto [rd, wr] = labcheck::make_pipe();
  IoResult r = serverlab::write_n(wr.get(), std::string_view("through a pipe"));
  wr.reset();  // so the read below sees EOF, not a hang, if nothing was written
  CHECK(r.is_ok());
  CHECK(r.bytes == 14);
  char buf[32] = {};
  CHECK(::read(rd.get(), buf, sizeof buf) == 14);
  CHECK(std::string(buf, 14) == "through a pipe");
}

TEST_CASE("read_line returns lines split across reads, then the tail, then EOF",
          "[read-line]") {
  auto [a, b] = labcheck::stream_pair();
  std::thread writer([fd = b.get()] {
    labcheck::put(fd, "first li");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    labcheck::put(fd, "ne\nsecond\nno newline");
    ::shutdown(fd, SHUT_WR);
  });
  BufferedReader in(a.get(), 4);  // a tiny buffer: lines span several refills
  std::string line;
  CHECK(in.read_line(line, 100) == BufferedReader::LineStatus::Line);
  CHECK(labcheck::escaped(line) == "first line\\n");
  CHECK(in.read_line(line, 100) == BufferedReader::LineStatus::Line);
  CHECK(labcheck::escaped(line) == "second\\n");
  CHECK(in.read_line(line, 100) == BufferedReader::LineStatus::Partial);
  CHECK(line == "no newline");
  CHECK(in.read_line(line, 100) == BufferedReader::LineStatus::Eof);
  CHECK(line.empty());
  writer.join();
}

TEST_CASE("read_line says TooLong instead of truncating silently", "[read-line]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "0123456789abcdef\nok\n");
  BufferedReader in(a.get());
  std::string line;
  CHECK(in.read_line(line, 8) == BufferedReader::LineStatus::TooLong);
  CHECK(line == "01234567");
}

TEST_CASE("read_line leaves the bytes after the line for read_n", "[read-line]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "HEAD\r\nBODY");
  BufferedReader in(a.get());
  std::string line;
  REQUIRE(in.read_line(line, 64) == BufferedReader::LineStatus::Line);
  CHECK(labcheck::escaped(line) == "HEAD\\r\\n");
  char body[4];
  CHECK(in.read_n(body, 4).is_ok());
  CHECK(std::string(body, 4) == "BODY");
}

TEST_CASE("read_frame round-trips frames, including an empty and a binary one",
          "[read-frame]") {
  auto [a, b] = labcheck::stream_pair();
  const std::string binary("a\0b\r\n\xff", 6);
  labcheck::put(b.get(), serverlab::encode_frame("hello") + serverlab::encode_frame("") +
                             serverlab::encode_frame(binary));
  b.reset();
  BufferedReader in(a.get());
  std::string payload;
  CHECK(serverlab::read_frame(in, payload, 1024) == serverlab::FrameStatus::Frame);
  CHECK(payload == "hello");
  CHECK(serverlab::read_frame(in, payload, 1024) == serverlab::FrameStatus::Frame);
  CHECK(payload.empty());
  CHECK(serverlab::read_frame(in, payload, 1024) == serverlab::FrameStatus::Frame);
  CHECK(labcheck::escaped(payload) == labcheck::escaped(binary));
  CHECK(serverlab::read_frame(in, payload, 1024) == serverlab::FrameStatus::Eof);
}

TEST_CASE("read_frame tells a truncated frame from a clean EOF", "[read-frame]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), serverlab::encode_frame("complete").substr(0, 7));
  b.reset();
  BufferedReader in(a.get());
  std::string payload;
  CHECK(serverlab::read_frame(in, payload, 1024) == serverlab::FrameStatus::Truncated);
}

TEST_CASE("read_frame refuses a length over the limit before allocating", "[read-frame]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), std::string("\x7f\xff\xff\xff", 4));
  BufferedReader in(a.get());
  std::string payload;
  CHECK(serverlab::read_frame(in, payload, 1024) == serverlab::FrameStatus::TooLarge);
  CHECK(payload.capacity() < 1024);
}
