// Lab 15 (week 15): the worker's side of the shared-memory scoreboard
// (stage5-prefork/scoreboard.hpp, ScoreboardSlot's update methods). Checks them in
// one process and across fork, where the master must see what a worker wrote.
// Tag: [slot-update].
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "lab_support.hpp"

#include "scoreboard.hpp"

using serverlab::Scoreboard;
namespace state = serverlab::worker_state;

TEST_CASE("set_state and the connection counters update the slot", "[slot-update]") {
  Scoreboard board = Scoreboard::create(2);
  board.begin_spawn(0);
  serverlab::ScoreboardSlot& s = board.slot(0);
  s.set_state(state::kReading);
  CHECK(s.state.load() == state::kReading);
  s.connection_opened();
  s.connection_opened();
  CHECK(s.active.load() == 2);
  s.connection_closed();
  CHECK(s.active.load() == 1);
}

TEST_CASE("connection_closed never wraps below zero", "[slot-update]") {
  Scoreboard board = Scoreboard::create(1);
  board.begin_spawn(0);
  serverlab::ScoreboardSlot& s = board.slot(0);
  s.connection_opened();
  s.connection_closed();
  s.connection_closed();
  CHECK(s.active.load() == 0);
}

TEST_CASE("request_done counts requests and bytes; heartbeat stamps the time",
          "[slot-update]") {
  Scoreboard board = Scoreboard::create(1);
  board.begin_spawn(0);
  serverlab::ScoreboardSlot& s = board.slot(0);
  s.request_done(100);
  s.request_done(23);
  CHECK(s.requests.load() == 2);
  CHECK(s.bytes.load() == 123);
  s.last_heartbeat_ms.store(0);
  s.heartbeat();
  const std::int64_t now = serverlab::scoreboard_monotonic_ms();
  CHECK(s.last_heartbeat_ms.load() > 0);
  CHECK(s.last_heartbeat_ms.load() <= now);
}

TEST_CASE("what a forked worker writes, the master reads", "[slot-update]") {
  Scoreboard board = Scoreboard::create(2);
  board.begin_spawn(1);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    serverlab::ScoreboardSlot& mine = board.slot(1);
    mine.set_state(state::kWaiting);
    for (int i = 0; i < 10; ++i) mine.request_done(10);
    mine.connection_opened();
    ::_exit(0);
  }
  board.set_pid(1, pid);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(board.slot(1).requests.load() == 10);
  CHECK(board.slot(1).bytes.load() == 100);
  CHECK(board.slot(1).active.load() == 1);
  CHECK(board.slot(1).state.load() == state::kWaiting);
  CHECK(board.totals().requests == 10);
}
