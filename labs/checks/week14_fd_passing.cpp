// Lab 14 (week 14): passing a descriptor between processes with SCM_RIGHTS
// (stage5-prefork/fd_passing.cpp). send_fd and recv_fd are checked separately: each
// one's partner in a check is written out by hand with sendmsg/recvmsg here, so a
// bug in one cannot hide behind the other. Tags: [send-fd] [recv-fd].
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "fd_passing.hpp"
#include "lab_support.hpp"

using serverlab::Fd;
using serverlab::RecvFdResult;

namespace {

// The receiving half, by hand: returns the payload and the one descriptor (or -1).
std::pair<std::string, int> raw_recv(int channel) {
  char data[64] = {};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{data, sizeof data};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return {"", -1};
  int fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  }
  return {std::string(data, static_cast<std::size_t>(n)), fd};
}

// The sending half, by hand: `fds` may be empty (a message with no descriptor).
void raw_send(int channel, std::string_view payload, std::initializer_list<int> fds) {
  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  if (fds.size() > 0) {
    const std::size_t len = sizeof(int) * fds.size();
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(len);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(len);
    std::memcpy(CMSG_DATA(c), std::data(fds), len);
  }
  if (::sendmsg(channel, &msg, 0) < 0) throw std::runtime_error("sendmsg failed");
}

// True when writing to `write_end` shows up on `read_end`: they are the same pipe.
bool same_pipe(int write_end, int read_end) {
  if (::write(write_end, "!", 1) != 1) return false;
  char c = 0;
  return ::read(read_end, &c, 1) == 1 && c == '!';
}

}  // namespace

TEST_CASE("send_fd sends the payload and a descriptor for the same open file", "[send-fd]") {
  auto [here, there] = serverlab::make_fd_channel();
  auto [rd, wr] = labcheck::make_pipe();
  serverlab::IoResult r = serverlab::send_fd(here.get(), wr.get(), "conn 7");
  REQUIRE(r.is_ok());
  CHECK(r.bytes == 6);
  auto [payload, fd] = raw_recv(there.get());
  Fd received(fd);
  CHECK(payload == "conn 7");
  REQUIRE(received.get() >= 0);
  CHECK(received.get() != wr.get());  // a new number for the same open file
  CHECK(same_pipe(received.get(), rd.get()));
}

TEST_CASE("send_fd with no payload still sends one byte and the descriptor", "[send-fd]") {
  auto [here, there] = serverlab::make_fd_channel();
  auto [rd, wr] = labcheck::make_pipe();
  serverlab::IoResult r = serverlab::send_fd(here.get(), wr.get());
  REQUIRE(r.is_ok());
  CHECK(r.bytes == 0);
  auto [payload, fd] = raw_recv(there.get());
  Fd received(fd);
  CHECK(payload.size() == 1);
  CHECK(same_pipe(received.get(), rd.get()));
}

TEST_CASE("send_fd reports errors as values", "[send-fd]") {
  auto [here, there] = serverlab::make_fd_channel();
  CHECK(serverlab::send_fd(here.get(), -1).error == EBADF);
  there.reset();
  auto [rd, wr] = labcheck::make_pipe();
  serverlab::IoResult r = serverlab::send_fd(here.get(), wr.get(), "x");
  CHECK(r.is_error());
  CHECK(r.error == EPIPE);  // and no SIGPIPE killed us
}

TEST_CASE("recv_fd receives the payload and a working descriptor", "[recv-fd]") {
  auto [here, there] = serverlab::make_fd_channel();
  auto [rd, wr] = labcheck::make_pipe();
  raw_send(here.get(), "hello", {wr.get()});
  std::array<char, 16> buf{};
  RecvFdResult r = serverlab::recv_fd(there.get(), buf);
  REQUIRE(r.status == RecvFdResult::Status::Ok);
  CHECK(r.bytes == 5);
  CHECK(std::string(buf.data(), r.bytes) == "hello");
  CHECK(same_pipe(r.fd.get(), rd.get()));
  CHECK((::fcntl(r.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("recv_fd tells a message without a descriptor, and EOF", "[recv-fd]") {
  auto [here, there] = serverlab::make_fd_channel();
  raw_send(here.get(), "plain", {});
  std::array<char, 16> buf{};
  RecvFdResult r = serverlab::recv_fd(there.get(), buf);
  CHECK(r.status == RecvFdResult::Status::NoFd);
  CHECK(r.bytes == 5);
  here.reset();
  CHECK(serverlab::recv_fd(there.get(), buf).status == RecvFdResult::Status::Eof);
}

TEST_CASE("recv_fd closes descriptors it cannot hand back, so none leak", "[recv-fd]") {
  auto [here, there] = serverlab::make_fd_channel();
  auto [rd, wr] = labcheck::make_pipe();
  raw_send(here.get(), "two", {wr.get(), wr.get()});
  wr.reset();  // now only the descriptors in flight hold the write end open
  ::fcntl(rd.get(), F_SETFL, O_NONBLOCK);  // a leak must fail the check, not hang it
  RecvFdResult r = serverlab::recv_fd(there.get());
  CHECK(r.status == RecvFdResult::Status::TooManyFds);
  // If every received copy was closed, the pipe has no writer left: read sees EOF
  // (a leaked copy makes it EAGAIN instead).
  char c;
  CHECK(::read(rd.get(), &c, 1) == 0);
}

TEST_CASE("a descriptor crosses fork: the child answers through it", "[send-fd][recv-fd]") {
  auto [parent_end, child_end] = serverlab::make_fd_channel();
  auto [rd, wr] = labcheck::make_pipe();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    parent_end.reset();
    wr.reset();
    RecvFdResult r = serverlab::recv_fd(child_end.get());
    int ok = r.is_ok() && ::write(r.fd.get(), "child", 5) == 5;
    ::_exit(ok ? 0 : 1);
  }
  child_end.reset();
  REQUIRE(serverlab::send_fd(parent_end.get(), wr.get()).is_ok());
  wr.reset();
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  char buf[8] = {};
  CHECK(::read(rd.get(), buf, sizeof buf) == 5);
}
