// Lab 16 (week 16): the master's load-balancing pick over the scoreboard
// (stage5-prefork/scoreboard.cpp, Scoreboard::least_loaded(PickRequest)). The passfd
// master calls it for every connection it passes, so this is the real server's balancing.
// Slots are filled the way the master fills them (begin_spawn, set_pid) with made-up pids;
// no process is started. Tag: [least-loaded].
#include <cstdint>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "lab_support.hpp"

#include "scoreboard.hpp"

using serverlab::PickRequest;
using serverlab::Scoreboard;

namespace {

// Makes slot i live in the current generation with `active` connections.
void live(Scoreboard& board, std::size_t i, std::uint32_t active) {
  board.begin_spawn(i);
  board.set_pid(i, static_cast<pid_t>(40000 + i));
  board.slot(i).state.store(serverlab::worker_state::kWaiting);
  board.slot(i).active.store(active);
}

}  // namespace

TEST_CASE("the live worker with the fewest connections wins", "[least-loaded]") {
  Scoreboard board = Scoreboard::create(4);
  live(board, 0, 5);
  live(board, 1, 2);
  live(board, 2, 7);
  live(board, 3, 3);
  CHECK(board.least_loaded(board.generation()) == std::optional<std::size_t>(1));
}

TEST_CASE("open slots and workers of an old generation are never picked", "[least-loaded]") {
  Scoreboard board = Scoreboard::create(4);
  live(board, 0, 9);           // old generation, after the restart below
  board.next_generation();
  live(board, 2, 4);           // new generation
  // slot 1 and 3: open (never spawned); slot 0: idle-looking but old.
  board.slot(0).active.store(0);
  CHECK(board.least_loaded(board.generation()) == std::optional<std::size_t>(2));
  board.reap(2);
  CHECK(board.least_loaded(board.generation()) == std::nullopt);
}

TEST_CASE("ties go to the first slot scanning from start, wrapping", "[least-loaded]") {
  Scoreboard board = Scoreboard::create(3);
  live(board, 0, 1);
  live(board, 1, 1);
  live(board, 2, 1);
  const std::uint64_t g = board.generation();
  CHECK(board.least_loaded(g, 0) == std::optional<std::size_t>(0));
  CHECK(board.least_loaded(g, 1) == std::optional<std::size_t>(1));
  CHECK(board.least_loaded(g, 2) == std::optional<std::size_t>(2));
  CHECK(board.least_loaded(g, 3) == std::optional<std::size_t>(0));  // wraps
}

TEST_CASE("connections sent but not yet received count as load", "[least-loaded]") {
  Scoreboard board = Scoreboard::create(3);
  live(board, 0, 2);
  live(board, 1, 0);  // looks idle, but the master has just sent it 4 ...
  live(board, 2, 1);
  board.slot(1).received.store(1);  // ... of which it has taken 1: 3 are in flight
  const std::vector<std::uint32_t> sent = {0, 4, 0};
  PickRequest pick;
  pick.sent = sent;
  CHECK(board.least_loaded(pick) == std::optional<std::size_t>(2));  // loads 2, 3, 1
  board.slot(1).received.store(4);  // it has taken all of them: load 0
  CHECK(board.least_loaded(pick) == std::optional<std::size_t>(1));
}

TEST_CASE("the in-flight count is right when the counters wrap", "[least-loaded]") {
  Scoreboard board = Scoreboard::create(2);
  live(board, 0, 0);
  live(board, 1, 3);
  board.slot(0).received.store(0xFFFFFFFEu);  // sent wrapped to 2: 4 in flight
  const std::vector<std::uint32_t> sent = {2, 0};
  PickRequest pick;
  pick.sent = sent;
  CHECK(board.least_loaded(pick) == std::optional<std::size_t>(1));
}

TEST_CASE("skipped and full workers are never picked", "[least-loaded]") {
  Scoreboard board = Scoreboard::create(3);
  live(board, 0, 0);
  live(board, 1, 5);
  live(board, 2, 6);
  const std::vector<char> skip = {1, 0, 0};  // slot 0 is draining
  PickRequest pick;
  pick.skip = skip;
  CHECK(board.least_loaded(pick) == std::optional<std::size_t>(1));
  pick.limit = 6;  // slot 1 (5) has room, slot 2 (6) is full
  CHECK(board.least_loaded(pick) == std::optional<std::size_t>(1));
  pick.limit = 5;
  CHECK(board.least_loaded(pick) == std::nullopt);
}
