#include "serverlab/signals.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

#include "serverlab/sys_error.hpp"

namespace serverlab {

void ignore_sigpipe() {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  check_sys(::sigaction(SIGPIPE, &sa, nullptr), "sigaction SIGPIPE");
}

Fd block_signals(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  if (int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0)
    throw SysError("pthread_sigmask", rc);
  return Fd(check_sys(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC), "signalfd"));
}

int read_signal(int signal_fd) {
  signalfd_siginfo info{};
  for (;;) {
    ssize_t r = ::read(signal_fd, &info, sizeof info);
    if (r == static_cast<ssize_t>(sizeof info)) return static_cast<int>(info.ssi_signo);
    if (r < 0 && errno == EINTR) continue;
    return 0;
  }
}

int wait_readable(int fd_a, int signal_fd, int timeout_ms) {
  pollfd fds[2] = {{fd_a, POLLIN, 0}, {signal_fd, POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    if (fds[0].revents != 0) return fd_a;
    return signal_fd;
  }
}

void reset_signals_after_fork() noexcept {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD, SIGPIPE})
    ::sigaction(s, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace serverlab
