#include "temp_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace serverlab::testing {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error("TempDir: " + what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

TempDir::TempDir(std::string_view prefix) {
  std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) fail("mkdtemp", tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::path(std::string_view name) const { return path_ + "/" + std::string(name); }

std::string TempDir::write(std::string_view name, std::string_view bytes) const {
  std::string p = path(name);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(p).parent_path(), ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) fail("cannot write", p);
  return p;
}

std::string TempDir::mkdir(std::string_view name) const {
  std::string p = path(name);
  std::error_code ec;
  std::filesystem::create_directories(p, ec);
  if (ec) throw std::runtime_error("TempDir: mkdir " + p + ": " + ec.message());
  return p;
}

std::string TempDir::symlink(std::string_view target, std::string_view name) const {
  std::string p = path(name);
  if (::symlink(std::string(target).c_str(), p.c_str()) != 0) fail("symlink", p);
  return p;
}

void TempDir::set_mtime(std::string_view name, long seconds) const {
  std::string p = path(name);
  timespec times[2];
  times[0].tv_sec = seconds;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  if (::utimensat(AT_FDCWD, p.c_str(), times, 0) != 0) fail("utimensat", p);
}

}  // namespace serverlab::testing
