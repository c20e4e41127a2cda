#include "server_process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "serverlab/socket.hpp"

namespace serverlab::testing {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// serverlab::kLabStubExit (common/include/serverlab/lab_stub.hpp), without linking it.
constexpr int kLabStubExit = 70;

// Appends `path` to $SERVERLAB_STARTED_LOG, when set (one line per server started).
void record_started(const std::string& path) {
  const char* log = std::getenv("SERVERLAB_STARTED_LOG");
  if (log == nullptr || *log == '\0') return;
  std::ofstream out(log, std::ios::app);
  out << path << '\n';
}

// The "serverlab: [labNN:name] is still the stub: ..." lines of a server's stderr.
std::string stub_lines(const std::string& stderr_text) {
  std::istringstream in(stderr_text);
  std::string line, found;
  while (std::getline(in, line)) {
    if (line.starts_with("serverlab: [lab") && line.find("is still the stub") != std::string::npos)
      found += line + '\n';
  }
  return found;
}

}  // namespace

ServerProcess::ServerProcess(std::vector<std::string> argv, std::chrono::milliseconds start_deadline) {
  if (argv.empty()) throw std::runtime_error("ServerProcess: empty argv");
  char tmpl[] = "/tmp/serverlab-stderr-XXXXXX";
  int err_fd = ::mkostemp(tmpl, O_CLOEXEC);
  if (err_fd < 0) throw std::runtime_error("mkostemp failed");
  stderr_path_ = tmpl;

  int out[2];
  if (::pipe2(out, O_CLOEXEC) < 0) throw std::runtime_error("pipe2 failed");

  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  record_started(argv[0]);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Child: stdout -> pipe, stderr -> file; default signal mask and dispositions.
    ::dup2(out[1], 1);
    ::dup2(err_fd, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err_fd);
  stdout_.reset(out[0]);

  auto line = read_stdout_line(start_deadline);
  const std::string prefix = "listening on ";
  if (!line || !line->starts_with(prefix)) {
    int status = stop(SIGKILL, 2s);
    throw std::runtime_error("server " + argv[0] + " did not announce its port (exit " +
                             std::to_string(status) + "); stdout: '" +
                             escape_bytes(line.value_or("")) + "' stderr: '" + stderr_text() + "'");
  }
  address_ = line->substr(prefix.size());
  auto hp = parse_host_port(address_);
  if (!hp) throw std::runtime_error("cannot parse listening address '" + address_ + "'");
  port_ = hp->port;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) exited(decode_status(status));
  }
  if (!stderr_path_.empty()) ::unlink(stderr_path_.c_str());
}

Fd ServerProcess::connect() const { return connect_tcp("127.0.0.1", port_); }

void ServerProcess::signal(int signo) const {
  if (pid_ > 0 && !status_) ::kill(pid_, signo);
}

std::optional<int> ServerProcess::wait(std::chrono::milliseconds deadline) {
  if (status_) return status_;
  auto until = Clock::now() + deadline;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited(decode_status(status));
      return status_;
    }
    if (r < 0 && errno != EINTR) {
      status_ = -1;
      return status_;
    }
    if (Clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

void ServerProcess::exited(int status) {
  status_ = status;
  if (status != kLabStubExit) return;
  std::string lines = stub_lines(stderr_text());
  if (!lines.empty()) {
    std::fputs(lines.c_str(), stderr);
    std::fflush(stderr);
  }
}

bool ServerProcess::running() { return !wait(0ms).has_value(); }

int ServerProcess::stop(int signo, std::chrono::milliseconds deadline) {
  if (status_) return *status_;
  ::kill(pid_, signo);
  if (auto s = wait(deadline)) return *s;
  ::kill(pid_, SIGKILL);
  (void)wait(5s);
  status_ = -1;
  return -1;
}

std::string ServerProcess::stderr_text() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> ServerProcess::read_stdout_line(std::chrono::milliseconds deadline) {
  auto until = Clock::now() + deadline;
  for (;;) {
    if (auto nl = stdout_pending_.find('\n'); nl != std::string::npos) {
      std::string line = stdout_pending_.substr(0, nl);
      stdout_pending_.erase(0, nl + 1);
      return line;
    }
    pollfd p{stdout_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(until));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    char buf[4096];
    ssize_t r = ::read(stdout_.get(), buf, sizeof buf);
    if (r <= 0) return std::nullopt;
    stdout_pending_.append(buf, static_cast<std::size_t>(r));
  }
}

int ServerProcess::fd_count() const {
  std::string path = "/proc/" + std::to_string(pid_) + "/fd";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

std::string binary_from_env(const char* variable, const std::string& fallback) {
  const char* value = std::getenv(variable);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
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
                    until - std::chrono::steady_clock::now())
                    .count();
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
      if (r > 0)
        (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(r));
      else
        (i == 0 ? out_open : err_open) = false;
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
      result.status = decode_status(raw);
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

std::vector<std::string> env_words(const char* variable) {
  std::vector<std::string> words;
  const char* text = std::getenv(variable);
  std::istringstream in(text == nullptr ? "" : text);
  std::string word;
  while (in >> word) words.push_back(word);
  return words;
}

std::string server_binary(const char* suite_variable, const std::string& fallback) {
  return binary_from_env("SERVERLAB_SERVER_BIN", binary_from_env(suite_variable, fallback));
}

std::string client_binary(const char* suite_variable, const std::string& fallback) {
  return binary_from_env("SERVERLAB_CLIENT_BIN", binary_from_env(suite_variable, fallback));
}

int run_to_exit(std::vector<std::string> argv, std::chrono::milliseconds deadline) {
  if (argv.empty()) throw std::runtime_error("run_to_exit: empty argv");
  return run_program(argv, "", deadline).status;
}

std::string escape_bytes(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\\')
      out += "\\\\";
    else if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t w = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

namespace {
// Reads whatever arrives until `done(buffer)` or EOF/error or the deadline.
template <typename Done>
std::string recv_while(int fd, std::chrono::milliseconds deadline, Done done) {
  auto until = Clock::now() + deadline;
  std::string out;
  char buf[65536];
  while (!done(out)) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(until));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}
}  // namespace

std::string recv_exact(int fd, std::size_t n, std::chrono::milliseconds deadline) {
  return recv_while(fd, deadline, [n](const std::string& s) { return s.size() >= n; });
}

std::string recv_until_eof(int fd, std::chrono::milliseconds deadline) {
  return recv_while(fd, deadline, [](const std::string&) { return false; });
}

std::string recv_until(int fd, std::string_view marker, std::chrono::milliseconds deadline) {
  return recv_while(fd, deadline,
                    [marker](const std::string& s) { return s.find(marker) != std::string::npos; });
}

bool wait_for_eof(int fd, std::chrono::milliseconds deadline) {
  auto until = Clock::now() + deadline;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(until));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

void reset_connection(Fd& fd) {
  linger l{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd.reset();
}

}  // namespace serverlab::testing
