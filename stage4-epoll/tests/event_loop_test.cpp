// EventLoop: dispatch, removal during dispatch, LT vs ET, timers, stop, signals,
// the before_sleep hook. Every test runs under alarm(): a loop that never wakes
// up kills the test binary instead of hanging it.
#include "event_loop.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <pthread.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "serverlab/fd.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {
namespace {

// A connected pair of non-blocking UNIX stream sockets.
struct Pair {
  Fd a, b;
  Pair() {
    int sv[2];
    check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
              "socketpair");
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

void send_bytes(int fd, const std::string& s) {
  ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

// Counts calls; optionally runs an action (a member pointer-free callback).
struct Recorder final : EventHandler {
  int calls = 0;
  std::uint32_t last_events = 0;
  std::function<void()> action;
  void on_event(std::uint32_t events) override {
    ++calls;
    last_events = events;
    if (action) action();
  }
};

// Reads one byte per event (deliberately not draining the fd).
struct OneByteReader final : EventHandler {
  int fd = -1;
  int calls = 0;
  void on_event(std::uint32_t) override {
    ++calls;
    char c;
    (void)::read(fd, &c, 1);
  }
};

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override { ::alarm(20); }
  void TearDown() override { ::alarm(0); }
};

TEST_F(EventLoopTest, CallsHandlerOfReadableFd) {
  EventLoop loop;
  Pair p;
  Recorder r;
  loop.add(p.b.get(), kReadable, r);
  EXPECT_EQ(loop.run_once(0), 0u) << "nothing written yet";
  send_bytes(p.a.get(), "x");
  EXPECT_EQ(loop.run_once(1000), 1u);
  EXPECT_EQ(r.calls, 1);
  EXPECT_TRUE(r.last_events & kReadable);
}

TEST_F(EventLoopTest, ModifyChangesTheInterestMask) {
  EventLoop loop;
  Pair p;
  Recorder r;
  loop.add(p.a.get(), kReadable, r);
  loop.run_once(0);
  EXPECT_EQ(r.calls, 0) << "writable but not asked for";
  loop.modify(p.a.get(), kWritable);
  EXPECT_EQ(loop.interest(p.a.get()), kWritable);
  loop.run_once(1000);
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(r.last_events, kWritable);
}

TEST_F(EventLoopTest, AddingAnFdTwiceThrows) {
  EventLoop loop;
  Pair p;
  Recorder r;
  loop.add(p.a.get(), kReadable, r);
  EXPECT_THROW(loop.add(p.a.get(), kReadable, r), SysError);
  EXPECT_EQ(loop.watched_count(), 1u);
}

TEST_F(EventLoopTest, AddingAClosedFdThrowsAndLeavesNoRegistration) {
  EventLoop loop;
  int fd;
  {
    Pair p;
    fd = p.a.get();
  }  // both closed
  Recorder r;
  EXPECT_THROW(loop.add(fd, kReadable, r), SysError);
  EXPECT_FALSE(loop.watching(fd));
}

TEST_F(EventLoopTest, HandlerRemovedDuringDispatchIsNotCalled) {
  EventLoop loop;
  Pair p1, p2;
  Recorder r1, r2;
  // Whichever handler runs first removes the other one; both fds are ready in
  // the same epoll_wait batch.
  r1.action = [&] { loop.remove(p2.b.get()); };
  r2.action = [&] { loop.remove(p1.b.get()); };
  loop.add(p1.b.get(), kReadable, r1);
  loop.add(p2.b.get(), kReadable, r2);
  send_bytes(p1.a.get(), "1");
  send_bytes(p2.a.get(), "2");
  EXPECT_EQ(loop.run_once(1000), 1u);
  EXPECT_EQ(r1.calls + r2.calls, 1) << "r1=" << r1.calls << " r2=" << r2.calls;
  EXPECT_EQ(loop.watched_count(), 1u);
}

TEST_F(EventLoopTest, StaleEventForAReusedFdNumberIsNotDelivered) {
  EventLoop loop;
  Pair p1, p2;
  Recorder r1, r2, newcomer;
  int reused_fd = -1;
  int victim_fd = -1;
  Fd replacement, replacement_peer;
  // The first handler to run closes the other's socket and at once registers a
  // fresh, idle pipe that gets the same fd number. The old socket's event,
  // still in this batch, must not reach the newcomer.
  auto take_over = [&](Pair& other) {
    victim_fd = other.b.get();
    loop.remove(victim_fd);
    other.b.reset();
    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_NONBLOCK | O_CLOEXEC), 0);
    replacement.reset(pipefd[0]);
    replacement_peer.reset(pipefd[1]);
    reused_fd = replacement.get();
    loop.add(reused_fd, kReadable, newcomer);
  };
  r1.action = [&] { take_over(p2); };
  r2.action = [&] { take_over(p1); };
  loop.add(p1.b.get(), kReadable, r1);
  loop.add(p2.b.get(), kReadable, r2);
  send_bytes(p1.a.get(), "1");
  send_bytes(p2.a.get(), "2");
  loop.run_once(1000);
  ASSERT_EQ(reused_fd, victim_fd) << "precondition: the kernel reuses the lowest free fd";
  EXPECT_EQ(r1.calls + r2.calls, 1);
  EXPECT_EQ(newcomer.calls, 0) << "the newcomer got the closed socket's event";
}

