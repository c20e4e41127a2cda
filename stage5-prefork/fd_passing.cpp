#include "fd_passing.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "serverlab/sys_error.hpp"

namespace serverlab {

namespace {

// An ancillary-data buffer with cmsghdr's alignment, big enough for kMaxFdsPerMessage ints.
// The union is the portable way to get the alignment CMSG_FIRSTHDR assumes.
union ControlBuffer {
  cmsghdr align;
  char bytes[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
};

// Hands the descriptors carried by SCM_RIGHTS records in `msg` to `out`, in order, and
// returns how many it handed over. Any that do not fit in `out` are closed (an empty `out`
// closes them all: what EOF and MSG_CTRUNC need), so none leaks.
std::size_t take_rights(msghdr& msg, std::span<Fd> out) {
  std::size_t count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t data_len = c->cmsg_len - CMSG_LEN(0);
    const unsigned char* data = CMSG_DATA(c);
    for (std::size_t i = 0; i + sizeof(int) <= data_len; i += sizeof(int)) {
      int fd = -1;
      std::memcpy(&fd, data + i, sizeof fd);  // CMSG_DATA may be unaligned for int
      if (count < out.size()) {
        out[count++].reset(fd);
      } else {
        ::close(fd);
      }
    }
  }
  return count;
}

}  // namespace

std::pair<Fd, Fd> make_fd_channel(bool nonblocking) {
  int type = SOCK_SEQPACKET | SOCK_CLOEXEC;
  if (nonblocking) type |= SOCK_NONBLOCK;
  int sv[2];
  check_sys(::socketpair(AF_UNIX, type, 0, sv), "socketpair");
  return {Fd(sv[0]), Fd(sv[1])};
}

IoResult send_fd(int channel, int fd, std::string_view payload) {
  const int fds[1] = {fd};
  return send_fds(channel, fds, payload);
}

IoResult send_fds(int channel, std::span<const int> fds, std::string_view payload) {
  // [lab14:send-fd:begin]
  // [lab14:send-fd:stub] (void)channel;
  // [lab14:send-fd:stub] (void)fds;
  // [lab14:send-fd:stub] (void)payload;
  // [lab14:send-fd:stub] return IoResult::fail(ENOSYS);
  if (fds.empty() || fds.size() > kMaxFdsPerMessage) return IoResult::fail(EINVAL);
  for (int fd : fds) {
    if (fd < 0) return IoResult::fail(EBADF);
  }

  // Never send a message with only ancillary data: one NUL byte stands in for "no payload".
  char nul = '\0';
  iovec iov{};
  iov.iov_base = payload.empty() ? &nul : const_cast<char*>(payload.data());
  iov.iov_len = payload.empty() ? 1 : payload.size();

  ControlBuffer control;
  std::memset(&control, 0, sizeof control);
  const std::size_t data_len = sizeof(int) * fds.size();

  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = CMSG_SPACE(data_len);

  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(data_len);
  std::memcpy(CMSG_DATA(c), fds.data(), data_len);

  for (;;) {
    const ssize_t n = ::sendmsg(channel, &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      // The stand-in byte is not the caller's payload: report what the caller asked for.
      return IoResult::ok(payload.empty() ? 0 : static_cast<std::size_t>(n));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::would_block(0);
    return IoResult::fail(errno);
  }
  // [lab14:send-fd:end]
}

std::size_t recv_fd_default_control_space() { return CMSG_SPACE(sizeof(int)); }

std::size_t recv_fds_default_control_space() { return sizeof(ControlBuffer::bytes); }

RecvFdsResult recv_fds(int channel, std::span<char> payload, std::size_t control_space) {
  RecvFdsResult result;
  using Status = RecvFdsResult::Status;
  // [lab14:recv-fd:begin]
  // [lab14:recv-fd:stub] (void)channel;
  // [lab14:recv-fd:stub] (void)payload;
  // [lab14:recv-fd:stub] (void)control_space;
  // [lab14:recv-fd:stub] (void)take_rights;
  // [lab14:recv-fd:stub] result.status = Status::Error;
  // [lab14:recv-fd:stub] result.error = ENOSYS;
  char scratch = '\0';
  iovec iov{};
  iov.iov_base = payload.empty() ? &scratch : payload.data();
  iov.iov_len = payload.empty() ? 1 : payload.size();

  ControlBuffer control;
  std::memset(&control, 0, sizeof control);

  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = std::min(control_space, sizeof control.bytes);

  ssize_t n;
  do {
    n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);

  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      result.status = Status::WouldBlock;
    } else {
      result.status = Status::Error;
      result.error = errno;
    }
    return result;
  }
  if (n == 0) {
    // Our senders never send zero bytes, so zero means the peer is gone. A descriptor cannot
    // ride on EOF, but close anything the kernel handed over all the same.
    take_rights(msg, {});
    result.status = Status::Eof;
    return result;
  }

  result.bytes = payload.empty() ? 0 : static_cast<std::size_t>(n);
  result.payload_truncated = (msg.msg_flags & MSG_TRUNC) != 0;

  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    take_rights(msg, {});  // the ones that fit are ours: close them
    result.status = Status::Truncated;
    return result;
  }

  result.count = take_rights(msg, result.fds);
  result.status = result.count == 0 ? Status::NoFd : Status::Ok;
  // [lab14:recv-fd:end]
  return result;
}

RecvFdResult recv_fd(int channel, std::span<char> payload, std::size_t control_space) {
  RecvFdsResult batch = recv_fds(channel, payload, control_space);
  RecvFdResult result;
  result.status = batch.status;
  result.bytes = batch.bytes;
  result.payload_truncated = batch.payload_truncated;
  result.error = batch.error;
  if (batch.status == RecvFdsResult::Status::Ok) {
    if (batch.count == 1) {
      result.fd = std::move(batch.fds[0]);
    } else {
      result.status = RecvFdResult::Status::TooManyFds;  // batch closes them as it goes
    }
  }
  return result;
}

}  // namespace serverlab
