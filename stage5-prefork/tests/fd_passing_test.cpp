// Descriptor passing over a Unix socket: the descriptor arrives usable, its payload with it, and
// every odd case (no descriptor, truncated control data, too many, closed peer) is reported
// without leaking a descriptor.
#include "fd_passing.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "server_process.hpp"
#include "serverlab/fd.hpp"

namespace serverlab {
namespace {

using Status = RecvFdResult::Status;
using testing::escape_bytes;

// Open descriptors of this process (the directory iterator's own descriptor is counted every
// time, so before/after comparisons are fair).
int open_fd_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

struct Pipe {
  Fd read_end;
  Fd write_end;
};

Pipe make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2 failed";
  return {Fd(p[0]), Fd(p[1])};
}

std::string read_some(int fd) {
  std::array<char, 256> buf{};
  const ssize_t n = ::read(fd, buf.data(), buf.size());
  return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string();
}

const char* status_name(Status s) {
  switch (s) {
    case Status::Ok:
      return "Ok";
    case Status::NoFd:
      return "NoFd";
    case Status::Truncated:
      return "Truncated";
    case Status::TooManyFds:
      return "TooManyFds";
    case Status::Eof:
      return "Eof";
    case Status::WouldBlock:
      return "WouldBlock";
    case Status::Error:
      return "Error";
  }
  return "?";
}

TEST(FdPassing, DescriptorCrossesTheChannelAndStaysUsable) {
  auto [master, worker] = make_fd_channel();
  Pipe pipe = make_pipe();

  ASSERT_TRUE(send_fd(master.get(), pipe.write_end.get(), "x").is_ok());
  pipe.write_end.reset();  // the sender closes its copy; only the received one is left

  RecvFdResult got = recv_fd(worker.get());
  ASSERT_EQ(got.status, Status::Ok) << status_name(got.status);
  ASSERT_TRUE(got.fd.valid());

  const std::string message = "through the passed descriptor\n";
  ASSERT_EQ(::write(got.fd.get(), message.data(), message.size()),
            static_cast<ssize_t>(message.size()));
  const std::string seen = read_some(pipe.read_end.get());
  EXPECT_EQ(seen, message) << "read: " << escape_bytes(seen);

  // Once the received end is closed the pipe reports EOF: it really was the only writer left.
  got.fd.reset();
  EXPECT_EQ(read_some(pipe.read_end.get()), "");
}

TEST(FdPassing, ReceivedDescriptorIsCloseOnExec) {
  auto [master, worker] = make_fd_channel();
  Pipe pipe = make_pipe();
  ASSERT_EQ(::fcntl(pipe.write_end.get(), F_SETFD, 0), 0);  // the sent copy is NOT cloexec

  ASSERT_TRUE(send_fd(master.get(), pipe.write_end.get()).is_ok());
  RecvFdResult got = recv_fd(worker.get());
  ASSERT_EQ(got.status, Status::Ok) << status_name(got.status);
  const int flags = ::fcntl(got.fd.get(), F_GETFD);
  ASSERT_GE(flags, 0);
  EXPECT_NE(flags & FD_CLOEXEC, 0);
}

TEST(FdPassing, SocketEndCrossesAndCarriesTrafficBothWays) {
  auto [master, worker] = make_fd_channel();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd client(sv[0]);
  Fd server_side(sv[1]);

  ASSERT_TRUE(send_fd(master.get(), server_side.get(), "conn").is_ok());
  server_side.reset();
  RecvFdResult got = recv_fd(worker.get());
  ASSERT_EQ(got.status, Status::Ok) << status_name(got.status);

  ASSERT_EQ(::write(client.get(), "ping", 4), 4);
  EXPECT_EQ(read_some(got.fd.get()), "ping");
  ASSERT_EQ(::write(got.fd.get(), "pong", 4), 4);
  EXPECT_EQ(read_some(client.get()), "pong");
}

TEST(FdPassing, PayloadArrivesWithTheDescriptor) {
  auto [master, worker] = make_fd_channel();
  Pipe pipe = make_pipe();
  const std::string payload = std::string("slot=3 gen=7\0tail", 17);

  IoResult sent = send_fd(master.get(), pipe.read_end.get(), payload);
  ASSERT_TRUE(sent.is_ok());
  EXPECT_EQ(sent.bytes, payload.size());

  std::array<char, 64> buf{};
  RecvFdResult got = recv_fd(worker.get(), buf);
  ASSERT_EQ(got.status, Status::Ok) << status_name(got.status);
  EXPECT_FALSE(got.payload_truncated);
  const std::string seen(buf.data(), got.bytes);
  EXPECT_EQ(seen, payload) << "payload: " << escape_bytes(seen);
}

TEST(FdPassing, EmptyPayloadStillSendsOneByte) {
  auto [master, worker] = make_fd_channel();
  Pipe pipe = make_pipe();
  IoResult sent = send_fd(master.get(), pipe.read_end.get());
  ASSERT_TRUE(sent.is_ok());
  EXPECT_EQ(sent.bytes, 0u);  // none of the caller's bytes; the stand-in is not counted

  std::array<char, 8> buf{};
  RecvFdResult got = recv_fd(worker.get(), buf);
  ASSERT_EQ(got.status, Status::Ok) << status_name(got.status);
  ASSERT_EQ(got.bytes, 1u);
  EXPECT_EQ(buf[0], '\0');
}

TEST(FdPassing, MessageWithoutDescriptorIsReportedAsSuch) {
  auto [master, worker] = make_fd_channel();
  ASSERT_EQ(::send(master.get(), "hello", 5, MSG_NOSIGNAL), 5);

  std::array<char, 16> buf{};
  RecvFdResult got = recv_fd(worker.get(), buf);
  EXPECT_EQ(got.status, Status::NoFd) << status_name(got.status);
  EXPECT_FALSE(got.fd.valid());
  const std::string seen(buf.data(), got.bytes);
  EXPECT_EQ(seen, "hello") << "payload: " << escape_bytes(seen);
}

TEST(FdPassing, TruncatedControlMessageIsReportedAndLeaksNothing) {
  auto [master, worker] = make_fd_channel();
  const int before = open_fd_count();
  {
    Pipe a = make_pipe();
    Pipe b = make_pipe();
    // Three descriptors into room for one (on x86-64 room for one int also fits two): the
    // kernel delivers what fits, drops the rest, and sets MSG_CTRUNC.
    const std::array<int, 3> fds = {a.read_end.get(), a.write_end.get(), b.read_end.get()};
    ASSERT_TRUE(send_fds(master.get(), fds, "three").is_ok());
  }
  std::array<char, 16> buf{};
  RecvFdResult got = recv_fd(worker.get(), buf);
  EXPECT_EQ(got.status, Status::Truncated) << status_name(got.status);
  EXPECT_FALSE(got.fd.valid());
  EXPECT_EQ(std::string(buf.data(), got.bytes), "three");
  EXPECT_EQ(open_fd_count(), before) << "descriptors that arrived before the truncation leaked";
}

TEST(FdPassing, NoControlSpaceAtAllIsTruncatedAndLeaksNothing) {
  auto [master, worker] = make_fd_channel();
  const int before = open_fd_count();
  {
    Pipe pipe = make_pipe();
    ASSERT_TRUE(send_fd(master.get(), pipe.read_end.get(), "p").is_ok());
  }
  std::array<char, 4> buf{};
  RecvFdResult got = recv_fd(worker.get(), buf, 0);
  EXPECT_EQ(got.status, Status::Truncated) << status_name(got.status);
  EXPECT_FALSE(got.fd.valid());
  EXPECT_EQ(open_fd_count(), before);
}

TEST(FdPassing, RecvFdsTakesAWholeBatchInOrder) {
  auto [master, worker] = make_fd_channel();
  std::array<Pipe, 3> pipes = {make_pipe(), make_pipe(), make_pipe()};
  const std::array<int, 3> fds = {pipes[0].read_end.get(), pipes[1].read_end.get(),
                                  pipes[2].read_end.get()};
  ASSERT_TRUE(send_fds(master.get(), fds, "a\nb\nc").is_ok());
  for (Pipe& p : pipes) p.read_end.reset();  // only the worker's copies are left
  for (std::size_t i = 0; i < pipes.size(); ++i) {
    const std::string text = "pipe " + std::to_string(i);
    ASSERT_EQ(::write(pipes[i].write_end.get(), text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
  }
  std::array<char, 64> buf{};
  RecvFdsResult got = recv_fds(worker.get(), buf);
  ASSERT_EQ(got.status, Status::Ok) << status_name(got.status);
  ASSERT_EQ(got.count, 3u);
  EXPECT_EQ(std::string(buf.data(), got.bytes), "a\nb\nc");
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(read_some(got.fds[i].get()), "pipe " + std::to_string(i)) << "descriptor " << i;
    EXPECT_NE(::fcntl(got.fds[i].get(), F_GETFD) & FD_CLOEXEC, 0);
  }
  EXPECT_FALSE(got.fds[3].valid());
}

TEST(FdPassing, RecvFdsReportsNoFdWouldBlockAndEof) {
  auto [master, worker] = make_fd_channel(true);
  EXPECT_EQ(recv_fds(worker.get()).status, Status::WouldBlock);
  ASSERT_EQ(::send(master.get(), "x", 1, 0), 1);
  EXPECT_EQ(recv_fds(worker.get()).status, Status::NoFd);
  const int before = open_fd_count();
  {
    Pipe pipe = make_pipe();
    ASSERT_TRUE(send_fd(master.get(), pipe.read_end.get()).is_ok());
  }
  {
    RecvFdsResult one = recv_fds(worker.get());
    EXPECT_EQ(one.status, Status::Ok);
    EXPECT_EQ(one.count, 1u);
  }
  EXPECT_EQ(open_fd_count(), before) << "the result owns what it received";
  master.reset();
  EXPECT_EQ(recv_fds(worker.get()).status, Status::Eof);
}

TEST(FdPassing, TwoDescriptorsWhereOneIsExpectedAreRefusedAndClosed) {
  auto [master, worker] = make_fd_channel();
  const int before = open_fd_count();
  {
    Pipe pipe = make_pipe();
    const std::array<int, 2> fds = {pipe.read_end.get(), pipe.write_end.get()};
    ASSERT_TRUE(send_fds(master.get(), fds, "two").is_ok());
  }
  RecvFdResult got = recv_fd(worker.get());
  EXPECT_EQ(got.status, Status::TooManyFds) << status_name(got.status);
  EXPECT_FALSE(got.fd.valid());
  EXPECT_EQ(open_fd_count(), before);
}

TEST(FdPassing, ClosedPeerIsEof) {
  auto [master, worker] = make_fd_channel();
  master.reset();
  RecvFdResult got = recv_fd(worker.get());
  EXPECT_EQ(got.status, Status::Eof) << status_name(got.status);
  EXPECT_FALSE(got.fd.valid());
}

TEST(FdPassing, EmptyNonBlockingChannelWouldBlock) {
  auto [master, worker] = make_fd_channel(/*nonblocking=*/true);
  RecvFdResult got = recv_fd(worker.get());
  EXPECT_EQ(got.status, Status::WouldBlock) << status_name(got.status);
}

TEST(FdPassing, SendingToAClosedPeerIsEpipeNotASignal) {
  auto [master, worker] = make_fd_channel();
  Pipe pipe = make_pipe();
  worker.reset();
  // SIGPIPE is not ignored in this test process: without MSG_NOSIGNAL it would die here.
  IoResult sent = send_fd(master.get(), pipe.read_end.get(), "late");
  EXPECT_TRUE(sent.is_error());
  EXPECT_EQ(sent.error, EPIPE);
}

TEST(FdPassing, BadArgumentsAreRefusedBeforeAnySyscall) {
  auto [master, worker] = make_fd_channel(/*nonblocking=*/true);
  EXPECT_EQ(send_fd(master.get(), -1).error, EBADF);
  EXPECT_EQ(send_fds(master.get(), std::span<const int>{}).error, EINVAL);
  // Nothing was sent.
  EXPECT_EQ(recv_fd(worker.get()).status, Status::WouldBlock);
}

TEST(FdPassing, ErrorOnANonSocketIsReportedNotThrown) {
  Pipe pipe = make_pipe();
  RecvFdResult got = recv_fd(pipe.read_end.get());
  EXPECT_EQ(got.status, Status::Error) << status_name(got.status);
  EXPECT_EQ(got.error, ENOTSOCK);
}

TEST(FdPassing, ManyDescriptorsInSequenceDoNotLeak) {
  auto [master, worker] = make_fd_channel();
  const int before = open_fd_count();
  constexpr int kRounds = 300;
  for (int i = 0; i < kRounds; ++i) {
    Pipe pipe = make_pipe();
    const std::string tag = "round " + std::to_string(i);
    ASSERT_TRUE(send_fd(master.get(), pipe.write_end.get(), tag).is_ok()) << tag;
    pipe.write_end.reset();

    std::array<char, 32> buf{};
    RecvFdResult got = recv_fd(worker.get(), buf);
    ASSERT_EQ(got.status, Status::Ok) << tag << ": " << status_name(got.status);
    ASSERT_EQ(std::string(buf.data(), got.bytes), tag);
    ASSERT_EQ(::write(got.fd.get(), tag.data(), tag.size()), static_cast<ssize_t>(tag.size()));
    ASSERT_EQ(read_some(pipe.read_end.get()), tag);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(FdPassing, QueuedMessagesKeepTheirBoundaries) {
  // Several sends before any receive: each recv_fd gets exactly one message and its descriptor.
  auto [master, worker] = make_fd_channel();
  std::vector<Pipe> pipes;
  for (int i = 0; i < 4; ++i) {
    pipes.push_back(make_pipe());
    ASSERT_TRUE(send_fd(master.get(), pipes.back().write_end.get(), std::to_string(i)).is_ok());
  }
  for (int i = 0; i < 4; ++i) {
    std::array<char, 32> buf{};
    RecvFdResult got = recv_fd(worker.get(), buf);
    ASSERT_EQ(got.status, Status::Ok) << status_name(got.status);
    const std::string seen(buf.data(), got.bytes);
    EXPECT_EQ(seen, std::to_string(i)) << "payload: " << escape_bytes(seen);
    ASSERT_EQ(::write(got.fd.get(), "k", 1), 1);
    EXPECT_EQ(read_some(pipes[static_cast<std::size_t>(i)].read_end.get()), "k");
  }
}

}  // namespace
}  // namespace serverlab