TEST_F(EventLoopTest, LevelTriggeredReportsAnUndrainedFdAgain) {
  EventLoop loop;
  ASSERT_FALSE(loop.edge_triggered());
  Pair p;
  OneByteReader reader;
  reader.fd = p.b.get();
  loop.add(p.b.get(), kReadable, reader);
  send_bytes(p.a.get(), "abcdef");
  loop.run_once(1000);
  loop.run_once(1000);
  loop.run_once(1000);
  EXPECT_EQ(reader.calls, 3) << "bytes remain, so every iteration reports the fd";
}

TEST_F(EventLoopTest, EdgeTriggeredReportsAnUndrainedFdOnlyOnNewData) {
  EventLoop loop(LoopOptions{.edge_triggered = true});
  ASSERT_TRUE(loop.edge_triggered());
  Pair p;
  OneByteReader reader;
  reader.fd = p.b.get();
  loop.add(p.b.get(), kReadable, reader);
  send_bytes(p.a.get(), "abcdef");
  EXPECT_EQ(loop.run_once(1000), 1u);
  EXPECT_EQ(loop.run_once(50), 0u) << "five bytes remain but no new edge arrived";
  EXPECT_EQ(reader.calls, 1);
  send_bytes(p.a.get(), "g");
  EXPECT_EQ(loop.run_once(1000), 1u);
  EXPECT_EQ(reader.calls, 2);
}

TEST_F(EventLoopTest, TimersFireInOrderAndTheLastStopsTheLoop) {
  EventLoop loop;
  std::vector<int> fired;
  loop.run_after(30, [&] {
    fired.push_back(30);
    loop.stop();
  });
  loop.run_after(10, [&fired] { fired.push_back(10); });
  loop.run_after(20, [&fired] { fired.push_back(20); });
  loop.run_after(0, [&fired] { fired.push_back(0); });
  const std::uint64_t start = loop.now_ms();
  loop.run();  // no fds at all: only the timers can wake epoll_wait
  EXPECT_EQ(fired, (std::vector<int>{0, 10, 20, 30}));
  EXPECT_GE(loop.now_ms() - start, 30u) << "the 30 ms timer ran early on the loop's own clock";
}

