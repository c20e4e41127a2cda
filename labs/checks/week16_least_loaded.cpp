// Lab 16 (week 16): the master's load-balancing pick over the scoreboard
// (stage5-prefork/scoreboard.cpp, Scoreboard::least_loaded). Slots are filled the way
// the master fills them (begin_spawn, set_pid) with made-up pids; no process is
// started. Tag: [least-loaded].
#include <optional>

#include <catch2/catch.hpp>

#include "lab_support.hpp"

#include "scoreboard.hpp"

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
