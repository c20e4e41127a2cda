// sys_error.hpp: SysError, a std::system_error that names the failing syscall.
//
// Why: "bind: Address already in use" tells a student what broke; a bare errno
// does not. Setup code (listen, bind, socketpair, mmap, ...) throws SysError;
// per-connection I/O never throws, it returns an IoResult (see rio.hpp) so one
// bad client cannot unwind a server loop.
//
// Who may call: any thread, in setup code that may throw (main, a worker's start,
// a test's fixture). Never per-connection I/O, never a signal handler.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

namespace serverlab {

class SysError : public std::system_error {
 public:
  // what() reads "<call>: <strerror(err)>".
  explicit SysError(const std::string& call, int err = errno)
      : std::system_error(err, std::generic_category(), call) {}
  int error() const noexcept { return code().value(); }
};

// Throws SysError(call) when result is -1; returns result otherwise.
template <typename T>
T check_sys(T result, const char* call) {
  if (result == static_cast<T>(-1)) throw SysError(call);
  return result;
}

}  // namespace serverlab