TEST_F(EventLoopTest, CancelledTimerNeverFires) {
  EventLoop loop;
  bool cancelled_fired = false;
  TimerId doomed = loop.run_after(5, [&cancelled_fired] { cancelled_fired = true; });
  loop.run_after(1, [&] { EXPECT_TRUE(loop.cancel(doomed)); });
  loop.run_after(40, [&loop] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(cancelled_fired);
  EXPECT_FALSE(loop.timer_pending(doomed));
}

TEST_F(EventLoopTest, StopFromAHandlerEndsRun) {
  EventLoop loop;
  Pair p;
  Recorder r;
  r.action = [&loop] { loop.stop(); };
  loop.add(p.a.get(), kWritable, r);  // ready at once, every iteration (LT)
  loop.run();
  EXPECT_EQ(r.calls, 1) << "run() went on iterating after stop()";
  EXPECT_FALSE(loop.stopping()) << "run() clears the request so the loop can run again";
  loop.run_after(1, [&loop] { loop.stop(); });
  loop.run();
  EXPECT_GE(r.calls, 2);
}

TEST_F(EventLoopTest, SignalFdDeliversARaisedSignal) {
  EventLoop loop;
  std::vector<int> received;
  SignalWatcher signals(loop, {SIGUSR1}, [&](int signo) {
    received.push_back(signo);
    loop.stop();
  });
  EXPECT_TRUE(loop.watching(signals.fd()));
  loop.run_after(1, [] { ::raise(SIGUSR1); });  // blocked, so it waits in the signalfd
  loop.run();
  EXPECT_EQ(received, (std::vector<int>{SIGUSR1}));
}

TEST_F(EventLoopTest, BeforeSleepRunsOncePerIterationBeforePolling) {
  EventLoop loop;
  Pair p;
  Recorder r;
  loop.add(p.b.get(), kReadable, r);
  int hooks = 0;
  // The hook writes; the same iteration's epoll_wait must already see it.
  loop.set_before_sleep([&] {
    ++hooks;
    if (hooks == 1) send_bytes(p.a.get(), "z");
  });
  EXPECT_EQ(loop.run_once(0), 1u) << "the hook did not run before epoll_wait";
  loop.run_once(0);
  loop.run_once(0);
  EXPECT_EQ(hooks, 3);
  EXPECT_EQ(loop.iterations(), 3u);
}

TEST_F(EventLoopTest, HangupIsReportedEvenWithoutAskingForIt) {
  EventLoop loop;
  Pair p;
  Recorder r;
  loop.add(p.b.get(), kReadable, r);
  p.a.reset();  // peer gone: readable (EOF) and EPOLLHUP on a stream socket pair
  loop.run_once(1000);
  EXPECT_EQ(r.calls, 1);
  EXPECT_TRUE(r.last_events & EPOLLHUP) << "events=" << r.last_events;
}

TEST_F(EventLoopTest, HandlerMayRemoveItselfAndBeDestroyed) {
  EventLoop loop;
  Pair p;
  auto* r = new Recorder;
  int fd = p.b.get();
  r->action = [&loop, fd, &r] {
    loop.remove(fd);
    Recorder* self = r;
    r = nullptr;
    // Deleting the running handler is what a connection does on close; the
    // loop must not touch it afterwards (asan checks).
    delete self;
  };
  loop.add(fd, kReadable, *r);
  send_bytes(p.a.get(), "x");
  loop.run_once(1000);
  EXPECT_EQ(r, nullptr);
  EXPECT_EQ(loop.watched_count(), 0u);
}

// --- errors and exceptions ---------------------------------------------------

TEST_F(EventLoopTest, EpollWaitFailingEndsRunWithSysErrorInsteadOfSpinning) {
  EventLoop loop;
  loop.run_after(60'000, [] {});  // something to wait for, so run() would go on forever
  // Put a pipe where the epoll fd was: epoll_wait now fails with EINVAL ("not an
  // epoll fd") on every call, as it would with a corrupted or closed epoll fd.
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  Fd read_end(pipefd[0]), write_end(pipefd[1]);
  ASSERT_EQ(::dup2(read_end.get(), loop.epoll_fd()), loop.epoll_fd());
  try {
    loop.run();
    ADD_FAILURE() << "run() returned normally although epoll_wait fails";
  } catch (const SysError& e) {
    EXPECT_EQ(e.error(), EINVAL) << e.what();
    EXPECT_NE(std::string(e.what()).find("epoll_wait"), std::string::npos) << e.what();
  }
  EXPECT_EQ(loop.iterations(), 1u) << "the loop went round again after epoll_wait failed";
  EXPECT_THROW(loop.run_once(0), SysError) << "every later call fails the same way, at once";
}

TEST_F(EventLoopTest, EpollWaitInterruptedBySignalJustIterates) {
  // A handler installed without SA_RESTART makes epoll_wait fail with EINTR.
  struct sigaction action {}, old {};
  action.sa_handler = [](int) {};
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR2, &action, &old), 0);
  EventLoop loop;
  std::atomic<bool> done{false};
  const pthread_t loop_thread = ::pthread_self();
  // Nothing registered, no timer: only a signal can end this epoll_wait. Keep
  // signalling until it has, in case the first one lands before the wait began.
  std::thread kicker([&] {
    while (!done.load()) {
      ::pthread_kill(loop_thread, SIGUSR2);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::size_t called = 99;
  EXPECT_NO_THROW(called = loop.run_once(-1));
  done = true;
  kicker.join();
  ::sigaction(SIGUSR2, &old, nullptr);
  EXPECT_EQ(called, 0u);
}

TEST_F(EventLoopTest, AHandlerThatThrowsIsRemovedAndTheBatchGoesOn) {
  EventLoop loop;
  Pair p1, p2;
  Recorder thrower, other;
  thrower.action = [] { throw std::runtime_error("boom"); };
  loop.add(p1.b.get(), kReadable, thrower);
  loop.add(p2.b.get(), kReadable, other);
  send_bytes(p1.a.get(), "1");
  send_bytes(p2.a.get(), "2");
  EXPECT_NO_THROW(loop.run_once(1000));
  EXPECT_EQ(thrower.calls, 1);
  EXPECT_EQ(other.calls, 1) << "an exception cut the rest of the batch off";
  EXPECT_EQ(loop.handler_errors(), 1u);
  EXPECT_FALSE(loop.watching(p1.b.get())) << "the handler that threw is still registered";
  EXPECT_TRUE(loop.watching(p2.b.get()));
  // Its byte is still unread (level-triggered: still ready), yet it is not called
  // again, and the loop keeps serving the others.
  send_bytes(p2.a.get(), "3");
  EXPECT_EQ(loop.run_once(1000), 1u);
  EXPECT_EQ(thrower.calls, 1);
  EXPECT_EQ(other.calls, 2);
}

TEST_F(EventLoopTest, AThrowerThatReplacedItsOwnFdLeavesTheNewRegistrationAlone) {
  EventLoop loop;
  Pair p;
  Recorder thrower, newcomer;
  Fd replacement, replacement_peer;
  const int fd = p.b.get();
  thrower.action = [&] {
    // What a connection does on close, before something else goes wrong: remove,
    // close, and the fd number comes back at once for a new registration.
    loop.remove(fd);
    p.b.reset();
    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_NONBLOCK | O_CLOEXEC), 0);
    replacement.reset(pipefd[0]);
    replacement_peer.reset(pipefd[1]);
    loop.add(replacement.get(), kReadable, newcomer);
    throw std::runtime_error("after the handover");
  };
  loop.add(fd, kReadable, thrower);
  send_bytes(p.a.get(), "x");
  loop.run_once(1000);
  ASSERT_EQ(replacement.get(), fd) << "precondition: the kernel reuses the lowest free fd";
  EXPECT_EQ(loop.handler_errors(), 1u);
  EXPECT_TRUE(loop.watching(fd)) << "the newcomer on the same fd number was removed";
}

TEST_F(EventLoopTest, AHandlerMayGrowTheTableWhileItRuns) {
  // The registration table is a vector indexed by fd: a handler that registers
  // many new fds reallocates it while the loop is inside the call. The loop must
  // not touch the old table afterwards (the asan preset turns that into an error).
  EventLoop loop;
  Pair p;
  Recorder idle;
  std::vector<Fd> extra;
  Recorder grower;
  grower.action = [&] {
    for (int i = 0; i < 200; ++i) {
      extra.emplace_back(::dup(p.b.get()));
      ASSERT_TRUE(extra.back()) << "dup: " << std::strerror(errno);
      loop.add(extra.back().get(), 0, idle);  // interest 0: reports only errors
    }
  };
  loop.add(p.b.get(), kReadable, grower);
  send_bytes(p.a.get(), "x");
  EXPECT_EQ(loop.run_once(1000), 1u);
  EXPECT_EQ(grower.calls, 1);
  EXPECT_EQ(loop.watched_count(), 201u);
  EXPECT_EQ(idle.calls, 0);
}

}  // namespace
}  // namespace serverlab
