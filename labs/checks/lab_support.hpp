// lab_support.hpp: small helpers for the lab checks (Catch2), so each check reads
// as the behaviour it states and a failed check says what went wrong in words.
//
// What is here:
//  - names, not numbers, in failure messages: StringMaker specialisations print
//    IoResult ("Error(EINTR) after 0 bytes"), its Status, BufferedReader::LineStatus
//    and FrameStatus by name, and labcheck::Errno prints an errno as "EPIPE";
//  - the stub's marker: a result only a stub gives (ENOSYS from fd passing;
//    LineStatus/FrameStatus::Error with nothing read; rio's read_n/write_n stubs are
//    the naive one-call versions instead, and fail with a short count or EINTR) prints "this is still the stub";
//  - setup helpers: socket pairs, pipes, temporary directories, a SIGUSR1 handler
//    installed WITHOUT SA_RESTART (so a blocked call really fails with EINTR), and a
//    way to wait, with a bound, until another thread is asleep in the kernel.
//
// Any week's check may use all of it (weeks 03 and 14-16 add their own types' names in
// the same way: a StringMaker next to the ones below).
//
// Who may call: the lab check executables only, on their main thread unless a helper
// says otherwise. Everything here is setup code: it throws std::runtime_error on
// failure (Catch2 reports it).
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>

#include "serverlab/fd.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/rio.hpp"

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

// The words a failed check prints when a result is one only a stub gives.
inline constexpr std::string_view kStillTheStub = "this is still the stub";

// "EINTR", "ENOSYS", ...: the symbolic name of an errno value; "0" for no error and
// "errno N" for a number the C library does not name.
inline std::string errno_name(int err) {
  if (err == 0) return "0";
  if (const char* name = ::strerrorname_np(err)) return name;
  return "errno " + std::to_string(err);
}

// An errno value that prints by name in a failed check:
//   CHECK(labcheck::Errno{r.error} == labcheck::Errno{EPIPE})  fails as  "ENOSYS == EPIPE".
struct Errno {
  int value = 0;
  friend bool operator==(Errno, Errno) = default;
};

// ENOSYS ("function not implemented") is what the fd-passing stubs return:
// no reference code path ever produces it.
inline std::string describe(Errno e) {
  std::string out = errno_name(e.value);
  if (e.value == ENOSYS) out += std::string(" (") + std::string(kStillTheStub) + ")";
  return out;
}

inline std::string_view status_name(serverlab::IoResult::Status s) {
  using S = serverlab::IoResult::Status;
  switch (s) {
    case S::Ok: return "Ok";
    case S::Eof: return "Eof";
    case S::WouldBlock: return "WouldBlock";
    case S::Error: return "Error";
  }
  return "Status(?)";
}

// "Ok after 12 bytes", "Error(EPIPE) after 0 bytes", and for a stub's ENOSYS
// "Error(ENOSYS) after 0 bytes: this is still the stub".
inline std::string describe(const serverlab::IoResult& r) {
  std::string out(status_name(r.status));
  if (r.is_error()) out += "(" + errno_name(r.error) + ")";
  out += " after " + std::to_string(r.bytes) + (r.bytes == 1 ? " byte" : " bytes");
  if (r.is_error() && r.error == ENOSYS) out += std::string(": ") + std::string(kStillTheStub);
  return out;
}

inline std::string_view status_name(serverlab::BufferedReader::LineStatus s) {
  using L = serverlab::BufferedReader::LineStatus;
  switch (s) {
    case L::Line: return "Line";
    case L::Partial: return "Partial";
    case L::Eof: return "Eof";
    case L::TooLong: return "TooLong";
    case L::Error: return "Error";
  }
  return "LineStatus(?)";
}

inline std::string_view status_name(serverlab::FrameStatus s) {
  using F = serverlab::FrameStatus;
  switch (s) {
    case F::Frame: return "Frame";
    case F::Eof: return "Eof";
    case F::Truncated: return "Truncated";
    case F::TooLarge: return "TooLarge";
    case F::Error: return "Error";
  }
  return "FrameStatus(?)";
}

// A verdict of read_line or read_frame together with the reader's error(), so that a
// failed check can say why. The reference returns Error only after read(2) failed,
// which sets error(); Error with error() == 0 means nothing was read: the stub.
template <typename Status>
struct Verdict {
  Status status;
  int error = 0;
  friend bool operator==(const Verdict& v, Status s) { return v.status == s; }
};
using LineVerdict = Verdict<serverlab::BufferedReader::LineStatus>;
using FrameVerdict = Verdict<serverlab::FrameStatus>;

