// The buffered access log (http/access_log.hpp): lines wait in memory and reach
// the file when the buffer passes its size, when the oldest line has waited the
// flush interval (at the next write, or from flush_due()), on flush(), when a new
// log opens (reload, reopen), when the log is destroyed, and before a fork. Every
// line arrives whole and exactly once, from any number of threads.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "serverlab/http/access_log.hpp"
#include "temp_dir.hpp"

namespace serverlab::http {
namespace {

using Clock = std::chrono::steady_clock;
using testing::TempDir;

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// One request line per entry, numbered so a lost or doubled line shows.
void write_entry(const AccessLog& log, int n) {
  const std::string request = "GET /file-" + std::to_string(n) + " HTTP/1.1";
  log.write(AccessLogEntry{"127.0.0.1", request, 200, 12, "", "test", "", "", 0});
}

class AccessLogBuffer : public ::testing::Test {
 protected:
  TempDir dir_{"serverlab-access-log"};
  std::string path_ = dir_.path("access.log");
  // Long enough that only the event under test flushes.
  static constexpr AccessLogBuffering kHoldAll{1 << 20, 3600.0};
};

TEST_F(AccessLogBuffer, LinesWaitInMemoryUntilFlush) {
  AccessLog log(path_, AccessLog::Format::Clf, kHoldAll);
  ASSERT_TRUE(log.buffered());
  for (int n = 0; n < 3; ++n) write_entry(log, n);
  EXPECT_TRUE(read_lines(path_).empty()) << "lines reached the file before any flush";
  log.flush();
  auto lines = read_lines(path_);
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_NE(lines[2].find("\"GET /file-2 HTTP/1.1\" 200 12"), std::string::npos) << lines[2];
}

TEST_F(AccessLogBuffer, SizeZeroWritesEachLineAtOnce) {
  AccessLog log(path_, AccessLog::Format::Clf, {0, 1.0});
  EXPECT_FALSE(log.buffered());
  write_entry(log, 0);
  EXPECT_EQ(read_lines(path_).size(), 1U);
}

TEST_F(AccessLogBuffer, AFullBufferIsWrittenWhole) {
  AccessLog log(path_, AccessLog::Format::Clf, {300, 3600.0});  // a line is ~70 bytes
  write_entry(log, 0);
  EXPECT_TRUE(read_lines(path_).empty());
  int written = 1;
  while (read_lines(path_).empty() && written < 100) write_entry(log, written++);
  EXPECT_GT(written, 2) << "the first lines should have waited";
  EXPECT_LT(written, 10) << "300 bytes hold a handful of lines, not " << written;
  auto lines = read_lines(path_);
  ASSERT_EQ(static_cast<int>(lines.size()), written) << "every buffered line, in one write";
  for (int n = 0; n < written; ++n)
    EXPECT_NE(lines[static_cast<std::size_t>(n)].find("/file-" + std::to_string(n) + " "),
              std::string::npos);
}

TEST_F(AccessLogBuffer, AnOldLineIsWrittenByFlushDueAndByTheNextWrite) {
  AccessLog log(path_, AccessLog::Format::Clf, {1 << 20, 0.05});
  write_entry(log, 0);
  EXPECT_TRUE(read_lines(path_).empty());
  // flush_due() tells how long to wait; the server's loop sleeps that long.
  const int wait_ms = AccessLog::flush_due(10'000);
  EXPECT_GE(wait_ms, 0);
  EXPECT_LE(wait_ms, 50);
  const auto until = Clock::now() + std::chrono::seconds(10);  // a watchdog, not a timing
  while (read_lines(path_).empty() && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(AccessLog::flush_due(100)));
  }
  EXPECT_EQ(read_lines(path_).size(), 1U) << "flush_due never wrote the old line";

  // Past the interval, the next write() writes the lines (no flush_due needed).
  write_entry(log, 1);
  const auto old_enough = Clock::now() + std::chrono::milliseconds(60);
  while (Clock::now() < old_enough) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(read_lines(path_).size(), 1U) << "nothing flushes between writes here";
  write_entry(log, 2);
  EXPECT_EQ(read_lines(path_).size(), 3U);
}

TEST_F(AccessLogBuffer, FlushDueKeepsTheCallersShorterWait) {
  EXPECT_EQ(AccessLog::flush_due(-1), -1) << "no log buffers: no reason to wake";
  AccessLog log(path_, AccessLog::Format::Clf, kHoldAll);
  EXPECT_EQ(AccessLog::flush_due(25), 25);
  // Never longer than a second while a log buffers: a reload may open one.
  EXPECT_EQ(AccessLog::flush_due(-1), AccessLog::kMaxFlushWaitMs);
}

TEST_F(AccessLogBuffer, DestroyingTheLogWritesItsLines) {  // a clean exit: SIGTERM, SIGINT
  {
    AccessLog log(path_, AccessLog::Format::Json, kHoldAll);
    for (int n = 0; n < 5; ++n) write_entry(log, n);
    EXPECT_TRUE(read_lines(path_).empty());
  }
  EXPECT_EQ(read_lines(path_).size(), 5U);
}

TEST_F(AccessLogBuffer, OpeningANewLogWritesTheOldOnesLines) {  // SIGUSR1, SIGHUP
  AccessLog old_log(path_, AccessLog::Format::Clf, kHoldAll);
  write_entry(old_log, 0);
  std::filesystem::rename(path_, path_ + ".1");  // what logrotate does
  AccessLog new_log(path_, AccessLog::Format::Clf, kHoldAll);
  EXPECT_EQ(read_lines(path_ + ".1").size(), 1U) << "the old line belongs to the moved file";
  write_entry(new_log, 1);
  new_log.flush();
  EXPECT_EQ(read_lines(path_).size(), 1U);
}

TEST_F(AccessLogBuffer, AForkedChildNeverWritesItsParentsLinesAgain) {
  AccessLog log(path_, AccessLog::Format::Clf, kHoldAll);
  write_entry(log, 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // a stage 5 worker: it may flush its own lines, never the parent's
    write_entry(log, 1);
    log.flush();
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  log.flush();
  auto lines = read_lines(path_);
  ASSERT_EQ(lines.size(), 2U) << "the parent's line must appear once";
  int zeros = 0;
  for (const auto& line : lines) zeros += line.find("/file-0 ") != std::string::npos;
  EXPECT_EQ(zeros, 1);
}

// Stage 3: worker threads write at once while the acceptor calls flush_due().
TEST_F(AccessLogBuffer, LinesFromManyThreadsArriveWholeAndOnce) {
  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  {
    AccessLog log(path_, AccessLog::Format::Clf, {1000, 0.001});
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&log, t] {
        for (int n = 0; n < kLines; ++n) write_entry(log, t * kLines + n);
      });
    }
    threads.emplace_back([] {
      for (int i = 0; i < 200; ++i) (void)AccessLog::flush_due(0);
    });
    for (auto& t : threads) t.join();
  }
  auto lines = read_lines(path_);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLines));
  std::vector<int> seen(kThreads * kLines, 0);
  for (const auto& line : lines) {
    ASSERT_EQ(line.rfind("127.0.0.1 - - [", 0), 0U) << "a torn line: " << line;
    ASSERT_NE(line.find("\"test\""), std::string::npos) << "a torn line: " << line;
    const auto at = line.find("/file-") + 6;
    ++seen.at(static_cast<std::size_t>(std::stoi(line.substr(at))));
  }
  for (int n = 0; n < kThreads * kLines; ++n) ASSERT_EQ(seen[static_cast<std::size_t>(n)], 1) << n;
}

}  // namespace
}  // namespace serverlab::http
