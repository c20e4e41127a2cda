#include "serverlab/http/file_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fmt/format.h>

#include "serverlab/http/date.hpp"
#include "serverlab/http/mime.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::http {
namespace {

bool under(std::string_view real, std::string_view root) {
  if (root == "/") return true;
  return real == root || (real.starts_with(root) && real.size() > root.size() &&
                          real[root.size()] == '/');
}

// The real path of an open descriptor, through /proc (no race: it names the
// file we actually opened). Empty when /proc is not available.
std::string real_path_of(int fd) {
  char link[64];
  fmt::format_to_n(link, sizeof link - 1, "/proc/self/fd/{}", fd).out[0] = '\0';
  char target[PATH_MAX];
  ssize_t n = ::readlink(link, target, sizeof target);
  if (n <= 0 || n >= static_cast<ssize_t>(sizeof target)) return {};
  return std::string(target, static_cast<std::size_t>(n));
}

std::int64_t nanos(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

Fd open_beneath(int root_fd, const std::string& root_real, std::string_view path, int& error) {
  std::string relative = path.empty() ? std::string(".") : std::string(path);
  Fd fd(::openat(root_fd, relative.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    error = errno;
    return {};
  }
  std::string real = real_path_of(fd.get());
  if (real.empty()) {  // no /proc: resolve the name instead
    char resolved[PATH_MAX];
    std::string full = root_real + "/" + relative;
    if (::realpath(full.c_str(), resolved) == nullptr) {
      error = errno;
      return {};
    }
    real = resolved;
  }
  if (!under(real, root_real)) {
    error = EXDEV;
    return {};
  }
  error = 0;
  return fd;
}

FileCache::FileCache(const std::string& root, Options options) : options_(options) {
  root_ = Fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_) throw SysError("open " + root);
  char resolved[PATH_MAX];
  if (::realpath(root.c_str(), resolved) == nullptr) throw SysError("realpath " + root);
  root_real_ = resolved;
}

std::shared_ptr<CachedFile> FileCache::load(std::string_view path, int& error) const {
  Fd fd = open_beneath(root_.get(), root_real_, path, error);
  if (!fd) return nullptr;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    error = errno;
    return nullptr;
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    error = EACCES;  // FIFOs, devices, sockets are never served
    return nullptr;
  }
  auto file = std::make_shared<CachedFile>();
  file->directory = S_ISDIR(st.st_mode);
  file->size = file->directory ? 0 : static_cast<std::uint64_t>(st.st_size);
  file->mtime = st.st_mtim.tv_sec;
  file->mtime_ns = nanos(st.st_mtim);
  file->dev = st.st_dev;
  file->ino = st.st_ino;
  file->etag = fmt::format("\"{:x}-{:x}\"", static_cast<std::uint64_t>(file->mtime), file->size);
  file->last_modified = http_date(file->mtime);
  if (!file->directory) {
    file->content_type = mime_type(path);
    if (file->size <= options_.inline_max) {
      file->bytes.resize(static_cast<std::size_t>(file->size));
      std::size_t got = 0;
      while (got < file->bytes.size()) {
        ssize_t n = ::pread(fd.get(), file->bytes.data() + got, file->bytes.size() - got,
                            static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      file->inlined = got == file->bytes.size();
      if (!file->inlined) file->bytes.clear();
    }
  }
  file->fd = std::move(fd);
  return file;
}

bool FileCache::still_valid(std::string_view path, const CachedFile& file) const {
  // A NUL-terminated copy on the stack: revalidation runs on the serving path
  // (once per `validity` per entry) and should not allocate.
  char relative[PATH_MAX];
  if (path.size() >= sizeof relative) return false;  // reopen: that path reports the error
  if (path.empty()) path = ".";
  path.copy(relative, path.size());
  relative[path.size()] = '\0';
  struct stat st {};
  if (::fstatat(root_.get(), relative, &st, 0) != 0) return false;
  return st.st_dev == file.dev && st.st_ino == file.ino && nanos(st.st_mtim) == file.mtime_ns &&
         (file.directory || static_cast<std::uint64_t>(st.st_size) == file.size);
}

void FileCache::insert(std::string_view path, std::shared_ptr<const CachedFile> file,
                       Clock::time_point now) {
  // Caller holds mutex_.
  if (auto it = index_.find(path); it != index_.end()) {
    it->second->file = std::move(file);
    it->second->validated = now;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Node{std::string(path), std::move(file), now});
  index_.emplace(lru_.front().key, lru_.begin());
  while (lru_.size() > options_.max_entries) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

FileCache::Result FileCache::lookup(std::string_view path) {
  auto now = Clock::now();
  auto validity = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.validity));
  std::shared_ptr<const CachedFile> stale;
  if (options_.max_entries > 0) {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(path); it != index_.end()) {
      Node& node = *it->second;
      lru_.splice(lru_.begin(), lru_, it->second);
      if (now - node.validated < validity) {
        hits_.fetch_add(1, std::memory_order_relaxed);
        return {node.file, 0};
      }
      stale = node.file;
    }
  }
  if (stale) {  // revalidate outside the lock: one stat
    revalidations_.fetch_add(1, std::memory_order_relaxed);
    if (still_valid(path, *stale)) {
      std::lock_guard lock(mutex_);
      if (auto it = index_.find(path); it != index_.end() && it->second->file == stale)
        it->second->validated = now;
      hits_.fetch_add(1, std::memory_order_relaxed);
      return {stale, 0};
    }
    reopened_.fetch_add(1, std::memory_order_relaxed);
  } else {
    misses_.fetch_add(1, std::memory_order_relaxed);
  }
  int error = 0;
  std::shared_ptr<const CachedFile> file = load(path, error);
  std::lock_guard lock(mutex_);
  if (!file) {
    if (auto it = index_.find(path); it != index_.end()) {  // gone: forget it
      lru_.erase(it->second);
      index_.erase(it);
    }
    return {nullptr, error};
  }
  if (options_.max_entries > 0) insert(path, file, now);
  return {file, 0};
}

FileCache::Stats FileCache::stats() const {
  Stats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.revalidations = revalidations_.load(std::memory_order_relaxed);
  s.reopened = reopened_.load(std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  s.entries = lru_.size();
  return s;
}

}  // namespace serverlab::http
