// fd_passing.hpp: hand an open descriptor to another process over a Unix socket (SCM_RIGHTS).
//
// Why: in stage 5 the master accepts a connection and gives it to a worker (UNP ch. 30, serv05;
// nginx's channel). A descriptor number means nothing in another process; only the kernel can
// install "the same open file" into the receiver's table, and it does so for a message that
// carries an SCM_RIGHTS control message next to its ordinary bytes.
//
// The story in a few lines:
//  - sendmsg(2) takes a normal payload (iovec) plus a control buffer. The control buffer holds
//    cmsghdr records; one of level SOL_SOCKET, type SCM_RIGHTS carries an array of ints.
//  - The buffer must be aligned for cmsghdr, sized with CMSG_SPACE(n) (header + data + padding),
//    and the record's cmsg_len set with CMSG_LEN(n) (header + data, no trailing padding).
//    The ints are memcpy'd into CMSG_DATA: it need not be aligned for int, so never cast-and-store.
//  - At least one byte of payload always travels: a message with only ancillary data is not
//    portable (and on SOCK_SEQPACKET a zero-length read is indistinguishable from EOF).
//  - The receiver's recvmsg(2) gets new descriptor numbers (MSG_CMSG_CLOEXEC makes them
//    close-on-exec atomically). If its control buffer is too small the kernel sets MSG_CTRUNC and
//    silently closes the descriptors that did not fit; the ones that did fit are now ours and
//    must be closed, or they leak.
//  - The sender still owns its copy and closes it after sending (the master must, or every
//    connection stays open forever in the master).
//
// Control buffer for one descriptor on x86-64 (CMSG_SPACE(sizeof(int)) == 24):
//
//   offset 0          8          12         16         20         24
//          +----------+----------+----------+----------+----------+
//          | cmsg_len | cmsg_lvl | cmsg_type| int fd   | padding  |
//          |  = 20    | SOL_SOCK | SCM_RIGHT|          |          |
//          +----------+----------+----------+----------+----------+
//          |<------ cmsghdr (16) ---------->|<- data ->|
//          |<---------------- CMSG_LEN(4) = 20 ------->|
//          |<---------------- CMSG_SPACE(4) = 24 ------------------>|
//
// send_fds and recv_fds are the week 14 lab. They carry a batch of descriptors in one message,
// which is how the master passes every connection it accepted in one wake-up to a worker with
// one sendmsg (one wake-up of that worker, one recvmsg). send_fd and recv_fd are the
// one-descriptor forms, written on top of them (a one-element batch).
//
// Who may call: any thread or process holding one end of the channel; the functions keep no
// state. They block only if the channel is blocking; they retry EINTR and never raise SIGPIPE.
// Nothing here allocates, so they are fine to use right after fork. None of them throw except
// make_fd_channel (setup code: SysError).
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "serverlab/fd.hpp"
#include "serverlab/rio.hpp"

namespace serverlab {

// Most descriptors one message may carry through send_fds (a sanity bound, not a kernel limit).
inline constexpr std::size_t kMaxFdsPerMessage = 16;

// A connected pair of Unix sockets for passing descriptors, both ends SOCK_CLOEXEC.
// SOCK_SEQPACKET keeps message boundaries: one recv_fd reads exactly one send_fd, so a payload
// never glues onto the next one the way it can on a byte stream. Throws SysError.
std::pair<Fd, Fd> make_fd_channel(bool nonblocking = false);

// Sends `fd` with `payload` (an empty payload is sent as one NUL byte). Returns ok(n) with the
// payload bytes sent (a short count is possible only on a non-blocking SOCK_STREAM channel; the
// descriptor went with the first byte), would_block(0) when a non-blocking channel is full,
// fail(EPIPE) when the receiver is gone, fail(EBADF) for a negative fd, fail(errno) otherwise.
// The caller still owns `fd` and should close its copy when the send succeeded.
IoResult send_fd(int channel, int fd, std::string_view payload = {});

// Same for 1..kMaxFdsPerMessage descriptors in one SCM_RIGHTS record (fail(EINVAL) otherwise).
IoResult send_fds(int channel, std::span<const int> fds, std::string_view payload = {});

struct RecvFdResult {
  enum class Status {
    Ok,          // one descriptor arrived (in fd) with `bytes` bytes of payload
    NoFd,        // a message arrived without a descriptor; its payload is in the buffer
    Truncated,   // MSG_CTRUNC: the control buffer was too small; descriptors that arrived were
                 // closed, so nothing leaks; the payload is still in the buffer
    TooManyFds,  // more than one descriptor arrived; all were closed
    Eof,         // the peer closed the channel
    WouldBlock,  // non-blocking channel with nothing to read
    Error,       // recvmsg failed; error holds errno
  };
  Status status = Status::Error;
  Fd fd;                           // owned, close-on-exec; valid only when status == Ok
  std::size_t bytes = 0;           // payload bytes stored in the caller's buffer
  bool payload_truncated = false;  // MSG_TRUNC: the message was longer than the buffer
  int error = 0;

  bool is_ok() const { return status == Status::Ok; }
};

// What recv_fds got: up to kMaxFdsPerMessage descriptors from one message.
struct RecvFdsResult {
  using Status = RecvFdResult::Status;  // Ok here means one or more; TooManyFds is never used
  Status status = Status::Error;
  std::array<Fd, kMaxFdsPerMessage> fds;  // owned, close-on-exec; the first `count` are valid
  std::size_t count = 0;
  std::size_t bytes = 0;  // payload bytes stored in the caller's buffer
  bool payload_truncated = false;
  int error = 0;

  bool is_ok() const { return status == Status::Ok; }
};

// Control space recv_fds uses by default: room for kMaxFdsPerMessage descriptors, the most
// send_fds sends.
std::size_t recv_fds_default_control_space();

// Receives one message carrying descriptors (what send_fds sends): the batch the master passes
// a worker in one sendmsg. Statuses as recv_fd's, except that Ok means `count` >= 1
// descriptors arrived and TooManyFds cannot happen (with the default control space anything
// beyond kMaxFdsPerMessage is Truncated, closed). `payload` and `control_space` as recv_fd's.
// Never throws, never leaks.
RecvFdsResult recv_fds(int channel, std::span<char> payload = {},
                       std::size_t control_space = recv_fds_default_control_space());

// Control space recv_fd uses by default: room for exactly one descriptor.
std::size_t recv_fd_default_control_space();

// Receives one message expecting one descriptor: recv_fds, then a batch of more than one is
// TooManyFds (all of them closed). `payload` receives the message bytes (when it is empty a
// one-byte scratch buffer is used and the byte is discarded); size it for the largest payload
// the sender uses. `control_space` (bytes, clamped to an internal aligned buffer) exists so
// tests can provoke MSG_CTRUNC; callers leave the default. Never throws, never leaks.
RecvFdResult recv_fd(int channel, std::span<char> payload = {},
                     std::size_t control_space = recv_fd_default_control_space());

}  // namespace serverlab
