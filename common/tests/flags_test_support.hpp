// Helpers shared by the tests of Flags (flags_test.cpp) and of the config file
// (config_file_test.cpp): a command line built from words, and a throwaway file.
#pragma once

#include <unistd.h>

#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace serverlab::testing {

// argv from a list of words; argv[0] is the program name ("prog").
//   Args a{"--port", "80"};  flags.parse(a.argc(), a.argv());
class Args {
 public:
  Args(std::initializer_list<const char*> words) : Args(std::vector<const char*>(words)) {}
  explicit Args(std::vector<const char*> words) : words_(std::move(words)) {
    words_.insert(words_.begin(), "prog");
  }
  int argc() const { return static_cast<int>(words_.size()); }
  const char* const* argv() const { return words_.data(); }

 private:
  std::vector<const char*> words_;
};

// A file holding `text`, deleted when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/serverlab-flags-XXXXXX";
    int fd = ::mkstemp(tmpl);
    path_ = tmpl;
    ::close(fd);
    std::ofstream(path_) << text;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace serverlab::testing
