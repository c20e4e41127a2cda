// Stage 1: the edges of each framing: empty frames, oversized frames and lines,
// truncated frames and unterminated lines at EOF.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "echo_support.hpp"
#include "serverlab/framing.hpp"

namespace serverlab::testing {
namespace {

// A header announcing `length` bytes, with no payload after it.
std::string header_only(std::uint32_t length) {
  return {static_cast<char>(length >> 24), static_cast<char>((length >> 16) & 0xff),
          static_cast<char>((length >> 8) & 0xff), static_cast<char>(length & 0xff)};
}

// The server still serves a fresh client after whatever the last one did.
void expect_still_serving(ServerProcess& server, const std::string& framing) {
  ASSERT_TRUE(server.running()) << server.stderr_text();
  Fd c = server.connect();
  const std::string m = framing == "length" ? encode_frame("still here") : "still here\n";
  ASSERT_TRUE(send_all(c.get(), m));
  EXPECT_EQ(escape_bytes(recv_exact(c.get(), m.size())), escape_bytes(m));
}

TEST(EchoFraming, ZeroLengthFrameIsValidAndEchoed) {
  auto server = start_echo({"--framing", "length"});
  Fd c = server->connect();
  const std::string frames = encode_frame("") + encode_frame("x") + encode_frame("");
  ASSERT_TRUE(send_all(c.get(), frames));
  EXPECT_EQ(escape_bytes(recv_exact(c.get(), frames.size())), escape_bytes(frames));
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoFraming, FrameOverMaxFrameIsLoggedAndConnectionClosed) {
  auto server = start_echo({"--framing", "length", "--max-frame", "16"});
  Fd c = server->connect();
  // A frame of exactly the limit is fine...
  const std::string ok = encode_frame(std::string(16, 'a'));
  ASSERT_TRUE(send_all(c.get(), ok));
  EXPECT_EQ(recv_exact(c.get(), ok.size()), ok);
  // ...one byte more closes the connection without an echo.
  ASSERT_TRUE(send_all(c.get(), encode_frame(std::string(17, 'b'))));
  const std::string after = recv_until_eof(c.get());
  EXPECT_EQ(after, "") << "got: " << escape_bytes(after);
  EXPECT_TRUE(eventually([&] { return server->stderr_text().find("max-frame") != std::string::npos; }))
      << server->stderr_text();
  expect_still_serving(*server, "length");
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoFraming, HugeAnnouncedLengthIsRejectedWithoutWaitingForPayload) {
  auto server = start_echo({"--framing", "length", "--max-frame", "1M"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), header_only(0xffffffffu)));  // 4 GiB announced, nothing sent
  EXPECT_TRUE(wait_for_eof(c.get())) << "server waited for a payload it should refuse";
  expect_still_serving(*server, "length");
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoFraming, TruncatedFrameAtEofIsNotEchoed) {
  auto server = start_echo({"--framing", "length"});
  Fd c = server->connect();
  const std::string whole = encode_frame("complete");
  const std::string cut = encode_frame("this frame never ends").substr(0, 10);
  ASSERT_TRUE(send_all(c.get(), whole + cut));
  ::shutdown(c.get(), SHUT_WR);
  const std::string got = recv_until_eof(c.get());
  EXPECT_EQ(escape_bytes(got), escape_bytes(whole));
  EXPECT_TRUE(eventually([&] { return server->stderr_text().find("truncated") != std::string::npos; }))
      << server->stderr_text();
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoFraming, TruncatedHeaderAtEofIsNotEchoed) {
  auto server = start_echo({"--framing", "length"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), std::string("\0\0", 2)));
  ::shutdown(c.get(), SHUT_WR);
  EXPECT_EQ(escape_bytes(recv_until_eof(c.get())), "");
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoFraming, LineModeEchoesOnlyWholeLinesUntilEof) {
  auto server = start_echo({"--framing", "line"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), "whole\npart"));
  EXPECT_EQ(recv_exact(c.get(), 6), "whole\n");
  // The tail is held back while the line is open...
  EXPECT_EQ(recv_exact(c.get(), 1, std::chrono::milliseconds(200)), "");
  // ...and echoed when EOF says it is complete.
  ::shutdown(c.get(), SHUT_WR);
  EXPECT_EQ(recv_until_eof(c.get()), "part");
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoFraming, OverlongLineIsRefusedNotTruncated) {
  auto server = start_echo({"--framing", "line", "--max-frame", "32"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), std::string(100, 'L') + "\n"));
  const std::string got = recv_until_eof(c.get());
  EXPECT_EQ(got, "") << "a silently truncated line came back: " << escape_bytes(got);
  EXPECT_TRUE(eventually([&] { return server->stderr_text().find("line longer") != std::string::npos; }))
      << server->stderr_text();
  expect_still_serving(*server, "line");
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoFraming, RawModeEchoesBytesWithoutWaitingForANewline) {
  auto server = start_echo({"--framing", "raw"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), "no newline"));
  EXPECT_EQ(recv_exact(c.get(), 10), "no newline");
  EXPECT_EQ(server->stop(), 0);
}

}  // namespace
}  // namespace serverlab::testing
