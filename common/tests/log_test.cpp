// Logging: text and JSON records, level threshold, one write per record.
#include "serverlab/log.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "serverlab/fd.hpp"

namespace serverlab {
namespace {

// Sends the logger's records into a pipe for the test's lifetime; restores stderr.
class CapturedLog {
 public:
  CapturedLog(log::Level level, log::Format format) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    r_.reset(p[0]);
    w_.reset(p[1]);
    log::configure(level, format, w_.get());
    reader_ = std::thread([this] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(r_.get(), buf, sizeof buf)) > 0) text_.append(buf, static_cast<std::size_t>(n));
    });
  }
  ~CapturedLog() { finish(); }
  // Stops capturing and returns everything written.
  const std::string& finish() {
    if (w_.valid()) {
      log::configure(log::Level::Info, log::Format::Text, 2);
      w_.reset();
      reader_.join();
    }
    return text_;
  }

 private:
  Fd r_, w_;
  std::thread reader_;
  std::string text_;
};

// "2026-11-23T19:21:00.123Z": the RFC 3339 shape, digit by digit.
bool is_timestamp(std::string_view t) {
  const std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (t.size() != shape.size()) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i]) return false;
  }
  return true;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Log, TextRecordHasTimestampLevelMessageAndFields) {
  std::string rec = log::format_record(log::Level::Info, log::Format::Text, "conn close",
                                       {{"peer", "127.0.0.1:5000"}, {"bytes_in", 12}, {"ms", 1.5}});
  const auto space = rec.find(' ');
  ASSERT_NE(space, std::string::npos) << rec;
  EXPECT_TRUE(is_timestamp(std::string_view(rec).substr(0, space))) << rec;
  EXPECT_EQ(rec.substr(space), " INFO conn close peer=127.0.0.1:5000 bytes_in=12 ms=1.5\n");
}

TEST(Log, TextQuotesValuesWithSpacesQuotesOrEquals) {
  std::string rec = log::format_record(log::Level::Warn, log::Format::Text, "m",
                                       {{"a", "two words"}, {"b", ""}, {"c", R"(say "hi")"}, {"d", "k=v"}});
  EXPECT_NE(rec.find(R"( a="two words")"), std::string::npos) << rec;
  EXPECT_NE(rec.find(R"( b="")"), std::string::npos) << rec;
  EXPECT_NE(rec.find(R"( c="say \"hi\"")"), std::string::npos) << rec;
  EXPECT_NE(rec.find(R"( d="k=v")"), std::string::npos) << rec;
  EXPECT_NE(rec.find(" WARN m "), std::string::npos) << rec;
}

TEST(Log, TextRecordStaysOneLineWhateverBytesAValueHolds) {
  std::string rec = log::format_record(
      log::Level::Info, log::Format::Text, "msg\nINFO forged",
      {{"target", "/a\r\n2026-01-01T00:00:00.000Z ERROR forged"}, {"bin", std::string("\x01\x7f", 2)}});
  EXPECT_EQ(std::count(rec.begin(), rec.end(), '\n'), 1) << rec;
  EXPECT_EQ(rec.back(), '\n');
  EXPECT_NE(rec.find(R"(msg\nINFO forged)"), std::string::npos) << rec;
  EXPECT_NE(rec.find(R"(bin="\x01\x7f")"), std::string::npos) << rec;
}

TEST(Log, JsonRecordParsesAndKeepsFieldTypes) {
  std::string rec = log::format_record(
      log::Level::Warn, log::Format::Json, "conn close",
      {{"peer", "[::1]:80"}, {"bytes", 42}, {"ms", 1.5}, {"text", "line\n\"quoted\""}});
  ASSERT_EQ(rec.back(), '\n');
  EXPECT_EQ(std::count(rec.begin(), rec.end(), '\n'), 1);
  auto j = nlohmann::json::parse(rec);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "conn close");
  EXPECT_TRUE(j["ts"].is_string());
  EXPECT_EQ(j["peer"], "[::1]:80");
  EXPECT_TRUE(j["bytes"].is_number_integer());
  EXPECT_EQ(j["bytes"], 42);
  EXPECT_TRUE(j["ms"].is_number_float());
  EXPECT_EQ(j["ms"], 1.5);
  EXPECT_EQ(j["text"], "line\n\"quoted\"");
}

TEST(Log, JsonSurvivesInvalidUtf8FromAPeer) {
  std::string rec;
  EXPECT_NO_THROW(rec = log::format_record(log::Level::Info, log::Format::Json, "bytes",
                                           {{"raw", std::string("\xff\xfe ok", 5)}}));
  EXPECT_TRUE(nlohmann::json::accept(rec)) << rec;
}

TEST(Log, ThresholdDropsLessSevereRecords) {
  CapturedLog cap(log::Level::Warn, log::Format::Text);
  EXPECT_FALSE(log::enabled(log::Level::Info));
  EXPECT_TRUE(log::enabled(log::Level::Error));
  log::info("hidden {}", 1);
  log::debug("hidden {}", 2);
  log::warn("shown {}", 3);
  log::error("shown {}", 4);
  auto lines = lines_of(cap.finish());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("WARN shown 3"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("ERROR shown 4"), std::string::npos) << lines[1];
}

TEST(Log, OffSilencesEverything) {
  CapturedLog cap(log::Level::Off, log::Format::Text);
  log::error("nothing");
  log::event(log::Level::Error, "nothing either");
  EXPECT_EQ(cap.finish(), "");
}

