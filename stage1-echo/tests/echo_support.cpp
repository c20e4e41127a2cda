#include "echo_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace serverlab::testing {
namespace {

std::string sibling(const char* name) {
  char self[4096] = {};
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : std::string("./x");
  return dir.substr(0, dir.rfind('/') + 1) + name;
}

int status_of(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

}  // namespace

std::string echo_server_bin() { return binary_from_env("SERVERLAB_ECHO_SERVER", sibling("echo-server")); }
std::string echo_client_bin() { return binary_from_env("SERVERLAB_ECHO_CLIENT", sibling("echo-client")); }

std::unique_ptr<ServerProcess> start_echo(std::vector<std::string> flags) {
  std::vector<std::string> argv{echo_server_bin(), "--bind", "127.0.0.1", "--port", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return std::make_unique<ServerProcess>(argv);
}

ProgramResult run_program(const std::vector<std::string>& argv, std::string_view input,
                          std::chrono::milliseconds deadline, bool keep_stdin_open) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) < 0 || ::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0)
    throw std::runtime_error("pipe2 failed");
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);

  ProgramResult result;
  auto until = std::chrono::steady_clock::now() + deadline;
  int stdin_fd = in[1];
  std::size_t sent = 0;
  if (input.empty() && !keep_stdin_open) {
    ::close(stdin_fd);
    stdin_fd = -1;
  }
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd fds[3] = {{out_open ? out[0] : -1, POLLIN, 0},
                     {err_open ? err[0] : -1, POLLIN, 0},
                     {stdin_fd >= 0 && sent < input.size() ? stdin_fd : -1, POLLOUT, 0}};
    int n = ::poll(fds, 3, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(r));
      else (i == 0 ? out_open : err_open) = false;
    }
    if (fds[2].revents != 0) {
      ssize_t w = ::write(stdin_fd, input.data() + sent, input.size() - sent);
      if (w > 0) sent += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) sent = input.size();
      if (sent == input.size() && !keep_stdin_open) {
        ::close(stdin_fd);
        stdin_fd = -1;
      }
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  if (stdin_fd >= 0) ::close(stdin_fd);
  // Both output pipes are closed (or the deadline passed): reap, or kill on timeout.
  for (;;) {
    int raw = 0;
    pid_t r = ::waitpid(pid, &raw, WNOHANG);
    if (r == pid) {
      result.status = status_of(raw);
      return result;
    }
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &raw, 0);
      result.status = -1;
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
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
