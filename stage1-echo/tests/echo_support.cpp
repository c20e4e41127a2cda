#include "echo_support.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace serverlab::testing {
namespace {

std::string sibling(const char* name) {
  char self[4096] = {};
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : std::string("./x");
  return dir.substr(0, dir.rfind('/') + 1) + name;
}

}  // namespace

std::string echo_server_bin() {
  return server_binary("SERVERLAB_ECHO_SERVER", sibling("echo-server"));
}
std::string echo_client_bin() {
  return client_binary("SERVERLAB_ECHO_CLIENT", sibling("echo-client"));
}

std::unique_ptr<ServerProcess> start_echo(std::vector<std::string> flags) {
  std::vector<std::string> argv{echo_server_bin(), "--bind", "127.0.0.1", "--port", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return std::make_unique<ServerProcess>(argv);
}

std::string all_byte_values() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

std::string pseudo_random_bytes(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed == 0 ? 1 : seed;
  for (auto& c : s) {  // xorshift32: cheap, deterministic, every byte value appears
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

std::string send_and_receive(int fd, const std::string& bytes, std::size_t expect,
                             std::chrono::milliseconds deadline) {
  bool sent_ok = true;
  std::thread sender([&] {
    sent_ok = send_all(fd, bytes);
    ::shutdown(fd, SHUT_WR);
  });
  std::string got = recv_exact(fd, expect, deadline);
  sender.join();
  return got;
}

}  // namespace serverlab::testing
