// Signals become readable descriptors: block_signals + signalfd + wait_readable.
#include "serverlab/signals.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace serverlab {
namespace {

// Unblocks the signals on scope exit so one test's mask never leaks into the next.
class UnblockOnExit {
 public:
  explicit UnblockOnExit(std::initializer_list<int> signals) {
    sigemptyset(&set_);
    for (int s : signals) sigaddset(&set_, s);
  }
  ~UnblockOnExit() { ::pthread_sigmask(SIG_UNBLOCK, &set_, nullptr); }

 private:
  sigset_t set_{};
};

struct Pipe {
  Fd r, w;
  Pipe() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    r.reset(p[0]);
    w.reset(p[1]);
  }
};

TEST(Signals, BlockedSignalArrivesOnTheSignalfdInsteadOfKilling) {
  UnblockOnExit guard({SIGUSR2});
  Fd sfd = block_signals({SIGUSR2});
  ASSERT_TRUE(sfd.valid());
  EXPECT_EQ(read_signal(sfd.get()), 0) << "nothing pending yet";
  ASSERT_EQ(::raise(SIGUSR2), 0);  // default action would terminate the test
  Pipe idle;
  EXPECT_EQ(wait_readable(idle.r.get(), sfd.get(), 5000), sfd.get());
  EXPECT_EQ(read_signal(sfd.get()), SIGUSR2);
  EXPECT_EQ(read_signal(sfd.get()), 0) << "a signal is read once";
}

TEST(Signals, SignalFromAnotherThreadWakesTheWaiter) {
  UnblockOnExit guard({SIGUSR2});
  Fd sfd = block_signals({SIGUSR2});
  std::thread sender([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::kill(::getpid(), SIGUSR2);  // process-directed, like a SIGTERM from outside
  });
  Pipe idle;
  int ready = wait_readable(idle.r.get(), sfd.get(), 5000);
  sender.join();
  EXPECT_EQ(ready, sfd.get());
  EXPECT_EQ(read_signal(sfd.get()), SIGUSR2);
}

TEST(Signals, WaitReadablePrefersTheDataDescriptorAndTimesOut) {
  UnblockOnExit guard({SIGUSR2});
  Fd sfd = block_signals({SIGUSR2});
  Pipe p;
  EXPECT_EQ(wait_readable(p.r.get(), sfd.get(), 10), -1) << "nothing ready: timeout";
  ASSERT_EQ(::write(p.w.get(), "x", 1), 1);
  EXPECT_EQ(wait_readable(p.r.get(), sfd.get(), 1000), p.r.get());
  ::raise(SIGUSR2);
  EXPECT_EQ(wait_readable(p.r.get(), sfd.get(), 1000), p.r.get()) << "both ready: data first";
  EXPECT_EQ(read_signal(sfd.get()), SIGUSR2);
}

TEST(Signals, IgnoreSigpipeTurnsABrokenPipeIntoEpipe) {
  EXPECT_EXIT(
      {
        ::signal(SIGPIPE, SIG_DFL);
        ignore_sigpipe();
        int p[2];
        if (::pipe(p) != 0) std::exit(4);
        ::close(p[0]);
        ssize_t w = ::write(p[1], "x", 1);  // plain write(2): no MSG_NOSIGNAL here
        std::exit(w == -1 && errno == EPIPE ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Signals, ResetAfterForkRestoresDefaultsInTheChild) {
  UnblockOnExit guard({SIGUSR2});
  Fd sfd = block_signals({SIGUSR2});
  ignore_sigpipe();
  EXPECT_EXIT(
      {
        reset_signals_after_fork();
        sigset_t now;
        ::sigprocmask(SIG_SETMASK, nullptr, &now);
        struct sigaction pipe_action {};
        ::sigaction(SIGPIPE, nullptr, &pipe_action);
        bool ok = !sigismember(&now, SIGUSR2) && pipe_action.sa_handler == SIG_DFL;
        std::exit(ok ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
}

}  // namespace
}  // namespace serverlab
