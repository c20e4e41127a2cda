// Fd: exactly one owner per descriptor, closed exactly once.
#include "serverlab/fd.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>

namespace serverlab {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

int open_devnull() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST(Fd, ClosesWhatItOwnsWhenDestroyed) {
  int raw = open_devnull();
  ASSERT_GE(raw, 0);
  { Fd fd(raw); EXPECT_TRUE(is_open(raw)); }
  EXPECT_FALSE(is_open(raw));
}

TEST(Fd, DefaultIsInvalidAndClosesNothing) {
  Fd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_FALSE(static_cast<bool>(fd));
  EXPECT_EQ(fd.get(), -1);
}

TEST(Fd, MoveTransfersOwnershipAndLeavesSourceEmpty) {
  int raw = open_devnull();
  Fd a(raw);
  Fd b(std::move(a));
  EXPECT_EQ(a.get(), -1);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(b.get(), raw);
  Fd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(Fd, MoveAssignClosesThePreviousDescriptor) {
  int first = open_devnull();
  int second = open_devnull();
  Fd a(first);
  a = Fd(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_TRUE(is_open(second));
}

TEST(Fd, SelfMoveAssignKeepsTheDescriptor) {
  int raw = open_devnull();
  Fd a(raw);
  Fd& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(Fd, ReleaseGivesUpOwnershipWithoutClosing) {
  int raw = open_devnull();
  int released = -1;
  { Fd fd(raw); released = fd.release(); EXPECT_FALSE(fd.valid()); }
  EXPECT_EQ(released, raw);
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(Fd, ResetClosesOldAndAdoptsNew) {
  int first = open_devnull();
  int second = open_devnull();
  Fd fd(first);
  fd.reset(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_EQ(fd.get(), second);
  fd.reset();
  EXPECT_FALSE(is_open(second));
  EXPECT_FALSE(fd.valid());
}

}  // namespace
}  // namespace serverlab
