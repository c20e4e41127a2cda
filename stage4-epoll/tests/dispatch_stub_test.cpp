// The starter tree's dispatch: what a student's http-epoll does before week 11's
// [lab11:event-loop-dispatch] region is written. This executable is built from
// event_loop.cpp with that region replaced by its stub, exactly as tools/handout.py
// writes it (tests/write_stub.py runs at build time), so it tests the stub itself.
//
// The stub must fail fast and by name: the first ready fd (a request, a signal on
// the signalfd) ends the process with lab_stub_reached's line and kLabStubExit. A
// stub that called nothing would leave epoll_wait reporting the same fd forever: a
// spinning server that ignores SIGTERM. Each death test arms alarm() in the child,
// so such a stub dies of SIGALRM and the test fails instead of hanging.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "event_loop.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/lab_stub.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {
namespace {

constexpr const char* kStubLine =
    "serverlab: \\[lab11:event-loop-dispatch\\] is still the stub: write it in "
    "stage4-epoll/event_loop\\.cpp \\(labs/week11-event-loop/README\\.md\\)";

struct NeverCalled final : EventHandler {
  void on_event(std::uint32_t) override { ::_exit(3); }  // the stub calls no handler
};

TEST(DispatchStub, ALoopWithNothingReadyStillRunsItsTimers) {
  // Timers are not part of the region: a server with no traffic yet stays up.
  EventLoop loop;
  bool fired = false;
  loop.run_after(1, [&] {
    fired = true;
    loop.stop();
  });
  loop.run();
  EXPECT_TRUE(fired);
}

// Child-side scenarios; each returns only if the stub let run() return.
void serve_one_request() {
  ::alarm(5);
  EventLoop loop;
  int sv[2];
  check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), "socketpair");
  Fd a(sv[0]);
  Fd b(sv[1]);
  NeverCalled handler;
  loop.add(b.get(), kReadable, handler);
  (void)::write(a.get(), "GET", 3);  // a request arrives
  loop.run();
}

void stop_on_sigterm() {
  ::alarm(5);
  EventLoop loop;
  SignalWatcher signals(loop, {SIGTERM}, [&loop](int) { loop.stop(); });
  loop.run_after(1, [] { ::raise(SIGTERM); });  // blocked: it waits in the signalfd
  loop.run();
}

TEST(DispatchStubDeathTest, TheFirstReadyFdEndsTheProcessByName) {
  EXPECT_EXIT((serve_one_request(), ::_exit(0)), ::testing::ExitedWithCode(kLabStubExit),
              kStubLine);
}

TEST(DispatchStubDeathTest, SigtermEndsTheProcessByNameInsteadOfBeingIgnored) {
  EXPECT_EXIT((stop_on_sigterm(), ::_exit(0)), ::testing::ExitedWithCode(kLabStubExit),
              kStubLine);
}

}  // namespace
}  // namespace serverlab
