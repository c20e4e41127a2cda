// serverlab-passwd: prints one --auth-users line for a user, reading the
// password from standard input (so it never appears in argv or shell history).
//
//   $ serverlab-passwd alice >> users.txt
//   password: (typed; or piped: printf '%s\n' "$PW" | serverlab-passwd alice)
//   -> alice:pbkdf2-sha256:100000:<salt hex>:<hash hex>
//
// Usage: serverlab-passwd [--iterations N] NAME. Exit 2 on bad usage, 1 when
// no password could be read. See docs/MIDDLEWARE.md, "Auth".
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "serverlab/http/auth.hpp"

namespace {

int usage() {
  std::cerr << "usage: serverlab-passwd [--iterations N] NAME   (password on stdin)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t iterations = 100000;
  std::string name;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help") {
      std::cout << "usage: serverlab-passwd [--iterations N] NAME   (password on stdin)\n";
      return 0;
    }
    if (arg == "--iterations" && i + 1 < argc) {
      std::string_view v = argv[++i];
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), iterations);
      if (ec != std::errc() || end != v.data() + v.size() || iterations < 1000) return usage();
    } else if (name.empty() && !arg.empty() && arg[0] != '-' &&
               arg.find(':') == std::string_view::npos) {
      name = arg;
    } else {
      return usage();
    }
  }
  if (name.empty()) return usage();
  if (::isatty(0)) std::cerr << "password: " << std::flush;
  std::string password;
  if (!std::getline(std::cin, password) || password.empty()) {
    std::cerr << "serverlab-passwd: no password on standard input\n";
    return 1;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  std::cout << serverlab::http::make_user_line(name, password, iterations) << "\n";
  return 0;
}
