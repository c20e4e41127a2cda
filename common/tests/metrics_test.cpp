// Tests of the Metrics registry: the exposition parses as Prometheus text 0.0.4,
// counters add up across threads (no lost updates in the sharded counters), and
// gauges read live values.
#include "serverlab/metrics.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace serverlab {
namespace {

using http::Method;

// ---- A small validator of the text exposition format -------------------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter|gauge|histogram|...
  std::set<std::string> helps;
  std::vector<Sample> samples;
  std::vector<std::string> errors;  // empty when the text is valid

  // The value of the one sample with this name and these labels, if any.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
};

bool metric_name_ok(std::string_view n) {
  if (n.empty()) return false;
  auto first = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  };
  if (!first(n[0])) return false;
  for (char c : n.substr(1)) {
    if (!first(c) && !std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool label_name_ok(std::string_view n) {
  if (n.empty() || n.find(':') != std::string_view::npos) return false;
  return metric_name_ok(n);
}

std::optional<double> parse_value(const std::string& text) {
  if (text == "NaN") return std::nan("");
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  try {
    std::size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size()) return std::nullopt;
    return v;
  } catch (...) {
    return std::nullopt;
  }
}

// The family a sample belongs to: histogram samples carry a suffix.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string_view s(suffix);
    if (name.size() > s.size() && name.ends_with(s)) {
      std::string base = name.substr(0, name.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

Exposition parse_exposition(const std::string& text) {
  Exposition e;
  auto fail = [&](std::string why, const std::string& line) {
    e.errors.push_back(why + ": [" + line + "]");
  };
  if (text.empty() || text.back() != '\n') e.errors.push_back("does not end in a newline");
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::string rest = line.substr(7);
      auto space = rest.find(' ');
      std::string name = rest.substr(0, space);
      if (!metric_name_ok(name)) fail("bad family name", line);
      if (line[2] == 'H') {
        if (!e.helps.insert(name).second) fail("second HELP", line);
      } else {
        std::string type = space == std::string::npos ? "" : rest.substr(space + 1);
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(type)) fail("bad TYPE", line);
        if (e.types.count(name)) fail("second TYPE", line);
        e.types[name] = type;
      }
      continue;
    }
    if (line[0] == '#') continue;  // a plain comment

    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!metric_name_ok(s.name)) fail("bad metric name", line);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) {
          fail("label without '='", line);
          break;
        }
        std::string lname = line.substr(i, eq - i);
        if (!label_name_ok(lname)) fail("bad label name", line);
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          fail("label value not quoted", line);
          break;
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) break;
            char n = line[i++];
            if (n == 'n') {
              value += '\n';
            } else if (n == '\\' || n == '"') {
              value += n;
            } else {
              fail("bad escape in label value", line);
            }
          } else {
            value += c;
          }
        }
        if (!closed) {
          fail("unterminated label value", line);
          break;
        }
        if (s.labels.count(lname)) fail("repeated label", line);
        s.labels[lname] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') {
        fail("unterminated label set", line);
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      fail("no space before value", line);
      continue;
    }
    std::string value_text = line.substr(i + 1);
    auto v = parse_value(value_text);
    if (!v) {
      fail("bad value", line);
      continue;
    }
    s.value = *v;
    std::string fam = family_of(s.name, e.types);
    if (!e.types.count(fam) || !e.helps.count(fam)) fail("sample before its HELP/TYPE", line);
    if (e.types[fam] == "counter" && !fam.ends_with("_total")) fail("counter not _total", line);
    e.samples.push_back(std::move(s));
  }

  // Histograms: buckets in ascending le, cumulative counts non-decreasing,
  // a +Inf bucket equal to _count, and a _sum.
  for (const auto& [fam, type] : e.types) {
    if (type != "histogram") continue;
    double last_le = -HUGE_VAL;
    double last_count = -1;
    std::optional<double> inf_count;
    for (const Sample& s : e.samples) {
      if (s.name != fam + "_bucket") continue;
      auto le_it = s.labels.find("le");
      if (le_it == s.labels.end()) {
        e.errors.push_back(fam + ": bucket without le");
        continue;
      }
      auto le = parse_value(le_it->second);
      if (!le || *le <= last_le) e.errors.push_back(fam + ": le not ascending at " + le_it->second);
      if (s.value < last_count) {
        e.errors.push_back(fam + ": bucket counts decrease at " + le_it->second);
      }
      if (le) last_le = *le;
      last_count = s.value;
      if (le_it->second == "+Inf") inf_count = s.value;
    }
    auto count = e.value(fam + "_count");
    if (!inf_count) e.errors.push_back(fam + ": no +Inf bucket");
    if (!count) e.errors.push_back(fam + ": no _count");
    if (!e.value(fam + "_sum")) e.errors.push_back(fam + ": no _sum");
    if (inf_count && count && *inf_count != *count) e.errors.push_back(fam + ": +Inf != _count");
  }
  return e;
}