template <typename Status>
std::string describe(const Verdict<Status>& v) {
  std::string out(status_name(v.status));
  if (v.status != Status::Error) return out;
  if (v.error != 0) return out + "(" + errno_name(v.error) + ")";
  return out + " with error() 0, nothing read: " + std::string(kStillTheStub);
}

// in.read_line(line, max), as a verdict that prints "TooLong" or "Error(EBADF)":
//   CHECK(labcheck::read_line(in, line, 100) == LineStatus::Line)
inline LineVerdict read_line(serverlab::BufferedReader& in, std::string& line, std::size_t max) {
  const auto status = in.read_line(line, max);
  return {status, in.error()};
}

// serverlab::read_frame(in, payload, max), as a verdict (see read_line above).
inline FrameVerdict read_frame(serverlab::BufferedReader& in, std::string& payload,
                               std::uint32_t max) {
  const auto status = serverlab::read_frame(in, payload, max);
  return {status, in.error()};
}

}  // namespace labcheck

// Failed checks print these types by name ("Error == Line", not "4 == 0").
namespace Catch {
template <>
struct StringMaker<labcheck::Errno> {
  static std::string convert(labcheck::Errno e) { return labcheck::describe(e); }
};
template <>
struct StringMaker<serverlab::IoResult> {
  static std::string convert(const serverlab::IoResult& r) { return labcheck::describe(r); }
};
template <>
struct StringMaker<serverlab::IoResult::Status> {
  static std::string convert(serverlab::IoResult::Status s) {
    return std::string(labcheck::status_name(s));
  }
};
template <>
struct StringMaker<serverlab::BufferedReader::LineStatus> {
  static std::string convert(serverlab::BufferedReader::LineStatus s) {
    return std::string(labcheck::status_name(s));
  }
};
template <>
struct StringMaker<serverlab::FrameStatus> {
  static std::string convert(serverlab::FrameStatus s) {
    return std::string(labcheck::status_name(s));
  }
};
template <typename Status>
struct StringMaker<labcheck::Verdict<Status>> {
  static std::string convert(const labcheck::Verdict<Status>& v) { return labcheck::describe(v); }
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

// ---- signals and blocked threads ------------------------------------------------

// How many SIGUSR1s the handler of SignalCounter has run (async-signal-safe: lock-free).
inline std::atomic<int> g_sigusr1_count{0};
extern "C" inline void labcheck_count_sigusr1(int) { g_sigusr1_count.fetch_add(1); }

// While alive, SIGUSR1 runs a handler that only counts, installed WITHOUT SA_RESTART:
// a thread blocked in read(2) or write(2) that gets the signal before any byte moved
// returns -1 with errno EINTR (with SA_RESTART the kernel would retry for it, and a
// missing EINTR retry would go unseen). The old disposition comes back on destruction.
class SignalCounter {
 public:
  SignalCounter() {
    struct sigaction sa {};
    sa.sa_handler = labcheck_count_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART, on purpose
    if (::sigaction(SIGUSR1, &sa, &old_) != 0)
      throw std::runtime_error(std::string("sigaction: ") + std::strerror(errno));
  }
  ~SignalCounter() { ::sigaction(SIGUSR1, &old_, nullptr); }
  SignalCounter(const SignalCounter&) = delete;
  SignalCounter& operator=(const SignalCounter&) = delete;

  int count() const { return g_sigusr1_count.load(); }

 private:
  struct sigaction old_ {};
};

// While alive, writing to a pipe without a reader is EPIPE instead of a dead process.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() { old_ = ::signal(SIGPIPE, SIG_IGN); }
  ~IgnoreSigpipe() { ::signal(SIGPIPE, old_); }
  IgnoreSigpipe(const IgnoreSigpipe&) = delete;
  IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;

 private:
  sighandler_t old_ = SIG_DFL;
};

// The calling thread's kernel id (for blocked_in_kernel). Any thread may call.
inline pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// True when thread `tid` of this process is asleep in the kernel (state S in
// /proc/self/task/TID/stat): blocked in read, write, a condition variable's wait, ...
inline bool blocked_in_kernel(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');  // the name in (...) may contain spaces
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S';
}

// Polls pred every 5 ms until it is true (returns true) or `limit` has passed (false).
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace labcheck
