// lab_support.hpp: small helpers for the lab checks (Catch2), so each check reads
// as the behaviour it states.
//
// Who may call: the lab check executables only, on their main thread. Everything
// here is setup code: it throws std::runtime_error on failure (Catch2 reports it).
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <catch2/catch.hpp>

#include "serverlab/fd.hpp"

// Failed checks on optionals print "nullopt" or the value instead of "{?}".
namespace Catch {
template <typename T>
struct StringMaker<std::optional<T>> {
  static std::string convert(const std::optional<T>& value) {
    return value ? ::Catch::Detail::stringify(*value) : std::string("nullopt");
  }
};
template <>
struct StringMaker<std::nullopt_t> {
  static std::string convert(std::nullopt_t) { return "nullopt"; }
};
}  // namespace Catch

namespace labcheck {

// A connected pair of blocking stream sockets (both ends owned).
inline std::pair<serverlab::Fd, serverlab::Fd> stream_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  return {serverlab::Fd(sv[0]), serverlab::Fd(sv[1])};
}

// A pipe: first = read end, second = write end.
inline std::pair<serverlab::Fd, serverlab::Fd> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  return {serverlab::Fd(p[0]), serverlab::Fd(p[1])};
}

// Writes every byte or throws (test-side helper: never the code under test).
inline void put(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t w = ::write(fd, bytes.data(), bytes.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw std::runtime_error(std::string("write: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(w));
  }
}

// Shows control bytes, so a failing check prints "GET / HTTP/1.1\r\n" readably.
inline std::string escaped(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "serverlab-lab-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  void write(const std::string& relative, std::string_view content) const {
    std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  void mkdir(const std::string& relative) const {
    std::filesystem::create_directories(path_ / relative);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace labcheck
