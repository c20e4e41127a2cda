// temp_dir.hpp: TempDir, a scratch directory (a document root, a log folder) for
// one test, removed with everything in it when the TempDir dies.
//
// Why: black-box tests start servers on files of known content; each test
// builds its tree here instead of carrying its own mkdtemp/ofstream/remove_all.
//
//   TempDir root("http-seq-test");          // /tmp/http-seq-test-XXXXXX
//   root.write("a.txt", "alpha\n");
//   root.mkdir("sub");
//   root.symlink("../outside", "link-out"); // link-out -> ../outside
//   ServerProcess s({bin, "--root", root.path(), ...});
//
// Names are relative to the directory ("sub/page.txt" is fine). Every setup
// function throws std::runtime_error naming the path when it fails, so a test
// never runs on a half-built tree; the destructor removes the tree and ignores
// errors.
//
// Who may call: test threads (a TempDir is not shared between threads without
// care). Functions block on the file system only briefly; none runs after fork.
#pragma once

#include <string>
#include <string_view>

namespace serverlab::testing {

class TempDir {
 public:
  // Makes /tmp/<prefix>-XXXXXX (mode 0700).
  explicit TempDir(std::string_view prefix = "serverlab-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name, without touching the file system.
  std::string path(std::string_view name) const;

  // Creates or truncates `name` (and its missing parent directories) with exactly
  // `bytes`; returns its path.
  std::string write(std::string_view name, std::string_view bytes) const;
  // Creates the directory `name` (and missing parents); returns its path.
  std::string mkdir(std::string_view name) const;
  // Creates the symbolic link `name` whose content is `target` (taken as is, so
  // a relative target is relative to the link's directory); returns its path.
  std::string symlink(std::string_view target, std::string_view name) const;
  // Sets the access and modification times of `name` to `seconds` since the epoch.
  void set_mtime(std::string_view name, long seconds) const;

 private:
  std::string path_;
};

}  // namespace serverlab::testing
