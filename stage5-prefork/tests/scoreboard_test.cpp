// The scoreboard: forked workers writing their own slots are seen by the parent, the master's
// pick follows the load, respawns are visible, and the three status renderings say the same.
#include "scoreboard.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server_process.hpp"

namespace serverlab {
namespace {

using testing::escape_bytes;
namespace ws = worker_state;

// Waits for every pid with a deadline; kills (by pid) and reports any that hang.
// Returns the number of children that exited with status 0.
int wait_children(const std::vector<pid_t>& pids, std::chrono::seconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  int clean = 0;
  for (pid_t pid : pids) {
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ++clean;
        break;
      }
      if (r < 0 || std::chrono::steady_clock::now() > until) {
        ADD_FAILURE() << "child " << pid << " did not exit in time";
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return clean;
}

// Parses "Key: value" lines of the ?auto format into a map, checking every line has that shape.
std::map<std::string, std::string> parse_auto(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(": ");
    if (colon == std::string::npos || colon == 0) {
      ADD_FAILURE() << "not a 'Key: value' line: " << escape_bytes(line);
      continue;
    }
    out[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return out;
}

// Marks slot i live in this process, as the master does around a fork.
void fake_spawn(Scoreboard& board, std::size_t i, char state = ws::kWaiting) {
  board.begin_spawn(i);
  board.set_pid(i, static_cast<pid_t>(100000 + i));
  board.slot(i).set_state(state);
}

TEST(Scoreboard, ForkedWorkersEachBumpingTheirSlotAddUpInTheParent) {
  constexpr std::size_t kWorkers = 4;
  constexpr std::uint64_t kRequests = 2000;
  constexpr std::uint64_t kBytesPerRequest = 100;
  Scoreboard board = Scoreboard::create(kWorkers);

  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < kWorkers; ++i) {
    board.begin_spawn(i);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0) << "fork failed";
    if (pid == 0) {
      // The worker: touches only its own slot, then leaves without running any destructors.
      ScoreboardSlot& mine = board.slot(i);
      mine.set_state(ws::kWaiting);
      for (std::uint64_t k = 0; k < kRequests; ++k) {
        mine.connection_opened();
        mine.set_state(ws::kReading);
        mine.set_state(ws::kWriting);
        mine.request_done(kBytesPerRequest);
        mine.connection_closed();
        mine.heartbeat();
      }
      mine.set_state(ws::kWaiting);
      ::_exit(0);
    }
    board.set_pid(i, pid);
    pids.push_back(pid);
  }
  ASSERT_EQ(wait_children(pids, std::chrono::seconds(30)), static_cast<int>(kWorkers));

  const ScoreboardTotals before_reap = board.totals();
  EXPECT_EQ(before_reap.requests, kWorkers * kRequests);
  EXPECT_EQ(before_reap.bytes, kWorkers * kRequests * kBytesPerRequest);
  EXPECT_EQ(before_reap.active_connections, 0u);
  EXPECT_EQ(before_reap.idle_workers, kWorkers);
  for (std::size_t i = 0; i < kWorkers; ++i) {
    EXPECT_EQ(board.slot(i).requests.load(), kRequests) << "slot " << i;
    EXPECT_EQ(board.find_pid(pids[i]), std::optional<std::size_t>(i));
  }

  for (std::size_t i = 0; i < kWorkers; ++i) board.reap(i);
  const ScoreboardTotals after_reap = board.totals();
  EXPECT_EQ(after_reap.live_workers, 0u);
  EXPECT_EQ(board.state_string(), "....");
  EXPECT_EQ(board.find_pid(pids[0]), std::nullopt);
}

TEST(Scoreboard, LeastLoadedPicksTheLiveWorkerWithFewestConnections) {
  Scoreboard board = Scoreboard::create(4);
  const std::uint64_t gen = board.generation();
  EXPECT_EQ(board.least_loaded(gen), std::nullopt) << "no worker is live yet";

  for (std::size_t i = 0; i < 3; ++i) fake_spawn(board, i);  // slot 3 stays open
  for (int k = 0; k < 5; ++k) board.slot(0).connection_opened();
  for (int k = 0; k < 2; ++k) board.slot(1).connection_opened();
  for (int k = 0; k < 3; ++k) board.slot(2).connection_opened();
  EXPECT_EQ(board.least_loaded(gen), std::optional<std::size_t>(1));

  // The lightest worker gets busier: the pick moves.
  for (int k = 0; k < 4; ++k) board.slot(1).connection_opened();
  EXPECT_EQ(board.least_loaded(gen), std::optional<std::size_t>(2));

  // A reaped worker is never picked, even with zero connections.
  board.reap(2);
  EXPECT_EQ(board.least_loaded(gen), std::optional<std::size_t>(0));
}

TEST(Scoreboard, LeastLoadedBreaksTiesFromTheStartHint) {
  Scoreboard board = Scoreboard::create(3);
  for (std::size_t i = 0; i < 3; ++i) fake_spawn(board, i);
  const std::uint64_t gen = board.generation();
  EXPECT_EQ(board.least_loaded(gen, 0), std::optional<std::size_t>(0));
  EXPECT_EQ(board.least_loaded(gen, 1), std::optional<std::size_t>(1));
  EXPECT_EQ(board.least_loaded(gen, 2), std::optional<std::size_t>(2));
  EXPECT_EQ(board.least_loaded(gen, 5), std::optional<std::size_t>(2));  // wraps
  board.slot(2).connection_opened();
  EXPECT_EQ(board.least_loaded(gen, 2), std::optional<std::size_t>(0));
}

TEST(Scoreboard, LeastLoadedCountsConnectionsStillInFlight) {
  Scoreboard board = Scoreboard::create(3);
  for (std::size_t i = 0; i < 3; ++i) fake_spawn(board, i);
  board.slot(0).connection_opened();  // slot 0 holds 1; slots 1, 2 hold none
  // The master sent 3 to slot 1 and 1 to slot 2; slot 1 has received 1 of its 3 so far.
  const std::vector<std::uint32_t> sent = {1, 3, 1};
  board.slot(0).received.store(1);
  board.slot(1).received.store(1);
  PickRequest pick;
  pick.sent = sent;
  // Loads: slot 0 = 1 + 0, slot 1 = 0 + 2, slot 2 = 0 + 1 (nothing received yet).
  EXPECT_EQ(board.least_loaded(pick), std::optional<std::size_t>(0));
  pick.start = 1;  // 0 and 2 tie at 1: the first from the start wins
  EXPECT_EQ(board.least_loaded(pick), std::optional<std::size_t>(2));
  // Without the in-flight count slot 1 would look idle and win.
  PickRequest blind;
  EXPECT_EQ(board.least_loaded(blind), std::optional<std::size_t>(1));
}

TEST(Scoreboard, LeastLoadedInFlightSurvivesTheCountersWrapping) {
  Scoreboard board = Scoreboard::create(2);
  fake_spawn(board, 0);
  fake_spawn(board, 1);
  // sent wrapped past 2^32 and is now 2; received is 2^32 - 3: five are in flight to slot 0.
  board.slot(0).received.store(0xFFFFFFFDu);
  const std::vector<std::uint32_t> sent = {2, 0};
  for (int k = 0; k < 4; ++k) board.slot(1).connection_opened();
  PickRequest pick;
  pick.sent = sent;
  EXPECT_EQ(board.least_loaded(pick), std::optional<std::size_t>(1));
  pick.limit = 5;  // slot 0 (load 5) is full, slot 1 (load 4) is not
  EXPECT_EQ(board.least_loaded(pick), std::optional<std::size_t>(1));
  pick.limit = 4;  // both full
  EXPECT_EQ(board.least_loaded(pick), std::nullopt);
}

TEST(Scoreboard, LeastLoadedSkipsWhatTheCallerSkipsAndFiltersTheGeneration) {
  Scoreboard board = Scoreboard::create(3);
  for (std::size_t i = 0; i < 3; ++i) fake_spawn(board, i);
  for (int k = 0; k < 3; ++k) board.slot(2).connection_opened();
  const std::vector<char> skip = {1, 1, 0};
  PickRequest pick;
  pick.skip = skip;
  EXPECT_EQ(board.least_loaded(pick), std::optional<std::size_t>(2));
  pick.generation = board.generation() + 1;  // nobody is of that generation
  EXPECT_EQ(board.least_loaded(pick), std::nullopt);
}

TEST(Scoreboard, RespawnBumpsTheSlotAndResetsItsCounters) {
  Scoreboard board = Scoreboard::create(2);
  const std::uint64_t first = board.begin_spawn(0);
  board.set_pid(0, 4242);
  board.slot(0).set_state(ws::kWaiting);
  board.slot(0).request_done(10);
  board.slot(0).connection_opened();
  EXPECT_TRUE(board.slot(0).live());

  board.reap(0);
  const std::uint64_t after_reap = board.slot(0).incarnation.load();
  EXPECT_GT(after_reap, first);
  EXPECT_FALSE(board.slot(0).live());
  EXPECT_EQ(board.slot(0).pid.load(), 0);
  EXPECT_EQ(board.slot(0).state.load(), ws::kOpenSlot);
  EXPECT_EQ(board.slot(0).active.load(), 0u);
  // The dead worker's requests still count, in its slot until the slot is reused...
  EXPECT_EQ(board.totals().requests, 1u);

  const std::uint64_t second = board.begin_spawn(0);
  EXPECT_GT(second, after_reap);
  EXPECT_EQ(board.slot(0).state.load(), ws::kStarting);
  EXPECT_EQ(board.slot(0).requests.load(), 0u);
  EXPECT_EQ(board.slot(0).bytes.load(), 0u);
  EXPECT_EQ(board.slot(0).received.load(), 0u);
  // ... and afterwards among the retired totals: the server's totals never go backwards.
  EXPECT_EQ(board.totals().requests, 1u);
  EXPECT_EQ(board.totals().bytes, 10u);
  board.slot(0).request_done(5);
  EXPECT_EQ(board.totals().requests, 2u);
  EXPECT_EQ(board.totals().bytes, 15u);
  board.set_pid(0, 4343);
  EXPECT_EQ(board.find_pid(4343), std::optional<std::size_t>(0));
  EXPECT_EQ(board.find_pid(4242), std::nullopt);
  // The untouched slot's incarnation did not move.
  EXPECT_EQ(board.slot(1).incarnation.load(), 0u);
}

TEST(Scoreboard, NewGenerationWorkersAreTheOnlyOnesPicked) {
  Scoreboard board = Scoreboard::create(3);
  const std::uint64_t old_gen = board.generation();
  fake_spawn(board, 0);
  fake_spawn(board, 1);

  const std::uint64_t new_gen = board.next_generation();
  EXPECT_EQ(new_gen, old_gen + 1);
  EXPECT_EQ(board.generation(), new_gen);
  EXPECT_EQ(board.least_loaded(new_gen), std::nullopt) << "old workers must drain, not get work";

  fake_spawn(board, 2);
  for (int k = 0; k < 9; ++k) board.slot(2).connection_opened();
  EXPECT_EQ(board.slot(2).generation.load(), new_gen);
  EXPECT_EQ(board.least_loaded(new_gen), std::optional<std::size_t>(2));
  EXPECT_EQ(board.least_loaded(old_gen), std::optional<std::size_t>(0));
}

TEST(Scoreboard, StateCountsFollowModStatus) {
  Scoreboard board = Scoreboard::create(6);
  fake_spawn(board, 0, ws::kWaiting);
  fake_spawn(board, 1, ws::kReading);
  fake_spawn(board, 2, ws::kWriting);
  fake_spawn(board, 3, ws::kReading);
  board.begin_spawn(4);  // starting: neither busy nor idle
  board.set_pid(4, 77);
  EXPECT_EQ(board.state_string(), "_RWRS.");
  const ScoreboardTotals t = board.totals();
  EXPECT_EQ(t.live_workers, 5u);
  EXPECT_EQ(t.busy_workers, 3u);
  EXPECT_EQ(t.idle_workers, 1u);
}

TEST(Scoreboard, RenderAutoHasApacheKeysAndValues) {
  Scoreboard board = Scoreboard::create(4);
  fake_spawn(board, 0, ws::kWaiting);
  fake_spawn(board, 1, ws::kReading);
  fake_spawn(board, 2, ws::kWriting);
  board.slot(1).connection_opened();
  for (int k = 0; k < 3; ++k) board.slot(2).request_done(1024);
  board.slot(0).request_done(2048);

  const std::string text = board.render_auto();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const auto kv = parse_auto(text);
  SCOPED_TRACE("render_auto: " + escape_bytes(text));
  EXPECT_EQ(kv.at("Total Accesses"), "4");
  EXPECT_EQ(kv.at("Total kBytes"), "5");
  EXPECT_EQ(kv.at("BusyWorkers"), "2");
  EXPECT_EQ(kv.at("IdleWorkers"), "1");
  EXPECT_EQ(kv.at("ConnsTotal"), "1");
  EXPECT_EQ(kv.at("Scoreboard"), "_RW.");
  ASSERT_EQ(kv.count("Uptime"), 1u);
  EXPECT_GE(std::stoll(kv.at("Uptime")), 0);
  EXPECT_EQ(text.rfind("Total Accesses: ", 0), 0u) << "Apache's first line comes first";
}

TEST(Scoreboard, RenderJsonParsesAndHasWorkersAndTotals) {
  Scoreboard board = Scoreboard::create(3);
  fake_spawn(board, 0, ws::kWaiting);
  fake_spawn(board, 1, ws::kReading);
  board.slot(1).request_done(500);
  board.slot(1).request_done(700);
  board.slot(1).connection_opened();
  board.slot(1).heartbeat();

  const std::string text = board.render_json();
  SCOPED_TRACE("render_json: " + escape_bytes(text));
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(text));
  EXPECT_EQ(doc.at("generation"), board.generation());
  EXPECT_EQ(doc.at("scoreboard"), "_R.");
  ASSERT_TRUE(doc.at("uptime_seconds").is_number_integer());