std::string joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) out += e + "\n";
  return out;
}

#define EXPECT_VALID(exposition, text) \
  EXPECT_TRUE((exposition).errors.empty()) << joined((exposition).errors) << "--- text:\n" << (text)

// ---- The validator itself must be able to fail -------------------------------

TEST(MetricsValidator, RejectsSampleWithoutTypeAndBrokenHistogram) {
  EXPECT_FALSE(parse_exposition("x_total 1\n").errors.empty());
  EXPECT_FALSE(parse_exposition("# HELP x h\n# TYPE x counter\nx 1\n").errors.empty());
  EXPECT_FALSE(parse_exposition("# HELP 1x h\n# TYPE 1x gauge\n1x 1\n").errors.empty());
  EXPECT_FALSE(parse_exposition("# HELP g h\n# TYPE g gauge\ng{a=\"b} 1\n").errors.empty());
  std::string bad_hist =
      "# HELP h x\n# TYPE h histogram\n"
      "h_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 4\nh_bucket{le=\"+Inf\"} 6\n"
      "h_sum 1\nh_count 7\n";
  auto e = parse_exposition(bad_hist);
  EXPECT_GE(e.errors.size(), 2u) << joined(e.errors);
  std::string good = "# HELP g h\n# TYPE g gauge\ng{a=\"q\\\"\"} 1.5\n";
  auto ok = parse_exposition(good);
  EXPECT_VALID(ok, good);
  EXPECT_EQ(ok.value("g", {{"a", "q\""}}), 1.5);
}

// ---- The registry ------------------------------------------------------------

TEST(Metrics, EmptyRegistryRendersEveryFamilyWithHelpAndType) {
  Metrics m;
  std::string text = m.render_prometheus();
  auto e = parse_exposition(text);
  EXPECT_VALID(e, text);
  for (const char* fam : {"serverlab_requests_total", "serverlab_response_bytes_total",
                          "serverlab_connections_open", "serverlab_connections_total",
                          "serverlab_request_duration_seconds", "serverlab_errors_total"}) {
    EXPECT_TRUE(e.types.count(fam)) << fam << "\n" << text;
  }
  EXPECT_EQ(e.types["serverlab_connections_open"], "gauge");
  EXPECT_EQ(e.types["serverlab_request_duration_seconds"], "histogram");
  EXPECT_EQ(e.value("serverlab_request_duration_seconds_count"), 0.0);
}

TEST(Metrics, CountsRequestsByMethodAndStatus) {
  Metrics m;
  for (int i = 0; i < 3; ++i) m.request_done(Method::Get, 200, 100, 0.001);
  m.request_done(Method::Head, 404, 50, 0.001);
  m.request_done(Method::Unknown, 501, 7, 0.001);
  std::string text = m.render_prometheus();
  auto e = parse_exposition(text);
  EXPECT_VALID(e, text);
  EXPECT_EQ(e.value("serverlab_requests_total", {{"method", "GET"}, {"status", "200"}}), 3.0)
      << text;
  EXPECT_EQ(e.value("serverlab_requests_total", {{"method", "HEAD"}, {"status", "404"}}), 1.0)
      << text;
  EXPECT_EQ(e.value("serverlab_requests_total", {{"method", "other"}, {"status", "501"}}), 1.0)
      << text;
  EXPECT_EQ(e.value("serverlab_response_bytes_total"), 357.0);
  EXPECT_EQ(m.requests_total(), 5u);
  EXPECT_EQ(m.requests(Method::Get, 200), 3u);
  EXPECT_EQ(m.requests(Method::Get, 404), 0u);
}

