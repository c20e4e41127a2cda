// Lab 02 (week 2): robust I/O. Checks read_n, write_n, BufferedReader::read_line and
// read_frame through their public interface (serverlab/rio.hpp, serverlab/framing.hpp).
// Tags name the anchors: [read-n] [write-n] [read-line] [read-frame].
//
// Results print by name (lab_support.hpp): "Error(EINTR) after 0 bytes", "TooLong",
// and a stub's marker result says "this is still the stub".
#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "lab_support.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/rio.hpp"

using serverlab::BufferedReader;
using serverlab::FrameStatus;
using serverlab::IoResult;
using LineStatus = serverlab::BufferedReader::LineStatus;
using Status = serverlab::IoResult::Status;
using namespace std::chrono_literals;

namespace {

// What a failed check under a signal should tell the student.
std::string after_signal(const char* call, const char* syscall, const IoResult& r) {
  std::string out = std::string(call) + " returned " + labcheck::describe(r);
  if (r.is_error() && r.error == EINTR)
    out += std::string(": a signal interrupted ") + syscall + " before any byte moved, and " +
           call + " gave up. EINTR is not an error: retry the call (a signal never loses " +
           "or invents a byte)";
  return out;
}

// Fills the pipe behind `wr` until one more byte would block; returns the bytes
// written. The descriptor is blocking again afterwards.
std::string fill_pipe(int wr) {
  const int flags = ::fcntl(wr, F_GETFL);
  ::fcntl(wr, F_SETFL, flags | O_NONBLOCK);
  std::string filler;
  for (std::size_t chunk : {std::size_t{65536}, std::size_t{1}}) {
    for (;;) {
      const std::string piece(chunk, static_cast<char>('a' + filler.size() % 26));
      ssize_t w = ::write(wr, piece.data(), piece.size());
      if (w <= 0) break;  // EAGAIN: full for writes of this size
      filler.append(piece, 0, static_cast<std::size_t>(w));
    }
  }
  ::fcntl(wr, F_SETFL, flags);
  return filler;
}

// Reads until EOF; gives up (returns what it has) when nothing comes for `quiet`.
std::string drain(int rd, std::chrono::milliseconds quiet) {
  std::string got;
  char buf[65536];
  for (;;) {
    pollfd p{rd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) break;  // silent: stop
    ssize_t n = ::read(rd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// A bytes pattern with no period shorter than it, so a lost or doubled piece shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + i / 251);
  return s;
}

// The index of the first byte where two strings differ (their common size if none).
std::size_t first_difference(const std::string& want, const std::string& got) {
  return static_cast<std::size_t>(
      std::mismatch(want.begin(), want.end(), got.begin(), got.end()).first - want.begin());
}

}  // namespace

TEST_CASE("read_n gathers bytes that arrive in several pieces", "[read-n]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "hel");
  std::thread writer([fd = b.get()] {
    // A second piece after the reader has (probably) taken the first: read(2) returns
    // short counts and read_n must loop.
    std::this_thread::sleep_for(20ms);
    labcheck::put(fd, "lo, world");
  });
  char buf[12] = {};
  IoResult r = serverlab::read_n(a.get(), buf, sizeof buf);
  writer.join();
  INFO("read_n returned " << labcheck::describe(r));
  REQUIRE(r.status == Status::Ok);
  CHECK(r.bytes == 12);
  CHECK(std::string(buf, 12) == "hello, world");
}

TEST_CASE("read_n reports EOF with the short count when the peer closes early", "[read-n]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "abc");
  b.reset();
  char buf[10];
  IoResult r = serverlab::read_n(a.get(), buf, sizeof buf);
  INFO("read_n returned " << labcheck::describe(r));
  REQUIRE(r.status == Status::Eof);
  CHECK(r.bytes == 3);
  CHECK(std::string(buf, 3) == "abc");
}

TEST_CASE("read_n says would-block on an empty non-blocking descriptor", "[read-n]") {
  auto [a, b] = labcheck::stream_pair();
  ::fcntl(a.get(), F_SETFL, O_NONBLOCK);
  char buf[4];
  IoResult r = serverlab::read_n(a.get(), buf, sizeof buf);
  INFO("read_n returned " << labcheck::describe(r));
  REQUIRE(r.status == Status::WouldBlock);
  CHECK(r.bytes == 0);
}

// The signal lands while read_n is asleep in read(2) on an empty socket. The handler is
// installed without SA_RESTART, so read(2) returns -1 with errno EINTR: read_n must
// call it again and still deliver the bytes that come afterwards.
TEST_CASE("read_n retries when a signal interrupts it before any byte arrives", "[read-n]") {
  labcheck::SignalCounter signals;
  auto [a, b] = labcheck::stream_pair();
  std::atomic<pid_t> tid{0};
  std::atomic<bool> returned{false};
  IoResult r;
  char buf[5] = {};
  std::thread reader([&, fd = a.get()] {
    tid = labcheck::current_tid();
    r = serverlab::read_n(fd, buf, sizeof buf);
    returned = true;
  });
  const bool waiting = labcheck::eventually(
      [&] { return returned || (tid != 0 && labcheck::blocked_in_kernel(tid)); });
  const bool blocked = waiting && !returned;
  int before = signals.count();
  if (blocked) {
    ::pthread_kill(reader.native_handle(), SIGUSR1);
    labcheck::eventually([&] { return signals.count() > before || returned; });
  }
  labcheck::put(b.get(), "hello");
  ::shutdown(b.get(), SHUT_WR);  // EOF after the data: a read_n that keeps reading ends
  reader.join();

  INFO(after_signal("read_n", "read(2)", r));
  if (!blocked) FAIL("read_n returned on an empty blocking socket before any byte was sent");
  REQUIRE(signals.count() > before);  // else the check proved nothing
  REQUIRE(r.status == Status::Ok);
  CHECK(r.bytes == 5);
  CHECK(std::string(buf, 5) == "hello");
}

TEST_CASE("write_n delivers a buffer larger than the socket buffer", "[write-n]") {
  auto [a, b] = labcheck::stream_pair();
  const std::string big = pattern(2 * 1024 * 1024);
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
  INFO("write_n returned " << labcheck::describe(r));
  REQUIRE(r.status == Status::Ok);
  CHECK(r.bytes == big.size());
  CHECK(got.size() == big.size());
  // The index of the first wrong byte, not two 2 MiB strings, when it fails.
  CHECK(first_difference(big, got) == big.size());
}

TEST_CASE("write_n to a closed peer is EPIPE, not a dead process", "[write-n]") {
  auto [a, b] = labcheck::stream_pair();
  b.reset();
  IoResult r = serverlab::write_n(a.get(), std::string_view("anyone there?"));
  INFO("write_n returned " << labcheck::describe(r));
  REQUIRE(r.status == Status::Error);
  CHECK(labcheck::Errno{r.error} == labcheck::Errno{EPIPE});
}

TEST_CASE("write_n works on a pipe, not only on sockets", "[write-n]") {
  auto [rd, wr] = labcheck::make_pipe();
  IoResult r = serverlab::write_n(wr.get(), std::string_view("through a pipe"));
  wr.reset();  // so the read below sees EOF, not a hang, if nothing was written
  INFO("write_n returned " << labcheck::describe(r));
  REQUIRE(r.status == Status::Ok);
  CHECK(r.bytes == 14);
  char buf[32] = {};
  CHECK(::read(rd.get(), buf, sizeof buf) == 14);
  CHECK(std::string(buf, 14) == "through a pipe");
}

// The pipe is full before write_n starts, so its first write(2) blocks with nothing
// moved; the signal then makes that write(2) return -1 with errno EINTR (not a short
// count). write_n must call it again; draining the pipe then lets it finish.
TEST_CASE("write_n retries when a signal interrupts it blocked on a full pipe", "[write-n]") {
  labcheck::SignalCounter signals;
  labcheck::IgnoreSigpipe no_sigpipe;  // a write_n that outlives the drain gets EPIPE
  auto [rd, wr_end] = labcheck::make_pipe();
  const std::string filler = fill_pipe(wr_end.get());
  REQUIRE(filler.size() > 0);
  const std::string more = pattern(3 * filler.size());  // more than the pipe ever holds

  std::atomic<pid_t> tid{0};
  std::atomic<bool> returned{false};
  IoResult r;
  std::thread writer([&, wr = std::move(wr_end)]() mutable {
    tid = labcheck::current_tid();
    r = serverlab::write_n(wr.get(), more);
    returned = true;
    wr.reset();  // EOF for the drain below
  });
  const bool waiting = labcheck::eventually(
      [&] { return returned || (tid != 0 && labcheck::blocked_in_kernel(tid)); });
  const bool blocked = waiting && !returned;
  int before = signals.count();
  if (blocked) {
    ::pthread_kill(writer.native_handle(), SIGUSR1);
    labcheck::eventually([&] { return signals.count() > before || returned; });
  }
  const std::string got = drain(rd.get(), 3000ms);
  rd.reset();  // a write_n still blocked now fails with EPIPE instead of hanging
  writer.join();

  INFO(after_signal("write_n", "write(2)", r));
  if (!blocked) FAIL("write_n returned at once on a full blocking pipe: it must wait for room");
  REQUIRE(signals.count() > before);  // else the check proved nothing
  REQUIRE(r.status == Status::Ok);
  CHECK(r.bytes == more.size());
  const std::string want = filler + more;
  CHECK(got.size() == want.size());
  CHECK(first_difference(want, got) == want.size());
}

TEST_CASE("read_line returns lines split across reads, then the tail, then EOF",
          "[read-line]") {
  auto [a, b] = labcheck::stream_pair();
  std::thread writer([fd = b.get()] {
    labcheck::put(fd, "first li");
    std::this_thread::sleep_for(20ms);
    labcheck::put(fd, "ne\nsecond\nno newline");
    ::shutdown(fd, SHUT_WR);
  });
  BufferedReader in(a.get(), 4);  // a tiny buffer: lines span several refills
  std::string line;
  CHECK(labcheck::read_line(in, line, 100) == LineStatus::Line);
  CHECK(labcheck::escaped(line) == "first line\\n");
  CHECK(labcheck::read_line(in, line, 100) == LineStatus::Line);
  CHECK(labcheck::escaped(line) == "second\\n");
  CHECK(labcheck::read_line(in, line, 100) == LineStatus::Partial);
  CHECK(line == "no newline");
  CHECK(labcheck::read_line(in, line, 100) == LineStatus::Eof);
  CHECK(line.empty());
  writer.join();
}

TEST_CASE("read_line says TooLong instead of truncating silently", "[read-line]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "0123456789abcdef\nok\n");
  BufferedReader in(a.get());
  std::string line;
  CHECK(labcheck::read_line(in, line, 8) == LineStatus::TooLong);
  CHECK(line == "01234567");  // the line's first max bytes, consumed
  CHECK(labcheck::read_line(in, line, 100) == LineStatus::Line);
  CHECK(labcheck::escaped(line) == "89abcdef\\n");  // the same line goes on from there
}

TEST_CASE("read_line's max counts the newline", "[read-line]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "1234567\n12345678\n");
  BufferedReader in(a.get(), 3);
  std::string line;
  INFO("a line of exactly max bytes, '\\n' included, fits; one byte more is TooLong");
  CHECK(labcheck::read_line(in, line, 8) == LineStatus::Line);
  CHECK(labcheck::escaped(line) == "1234567\\n");
  CHECK(labcheck::read_line(in, line, 8) == LineStatus::TooLong);
  CHECK(line == "12345678");
}

TEST_CASE("read_line leaves the bytes after the line for read_n", "[read-line]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), "HEAD\r\nBODY");
  BufferedReader in(a.get());
  std::string line;
  REQUIRE(labcheck::read_line(in, line, 64) == LineStatus::Line);
  CHECK(labcheck::escaped(line) == "HEAD\\r\\n");
  char body[4];
  IoResult r = in.read_n(body, 4);
  INFO("BufferedReader::read_n returned " << labcheck::describe(r));
  REQUIRE(r.status == Status::Ok);
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
  CHECK(labcheck::read_frame(in, payload, 1024) == FrameStatus::Frame);
  CHECK(payload == "hello");
  CHECK(labcheck::read_frame(in, payload, 1024) == FrameStatus::Frame);
  CHECK(payload.empty());
  CHECK(labcheck::read_frame(in, payload, 1024) == FrameStatus::Frame);
  CHECK(labcheck::escaped(payload) == labcheck::escaped(binary));
  CHECK(labcheck::read_frame(in, payload, 1024) == FrameStatus::Eof);
}

TEST_CASE("read_frame tells a truncated frame from a clean EOF", "[read-frame]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), serverlab::encode_frame("complete").substr(0, 7));
  b.reset();
  BufferedReader in(a.get());
  std::string payload;
  CHECK(labcheck::read_frame(in, payload, 1024) == FrameStatus::Truncated);
  CHECK(payload.empty());
}

TEST_CASE("read_frame refuses a length over the limit before allocating", "[read-frame]") {
  auto [a, b] = labcheck::stream_pair();
  labcheck::put(b.get(), std::string("\x7f\xff\xff\xff", 4));
  BufferedReader in(a.get());
  std::string payload;
  CHECK(labcheck::read_frame(in, payload, 1024) == FrameStatus::TooLarge);
  CHECK(payload.capacity() < 1024);
}
