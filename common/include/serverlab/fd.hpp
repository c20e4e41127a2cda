// fd.hpp: Fd, a unique owner of one file descriptor.
//
// Why: every socket, file, pipe and eventfd in serverlab has exactly one owner,
// and forgetting a close() is the commonest leak in server code. Fd closes what
// it owns when it dies, can be moved but never copied, and never throws.
//
// Who may call: anyone. An Fd is not thread-safe by itself; share the number
// (get()) with other threads only while the owner is known to outlive them.
#pragma once

#include <utility>

namespace serverlab {

class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  ~Fd() { reset(); }

  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership: the caller must close the returned descriptor.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  // Closes what is owned (errors from close are ignored: on Linux the
  // descriptor is gone either way, and retrying after EINTR is a bug).
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

}  // namespace serverlab