TEST(Metrics, UnregisteredStatusCountsUnderItsClass) {
  Metrics m;
  m.request_done(Method::Get, 299, 0, 0);
  m.request_done(Method::Get, 99, 0, 0);
  m.request_done(Method::Get, 600, 0, 0);
  std::string text = m.render_prometheus();
  auto e = parse_exposition(text);
  EXPECT_VALID(e, text);
  EXPECT_EQ(e.value("serverlab_requests_total", {{"method", "GET"}, {"status", "2xx"}}), 1.0)
      << text;
  EXPECT_EQ(e.value("serverlab_requests_total", {{"method", "GET"}, {"status", "other"}}), 2.0)
      << text;
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInfEqualsCount) {
  Metrics m;
  for (double s : {0.0001, 0.0005, 0.003, 0.3, 20.0}) m.request_done(Method::Get, 200, 0, s);
  std::string text = m.render_prometheus();
  auto e = parse_exposition(text);
  EXPECT_VALID(e, text);
  const std::string b = "serverlab_request_duration_seconds_bucket";
  EXPECT_EQ(e.value(b, {{"le", "0.0005"}}), 2.0) << text;  // le is inclusive
  EXPECT_EQ(e.value(b, {{"le", "0.005"}}), 3.0) << text;
  EXPECT_EQ(e.value(b, {{"le", "0.5"}}), 4.0) << text;
  EXPECT_EQ(e.value(b, {{"le", "10"}}), 4.0) << text;
  EXPECT_EQ(e.value(b, {{"le", "+Inf"}}), 5.0) << text;
  EXPECT_EQ(e.value("serverlab_request_duration_seconds_count"), 5.0);
  auto sum = e.value("serverlab_request_duration_seconds_sum");
  ASSERT_TRUE(sum.has_value());
  EXPECT_NEAR(*sum, 20.3036, 1e-6);
}

TEST(Metrics, ConnectionsOpenIsOpenedMinusClosed) {
  Metrics m;
  for (int i = 0; i < 5; ++i) m.connection_opened();
  for (int i = 0; i < 2; ++i) m.connection_closed();
  std::string text = m.render_prometheus();
  auto e = parse_exposition(text);
  EXPECT_VALID(e, text);
  EXPECT_EQ(e.value("serverlab_connections_open"), 3.0) << text;
  EXPECT_EQ(e.value("serverlab_connections_total"), 5.0) << text;
}

TEST(Metrics, ObserverSeesEachEventAfterItIsCounted) {
  struct Recorder final : Metrics::Observer {
    Metrics* metrics = nullptr;
    int opened = 0, closed = 0, requests = 0;
    std::uint64_t bytes = 0;
    std::uint64_t counted_when_told = 0;
    void on_connection_opened() override { ++opened; }
    void on_connection_closed() override { ++closed; }
    void on_request_done(int status, std::uint64_t sent) override {
      EXPECT_EQ(status, 404);
      ++requests;
      bytes += sent;
      counted_when_told = metrics->requests_total();
    }
  };
  Metrics m;
  Recorder r;
  r.metrics = &m;
  m.set_observer(&r);
  m.connection_opened();
  m.request_done(Method::Get, 404, 120, 0.001);
  m.request_done(Method::Head, 404, 80, 0.001);
  m.connection_closed();
  EXPECT_EQ(r.opened, 1);
  EXPECT_EQ(r.closed, 1);
  EXPECT_EQ(r.requests, 2);
  EXPECT_EQ(r.bytes, 200u);
  EXPECT_EQ(r.counted_when_told, 2u);  // the counter was already bumped
  m.set_observer(nullptr);
  m.request_done(Method::Get, 404, 1, 0.001);
  EXPECT_EQ(r.requests, 2);
}

TEST(Metrics, CountsErrorsByKindAndEscapesUnknownKinds) {
  Metrics m;
  m.error("parse");
  m.error("parse");
  m.error("timeout");
  m.error("weird\"kind");
  std::string text = m.render_prometheus();
  auto e = parse_exposition(text);
  EXPECT_VALID(e, text);
  EXPECT_EQ(e.value("serverlab_errors_total", {{"kind", "parse"}}), 2.0) << text;
  EXPECT_EQ(e.value("serverlab_errors_total", {{"kind", "timeout"}}), 1.0) << text;
  EXPECT_EQ(e.value("serverlab_errors_total", {{"kind", "io"}}), 0.0) << text;
  EXPECT_EQ(e.value("serverlab_errors_total", {{"kind", "weird\"kind"}}), 1.0) << text;
  EXPECT_EQ(m.errors("weird\"kind"), 1u);
}

