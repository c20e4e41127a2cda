#include "serverlab/fd.hpp"

#include <unistd.h>

namespace serverlab {

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace serverlab
