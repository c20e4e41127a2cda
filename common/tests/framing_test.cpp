// Length-prefixed framing: [4-byte big-endian length][payload].
#include "serverlab/framing.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "serverlab/fd.hpp"

namespace serverlab {
namespace {

struct Pair {
  Fd a, b;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
  // Writes bytes to a, then closes a: b reads them and then EOF.
  void feed_and_close(std::string_view bytes) {
    ASSERT_TRUE(write_n(a.get(), bytes).is_ok());
    a.reset();
  }
};

TEST(Framing, EncodesLengthBigEndianBeforePayload) {
  EXPECT_EQ(encode_frame("abc"), std::string("\0\0\0\3abc", 7));
  EXPECT_EQ(encode_frame(std::string(0x010203, 'x')).substr(0, 4), std::string("\0\1\2\3", 4));
  EXPECT_EQ(encode_frame(""), std::string(4, '\0'));
}

TEST(Framing, RoundTripsEveryByteValueAndEmptyFrames) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  Pair p;
  ASSERT_TRUE(write_frame(p.a.get(), all).is_ok());
  ASSERT_TRUE(write_frame(p.a.get(), "").is_ok());
  ASSERT_TRUE(write_frame(p.a.get(), "tail").is_ok());
  p.a.reset();
  BufferedReader in(p.b.get(), 16);  // tiny buffer: frames span many refills
  std::string payload = "garbage";
  EXPECT_EQ(read_frame(in, payload, 1024), FrameStatus::Frame);
  EXPECT_EQ(payload, all);
  EXPECT_EQ(read_frame(in, payload, 1024), FrameStatus::Frame);
  EXPECT_EQ(payload, "");
  EXPECT_EQ(read_frame(in, payload, 1024), FrameStatus::Frame);
  EXPECT_EQ(payload, "tail");
  EXPECT_EQ(read_frame(in, payload, 1024), FrameStatus::Eof);
  EXPECT_EQ(read_frame(in, payload, 1024), FrameStatus::Eof) << "EOF must be sticky, not a spin";
}

TEST(Framing, FrameAtTheLimitIsAcceptedOneByteMoreIsTooLarge) {
  Pair p;
  p.feed_and_close(encode_frame(std::string(8, 'a')) + encode_frame(std::string(9, 'b')));
  BufferedReader in(p.b.get());
  std::string payload;
  EXPECT_EQ(read_frame(in, payload, 8), FrameStatus::Frame);
  EXPECT_EQ(read_frame(in, payload, 8), FrameStatus::TooLarge);
  EXPECT_EQ(payload, "");
}

TEST(Framing, TooLargeIsDecidedFromTheHeaderAlone) {
  // Only the header is ever sent and the writer stays open: a reader that tried
  // to read (or allocate) the 4 GiB payload first would block or fail here.
  Pair p;
  ASSERT_TRUE(write_n(p.a.get(), std::string("\xff\xff\xff\xff", 4)).is_ok());
  BufferedReader in(p.b.get());
  std::string payload;
  EXPECT_EQ(read_frame(in, payload, 1 << 20), FrameStatus::TooLarge);
}

TEST(Framing, EofInsideTheHeaderIsTruncated) {
  Pair p;
  p.feed_and_close(std::string("\0\0", 2));
  BufferedReader in(p.b.get());
  std::string payload;
  EXPECT_EQ(read_frame(in, payload, 100), FrameStatus::Truncated);
}

TEST(Framing, EofInsideThePayloadIsTruncatedAndPayloadIsEmpty) {
  Pair p;
  p.feed_and_close(encode_frame("0123456789").substr(0, 9));
  BufferedReader in(p.b.get());
  std::string payload;
  EXPECT_EQ(read_frame(in, payload, 100), FrameStatus::Truncated);
  EXPECT_EQ(payload, "");
}

TEST(Framing, ReadErrorIsReportedAsError) {
  BufferedReader in(-1);  // read(2) on a bad descriptor fails with EBADF
  std::string payload;
  EXPECT_EQ(read_frame(in, payload, 100), FrameStatus::Error);
  EXPECT_EQ(in.error(), EBADF);
}

TEST(Framing, FrameSplitAcrossManyWritesIsReassembled) {
  Pair p;
  const std::string wire = encode_frame("reassembled from single bytes");
  std::thread writer([&] {
    for (char c : wire) {
      ASSERT_TRUE(write_n(p.a.get(), &c, 1).is_ok());
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  BufferedReader in(p.b.get());
  std::string payload;
  EXPECT_EQ(read_frame(in, payload, 100), FrameStatus::Frame);
  EXPECT_EQ(payload, "reassembled from single bytes");
  writer.join();
}

TEST(Framing, StatusNamesAreDistinct) {
  EXPECT_EQ(frame_status_name(FrameStatus::TooLarge), "too large");
  EXPECT_NE(frame_status_name(FrameStatus::Eof), frame_status_name(FrameStatus::Truncated));
}

}  // namespace
}  // namespace serverlab