TEST(Log, JsonLinesFromTheLoggerEachParse) {
  CapturedLog cap(log::Level::Debug, log::Format::Json);
  EXPECT_EQ(log::format(), log::Format::Json);
  log::debug("one");
  log::event(log::Level::Info, "two", {{"n", 2}});
  auto lines = lines_of(cap.finish());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "one");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["n"], 2);
}

TEST(Log, RecordsFromManyThreadsNeverInterleave) {
  CapturedLog cap(log::Level::Info, log::Format::Text);
  constexpr int kThreads = 4, kRecords = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      const std::string filler(200 + 50 * t, static_cast<char>('a' + t));
      for (int i = 0; i < kRecords; ++i)
        log::event(log::Level::Info, "rec", {{"t", t}, {"i", i}, {"fill", filler}});
    });
  }
  for (auto& th : threads) th.join();
  auto lines = lines_of(cap.finish());
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kRecords));
  for (const auto& line : lines) {
    // "<ts> INFO rec t=T i=I fill=<200+50T copies of 'a'+T>" and nothing else.
    const auto rec = line.find(" INFO rec t=");
    ASSERT_NE(rec, std::string::npos) << "torn line: " << line.substr(0, 120);
    ASSERT_TRUE(is_timestamp(std::string_view(line).substr(0, rec))) << line.substr(0, 120);
    const int t = line[rec + 12] - '0';
    ASSERT_TRUE(t >= 0 && t < kThreads) << line.substr(0, 120);
    const auto fill = line.find(" fill=");
    ASSERT_NE(fill, std::string::npos) << line.substr(0, 120);
    EXPECT_EQ(line.substr(fill + 6),
              std::string(static_cast<std::size_t>(200 + 50 * t), static_cast<char>('a' + t)))
        << "torn line: " << line.substr(0, 120);
  }
}

TEST(Log, ParsesLevelAndFormatNames) {
  EXPECT_EQ(log::parse_level("debug"), log::Level::Debug);
  EXPECT_EQ(log::parse_level("off"), log::Level::Off);
  EXPECT_EQ(log::parse_level("loud"), std::nullopt);
  EXPECT_EQ(log::parse_format("json"), log::Format::Json);
  EXPECT_EQ(log::parse_format("xml"), std::nullopt);
  EXPECT_EQ(log::level_name(log::Level::Warn), "warn");
}

// ---- RateLimiter: time is passed in, so these tests never sleep.

using Limiter = log::RateLimiter;
Limiter::Clock::time_point at_ms(long ms) {
  return Limiter::Clock::time_point(std::chrono::milliseconds(1'000'000 + ms));
}

TEST(RateLimiter, AdmitsABurstThenOnePerIntervalAndCountsTheRest) {
  Limiter limiter(10, 3);  // one every 100 ms, three at once
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.admit(at_ms(0)).admitted) << i;
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.admit(at_ms(0)).admitted) << i;
  EXPECT_FALSE(limiter.admit(at_ms(50)).admitted) << "half an interval refills nothing";
  auto d = limiter.admit(at_ms(100));
  EXPECT_TRUE(d.admitted);
  EXPECT_EQ(d.suppressed, 6u) << "the 6 refused since the last admitted one";
  EXPECT_FALSE(limiter.admit(at_ms(100)).admitted);
  d = limiter.admit(at_ms(200));
  EXPECT_TRUE(d.admitted);
  EXPECT_EQ(d.suppressed, 1u);
  EXPECT_EQ(limiter.admit(at_ms(300)).suppressed, 0u) << "nothing refused in between";
}

TEST(RateLimiter, AQuietSpellRefillsTheBurstButNoMore) {
  Limiter limiter(10, 3);
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += limiter.admit(at_ms(0)).admitted ? 1 : 0;
  EXPECT_EQ(admitted, 3);
  admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += limiter.admit(at_ms(60'000)).admitted ? 1 : 0;
  EXPECT_EQ(admitted, 3) << "a minute of silence buys a burst, not 600 records";
}

TEST(RateLimiter, OverASecondAdmitsAtMostBurstPlusRate) {
  Limiter limiter(10, 10);
  int admitted = 0;
  for (long ms = 0; ms < 1000; ++ms) {  // 10 attempts every millisecond: 10,000 in all
    for (int k = 0; k < 10; ++k) admitted += limiter.admit(at_ms(ms)).admitted ? 1 : 0;
  }
  EXPECT_GE(admitted, 19);
  EXPECT_LE(admitted, 20);
}

TEST(RateLimiter, ThreadsLoseNoEventFromTheCount) {
  // Every attempt is either admitted or counted in some admitted one's
  // `suppressed`, or still pending in the limiter (one final admit collects it).
  Limiter limiter(1000, 50);
  constexpr int kThreads = 8;
  constexpr int kEach = 20'000;
  std::atomic<std::uint64_t> admitted{0}, reported{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto d = limiter.admit();
        if (d.admitted) {
          admitted.fetch_add(1);
          reported.fetch_add(d.suppressed);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto last = limiter.admit(Limiter::Clock::now() + std::chrono::hours(1));
  ASSERT_TRUE(last.admitted);
  EXPECT_EQ(admitted.load() + reported.load() + last.suppressed,
            static_cast<std::uint64_t>(kThreads) * kEach);
  EXPECT_LT(admitted.load(), static_cast<std::uint64_t>(kThreads) * kEach / 2)
      << "the limiter admitted most of a flood";
}

}  // namespace
}  // namespace serverlab
