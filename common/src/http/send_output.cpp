#include "serverlab/http/send_output.hpp"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace serverlab::http {
namespace {
constexpr std::uint64_t kSendfileChunk = std::uint64_t{1} << 30;  // sendfile moves < 2 GiB per call
}  // namespace

SendStep send_output(int fd, HttpSession& session) {
  const HttpSession::Output out = session.output();
  for (;;) {
    ssize_t n;
    if (!out.bytes.empty()) {
      const int flags = MSG_NOSIGNAL | (out.file_length > 0 ? MSG_MORE : 0);
      n = ::send(fd, out.bytes.data(), out.bytes.size(), flags);
      if (n >= 0) {
        session.wrote(static_cast<std::size_t>(n));
        return SendStep::Progress;
      }
    } else {
      off_t offset = static_cast<off_t>(out.file_offset);
      const auto chunk = static_cast<std::size_t>(std::min(out.file_length, kSendfileChunk));
      n = ::sendfile(fd, out.file_fd, &offset, chunk);
      if (n > 0) {
        session.sent_file(static_cast<std::uint64_t>(n));
        return SendStep::Progress;
      }
      if (n == 0) return SendStep::Failed;  // the file shrank under us: the length was a lie
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return SendStep::Blocked;
    return SendStep::Failed;
  }
}

}  // namespace serverlab::http
