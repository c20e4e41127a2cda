// Buffer: prependable | readable | writable, slide-before-grow, readv spill.
#include "serverlab/buffer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "serverlab/fd.hpp"

namespace serverlab {
namespace {

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST(Buffer, StartsEmptyWithPrependRoom) {
  Buffer b;
  EXPECT_EQ(b.readable_bytes(), 0u);
  EXPECT_EQ(b.prependable_bytes(), Buffer::kPrepend);
  EXPECT_EQ(b.writable_bytes(), Buffer::kInitialSize);
  EXPECT_TRUE(b.empty());
}

TEST(Buffer, AppendThenRetrieveIsFifo) {
  Buffer b;
  b.append("hello ");
  b.append("world");
  EXPECT_EQ(b.view(), "hello world");
  EXPECT_EQ(b.retrieve_as_string(6), "hello ");
  EXPECT_EQ(b.view(), "world");
  EXPECT_EQ(b.prependable_bytes(), Buffer::kPrepend + 6);
  b.retrieve(5);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.prependable_bytes(), Buffer::kPrepend) << "an emptied buffer restarts at the front";
}

TEST(Buffer, GrowsWhenTheWholeBufferIsTooSmall) {
  Buffer b(16);
  const std::string big = pattern(1000);
  b.append(big);
  EXPECT_EQ(b.view(), big);
  EXPECT_GE(b.writable_bytes() + b.readable_bytes(), 1000u);
}

TEST(Buffer, SlidesReadableBytesForwardInsteadOfGrowing) {
  Buffer b(64);
  b.append(pattern(60));
  b.retrieve(50);  // 10 readable at offset kPrepend+50; 4 writable
  const std::size_t capacity = b.capacity();
  b.append(pattern(40));  // fits once the 50 consumed bytes are reused
  EXPECT_EQ(b.capacity(), capacity) << "grew although sliding would have made room";
  EXPECT_EQ(b.prependable_bytes(), Buffer::kPrepend);
  EXPECT_EQ(b.view(), pattern(60).substr(50) + pattern(40));
}

TEST(Buffer, GrowsWhenSlidingIsNotEnough) {
  Buffer b(64);
  b.append(pattern(60));
  b.retrieve(10);
  b.append(pattern(100));
  EXPECT_GT(b.capacity(), 64 + Buffer::kPrepend);
  EXPECT_EQ(b.view(), pattern(60).substr(10) + pattern(100));
}

TEST(Buffer, PrependPutsBytesInFrontWithoutACopyOfTheRest) {
  Buffer b;
  b.append("payload");
  const char header[4] = {0, 0, 0, 7};
  b.prepend(header, sizeof header);
  EXPECT_EQ(b.view(), std::string("\0\0\0\7payload", 11));
  EXPECT_EQ(b.prependable_bytes(), Buffer::kPrepend - 4);
}

TEST(Buffer, ShrinkToFitKeepsContentAndReturnsMemory) {
  Buffer b;
  b.append(pattern(100000));
  b.retrieve(99990);
  b.shrink_to_fit();
  EXPECT_EQ(b.view(), pattern(100000).substr(99990));
  EXPECT_EQ(b.capacity(), Buffer::kPrepend + Buffer::kInitialSize);
}

TEST(Buffer, ReadFromTakesABurstLargerThanWritableSpaceInOneCall) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]), bfd(sv[1]);
  int big = 1 << 20;
  ::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  const std::string data = pattern(40000);
  ASSERT_TRUE(write_n(a.get(), data).is_ok());
  Buffer b(128);  // far smaller than the burst: the 64 KiB stack area takes the rest
  IoResult r = b.read_from(bfd.get());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.bytes, data.size()) << "one readv should take all of it";
  EXPECT_EQ(b.view(), data);
}

TEST(Buffer, ReadFromReportsEofAndWouldBlock) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  Fd a(sv[0]), bfd(sv[1]);
  Buffer b;
  EXPECT_EQ(b.read_from(bfd.get()).status, IoResult::Status::WouldBlock);
  a.reset();
  EXPECT_TRUE(b.read_from(bfd.get()).is_eof());
  EXPECT_TRUE(b.empty());
}

TEST(Buffer, WriteToConsumesOnlyWhatWasWritten) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  Fd a(sv[0]), bfd(sv[1]);
  int tiny = 4096;
  ::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
  Buffer b;
  const std::string data = pattern(1 << 20);
  b.append(data);
  IoResult r = b.write_to(a.get());
  ASSERT_TRUE(r.is_ok());
  EXPECT_GT(r.bytes, 0u);
  EXPECT_LT(r.bytes, data.size()) << "the tiny send buffer should force a partial write";
  EXPECT_EQ(b.readable_bytes(), data.size() - r.bytes);
  EXPECT_EQ(b.view(), std::string_view(data).substr(r.bytes));
  EXPECT_EQ(b.write_to(a.get()).status, IoResult::Status::WouldBlock);
}

TEST(Buffer, WriteToResetPeerIsAnErrorNotSigpipe) {
  EXPECT_EXIT(
      {
        ::signal(SIGPIPE, SIG_DFL);
        int sv[2];
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        ::close(sv[1]);
        Buffer b;
        b.append("x");
        IoResult r = b.write_to(sv[0]);
        std::exit(r.is_error() && r.error == EPIPE ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Buffer, ManyAppendsAndRetrievesKeepContentIntact) {
  Buffer b(32);
  std::string model;
  for (int i = 0; i < 2000; ++i) {
    std::string chunk = pattern(static_cast<std::size_t>(i % 97 + 1));
    b.append(chunk);
    model += chunk;
    std::size_t take = std::min<std::size_t>(static_cast<std::size_t>(i % 89), model.size());
    ASSERT_EQ(b.retrieve_as_string(take), model.substr(0, take)) << "step " << i;
    model.erase(0, take);
    ASSERT_EQ(b.view(), model) << "step " << i;
  }
}

}  // namespace
}  // namespace serverlab