TEST(Metrics, GaugesReadLiveValues) {
  Metrics m;
  std::atomic<int> depth{3};
  m.add_gauge("serverlab_queue_depth", "Connections waiting for a worker.",
              [&] { return static_cast<double>(depth.load()); });
  std::string first = m.render_prometheus();
  auto e1 = parse_exposition(first);
  EXPECT_VALID(e1, first);
  EXPECT_EQ(e1.types["serverlab_queue_depth"], "gauge");
  EXPECT_EQ(e1.value("serverlab_queue_depth"), 3.0) << first;
  depth = 17;
  std::string second = m.render_prometheus();
  EXPECT_EQ(parse_exposition(second).value("serverlab_queue_depth"), 17.0) << second;
}

TEST(Metrics, AddGaugeRejectsBadAndDuplicateNames) {
  Metrics m;
  auto zero = [] { return 0.0; };
  EXPECT_THROW(m.add_gauge("9lives", "h", zero), std::invalid_argument);
  EXPECT_THROW(m.add_gauge("has space", "h", zero), std::invalid_argument);
  EXPECT_THROW(m.add_gauge("serverlab_connections_open", "h", zero), std::invalid_argument);
  m.add_gauge("serverlab_busy_workers", "h", zero);
  EXPECT_THROW(m.add_gauge("serverlab_busy_workers", "h", zero), std::invalid_argument);
}

// 8 threads x 10,000 updates of every kind, with a scraper rendering meanwhile:
// the totals are exact afterwards (sharded relaxed adds lose nothing) and every
// scrape taken mid-flight is itself valid. Run under the tsan preset too.
TEST(Metrics, CountersAddUpAcrossEightThreads) {
  constexpr int kThreads = 8;
  constexpr int kUpdates = 10'000;
  Metrics m;
  std::atomic<bool> done{false};
  std::vector<std::string> bad_scrapes;
  std::thread scraper([&] {
    for (int i = 0; i < 200 && !done.load(); ++i) {
      std::string text = m.render_prometheus();
      auto e = parse_exposition(text);
      if (!e.errors.empty() && bad_scrapes.size() < 3) bad_scrapes.push_back(joined(e.errors));
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kUpdates; ++i) {
        m.connection_opened();
        m.request_done(t % 2 ? Method::Get : Method::Head, i % 2 ? 200 : 404, 10, 0.002);
        m.error("io");
        m.connection_closed();
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  scraper.join();
  for (const auto& b : bad_scrapes) ADD_FAILURE() << "mid-flight scrape invalid:\n" << b;

  constexpr double kTotal = double{kThreads} * kUpdates;
  std::string text = m.render_prometheus();
  auto e = parse_exposition(text);
  EXPECT_VALID(e, text);
  EXPECT_EQ(m.requests_total(), static_cast<std::uint64_t>(kTotal));
  EXPECT_EQ(e.value("serverlab_requests_total", {{"method", "GET"}, {"status", "200"}}),
            kTotal / 4);
  EXPECT_EQ(e.value("serverlab_requests_total", {{"method", "HEAD"}, {"status", "404"}}),
            kTotal / 4);
  EXPECT_EQ(e.value("serverlab_response_bytes_total"), kTotal * 10);
  EXPECT_EQ(e.value("serverlab_connections_total"), kTotal);
  EXPECT_EQ(e.value("serverlab_connections_open"), 0.0);
  EXPECT_EQ(e.value("serverlab_request_duration_seconds_count"), kTotal);
  EXPECT_EQ(e.value("serverlab_request_duration_seconds_bucket", {{"le", "0.001"}}), 0.0);
  EXPECT_EQ(e.value("serverlab_request_duration_seconds_bucket", {{"le", "0.0025"}}), kTotal);
  EXPECT_EQ(e.value("serverlab_errors_total", {{"kind", "io"}}), kTotal);
}

}  // namespace
}  // namespace serverlab
