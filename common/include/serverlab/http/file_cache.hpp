// http/file_cache.hpp: FileCache, open descriptors of hot files (nginx's open_file_cache).
//
// Why: serving a file naively costs open + fstat + close per request, plus
// formatting its ETag and Last-Modified. The cache keeps, per path, an open
// descriptor and the precomputed header strings, so a hit costs a hash lookup
// under a mutex and nothing else; small files (<= inline_max) also keep their
// bytes so head and body leave in one writev.
//
//   lookup(path) --hit, fresh--------------------------------> entry
//        |        --hit, older than validity--> fstatat(path) --same inode/size/mtime--> entry
//        |                                                   \--changed/gone--> reopen
//        \--miss--> open_beneath(root, path) -> fstat -> insert (evict LRU beyond max_entries)
//
// Freshness: an entry is trusted for `validity` seconds (default 1), then
// re-checked with one stat, so a changed file is never served stale for longer.
// Bound: at most max_entries entries, least recently used evicted first.
// Lifetime: entries are shared_ptr<const CachedFile>; a response in flight keeps
// its entry (and so its descriptor) alive even after eviction.
// Safety: every open goes through open_beneath(), which refuses (EXDEV) a file
// whose real path is outside the root, i.e. reached through a symlink that leaves it.
//
// Who may call: any thread (one mutex; opening and stat-ing happen outside it).
// lookup() blocks on file-system calls on a miss or revalidation.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "serverlab/fd.hpp"

namespace serverlab::http {

struct CachedFile {
  Fd fd;
  bool directory = false;
  std::uint64_t size = 0;
  std::time_t mtime = 0;
  dev_t dev = 0;
  ino_t ino = 0;
  std::int64_t mtime_ns = 0;       // for revalidation: a rewrite within one second still shows
  std::string etag;                // "\"<hex mtime>-<hex size>\"" (strong)
  std::string last_modified;       // IMF-fixdate of mtime
  std::string_view content_type;   // mime_type(path): a view into the static MIME table
  bool inlined = false;            // `bytes` holds the whole file
  std::string bytes;
};

// Opens `path` (relative to root_fd, no leading '/', "" for the root itself)
// read-only, close-on-exec, non-blocking (a FIFO cannot hang the server) and
// checks that its real path lies under root_real. Returns the descriptor, or an
// invalid Fd with `error` set: ENOENT/ENOTDIR (not there), EACCES (permissions,
// or not a regular file or directory), EXDEV (outside the root), ELOOP.
Fd open_beneath(int root_fd, const std::string& root_real, std::string_view path, int& error);

class FileCache {
 public:
  struct Options {
    std::size_t max_entries = 1024;  // 0 disables caching (every lookup opens)
    double validity = 1.0;           // seconds an entry is trusted without a stat
    std::size_t inline_max = 16 * 1024;
  };
  struct Result {
    std::shared_ptr<const CachedFile> file;  // null on error
    int error = 0;
  };
  struct Stats {
    std::uint64_t hits = 0, misses = 0, revalidations = 0, reopened = 0;
    std::size_t entries = 0;
  };

  // Opens the root; throws SysError when it is not an accessible directory.
  explicit FileCache(const std::string& root, Options options);
  explicit FileCache(const std::string& root) : FileCache(root, Options{}) {}

  Result lookup(std::string_view path);

  int root_fd() const { return root_.get(); }
  const std::string& root_real() const { return root_real_; }
  Stats stats() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Node {
    std::string key;
    std::shared_ptr<const CachedFile> file;
    Clock::time_point validated;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using List = std::list<Node>;

  std::shared_ptr<CachedFile> load(std::string_view path, int& error) const;
  bool still_valid(std::string_view path, const CachedFile& file) const;
  void insert(std::string_view path, std::shared_ptr<const CachedFile> file, Clock::time_point now);

  Fd root_;
  std::string root_real_;
  Options options_;
  mutable std::mutex mutex_;
  List lru_;  // front = most recently used
  std::unordered_map<std::string, List::iterator, Hash, std::equal_to<>> index_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, revalidations_{0}, reopened_{0};
};

}  // namespace serverlab::http
