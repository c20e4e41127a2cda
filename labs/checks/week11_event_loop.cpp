// Lab 11 (week 11): the dispatch phase of the epoll reactor
// (stage4-epoll/event_loop.cpp, EventLoop::dispatch). Checks it through the public
// interface: register handlers, make fds ready, run one iteration, see who was
// called with what. Tag: [event-loop-dispatch].
#include <sys/epoll.h>
#include <unistd.h>

#include <functional>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "event_loop.hpp"
#include "lab_support.hpp"

using serverlab::EventLoop;

namespace {

struct Recorder final : serverlab::EventHandler {
  int calls = 0;
  std::uint32_t last = 0;
  std::function<void()> action;  // runs inside on_event
  void on_event(std::uint32_t events) override {
    ++calls;
    last = events;
    if (action) action();
  }
};

}  // namespace

TEST_CASE("a readable fd's handler is called once per iteration with EPOLLIN",
          "[event-loop-dispatch]") {
  EventLoop loop;
  auto [a, b] = labcheck::stream_pair();
  Recorder h;
  loop.add(a.get(), serverlab::kReadable, h);
  CHECK(loop.run_once(0) == 0);  // nothing ready yet
  CHECK(h.calls == 0);
  labcheck::put(b.get(), "x");
  CHECK(loop.run_once(1000) == 1);
  CHECK(h.calls == 1);
  CHECK((h.last & EPOLLIN) != 0);
}

TEST_CASE("only the ready fds' handlers run, each with its own events",
          "[event-loop-dispatch]") {
  EventLoop loop;
  auto [a1, b1] = labcheck::stream_pair();
  auto [a2, b2] = labcheck::stream_pair();
  auto [a3, b3] = labcheck::stream_pair();
  Recorder r1, r2, w3;
  loop.add(a1.get(), serverlab::kReadable, r1);
  loop.add(a2.get(), serverlab::kReadable, r2);
  loop.add(a3.get(), serverlab::kWritable, w3);  // an empty socket is writable at once
  labcheck::put(b1.get(), "x");
  CHECK(loop.run_once(1000) == 2);
  CHECK(r1.calls == 1);
  CHECK(r2.calls == 0);
  CHECK(w3.calls == 1);
  CHECK((w3.last & EPOLLOUT) != 0);
  CHECK((w3.last & EPOLLIN) == 0);  // never an event outside the interest mask
}

TEST_CASE("a handler removed earlier in the same batch is not called",
          "[event-loop-dispatch]") {
  EventLoop loop;
  auto [a1, b1] = labcheck::stream_pair();
  auto [a2, b2] = labcheck::stream_pair();
  Recorder first, second;
  // Whichever runs first removes the other: exactly one of them may be called.
  first.action = [&] { loop.remove(a2.get()); };
  second.action = [&] { loop.remove(a1.get()); };
  loop.add(a1.get(), serverlab::kReadable, first);
  loop.add(a2.get(), serverlab::kReadable, second);
  labcheck::put(b1.get(), "x");
  labcheck::put(b2.get(), "y");
  CHECK(loop.run_once(1000) == 1);
  CHECK(first.calls + second.calls == 1);
}

TEST_CASE("a peer that closes is reported to a reader (EPOLLIN or EPOLLHUP)",
          "[event-loop-dispatch]") {
  EventLoop loop;
  auto [a, b] = labcheck::stream_pair();
  Recorder h;
  loop.add(a.get(), serverlab::kReadable | serverlab::kPeerClosed, h);
  b.reset();
  CHECK(loop.run_once(1000) == 1);
  CHECK(h.calls == 1);
  CHECK((h.last & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) != 0);
}

TEST_CASE("a handler that throws is dropped and the rest of the batch still runs",
          "[event-loop-dispatch]") {
  EventLoop loop;
  auto [a1, b1] = labcheck::stream_pair();
  auto [a2, b2] = labcheck::stream_pair();
  Recorder thrower, other;
  thrower.action = [] { throw std::runtime_error("handler failed"); };
  loop.add(a1.get(), serverlab::kReadable, thrower);
  loop.add(a2.get(), serverlab::kReadable, other);
  labcheck::put(b1.get(), "x");
  labcheck::put(b2.get(), "y");
  // Call it through deliver(): an exception must not escape run_once.
  CHECK_NOTHROW(loop.run_once(1000));
  CHECK(thrower.calls == 1);
  CHECK(other.calls == 1);  // whichever came first in the batch, both were called
  CHECK_FALSE(loop.watching(a1.get()));
  CHECK(loop.watching(a2.get()));
}

TEST_CASE("a handler may register many fds (growing the table) while it runs",
          "[event-loop-dispatch]") {
  EventLoop loop;
  auto [a, b] = labcheck::stream_pair();
  Recorder grower, quiet;
  std::vector<serverlab::Fd> extra;
  grower.action = [&] {
    for (int i = 0; i < 100; ++i) {
      extra.emplace_back(::dup(a.get()));
      loop.add(extra.back().get(), 0, quiet);  // interest 0: never reported here
    }
  };
  loop.add(a.get(), serverlab::kReadable, grower);
  labcheck::put(b.get(), "x");
  CHECK(loop.run_once(1000) == 1);
  CHECK(grower.calls == 1);
  CHECK(loop.watched_count() == 101);
  CHECK(quiet.calls == 0);
}