  const auto& totals = doc.at("totals");
  EXPECT_EQ(totals.at("requests"), 2);
  EXPECT_EQ(totals.at("bytes"), 1200);
  EXPECT_EQ(totals.at("active_connections"), 1);
  EXPECT_EQ(totals.at("live_workers"), 2);
  EXPECT_EQ(totals.at("busy_workers"), 1);
  EXPECT_EQ(totals.at("idle_workers"), 1);

  const auto& workers = doc.at("workers");
  ASSERT_TRUE(workers.is_array());
  ASSERT_EQ(workers.size(), 3u);
  const auto& w1 = workers.at(1);
  EXPECT_EQ(w1.at("slot"), 1);
  EXPECT_EQ(w1.at("pid"), 100001);
  EXPECT_EQ(w1.at("state"), "R");
  EXPECT_EQ(w1.at("state_name"), "reading");
  EXPECT_EQ(w1.at("requests"), 2);
  EXPECT_EQ(w1.at("bytes"), 1200);
  EXPECT_EQ(w1.at("active_connections"), 1);
  EXPECT_TRUE(w1.at("heartbeat_age_ms").is_number_integer());
  EXPECT_GE(w1.at("heartbeat_age_ms").get<std::int64_t>(), 0);
  EXPECT_EQ(workers.at(2).at("state"), ".");
  EXPECT_EQ(workers.at(2).at("pid"), 0);
  EXPECT_TRUE(workers.at(2).at("heartbeat_age_ms").is_null());
}

TEST(Scoreboard, RenderHtmlHasOneRowPerSlotAndTheScoreboardLine) {
  Scoreboard board = Scoreboard::create(3);
  fake_spawn(board, 0, ws::kClosing);
  const std::string html = board.render_html();
  SCOPED_TRACE("render_html: " + escape_bytes(html));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<pre>C..</pre>"), std::string::npos);
  std::size_t rows = 0;
  for (auto pos = html.find("<tr><td>"); pos != std::string::npos;
       pos = html.find("<tr><td>", pos + 1)) {
    ++rows;
  }
  EXPECT_EQ(rows, 3u);
  EXPECT_NE(html.find("<td>100000</td>"), std::string::npos) << "the live worker's pid";
}

TEST(Scoreboard, SlotIndexOutOfRangeAndZeroSlotsAreRefused) {
  EXPECT_THROW(Scoreboard::create(0), std::invalid_argument);
  Scoreboard board = Scoreboard::create(2);
  EXPECT_THROW(board.slot(2), std::out_of_range);
  EXPECT_THROW(board.begin_spawn(2), std::out_of_range);
}

TEST(Scoreboard, ConnectionCountNeverWrapsBelowZero) {
  Scoreboard board = Scoreboard::create(1);
  fake_spawn(board, 0);
  board.slot(0).connection_closed();
  EXPECT_EQ(board.slot(0).active.load(), 0u);
  EXPECT_EQ(board.least_loaded(board.generation()), std::optional<std::size_t>(0));
}

TEST(Scoreboard, MovedScoreboardKeepsTheRegion) {
  Scoreboard a = Scoreboard::create(2);
  fake_spawn(a, 1, ws::kWriting);
  Scoreboard b = std::move(a);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(b.state_string(), ".W");
}

}  // namespace
}  // namespace serverlab
