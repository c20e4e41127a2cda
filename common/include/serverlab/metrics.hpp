// metrics.hpp: the server's counters, exported as Prometheus text (format 0.0.4).
//
// Why: every HTTP stage answers GET /-/metrics from the same registry, so the
// bench and the labs can compare models by the same numbers. The session calls
// the hot-path functions once per request; they must cost a few relaxed atomic
// adds and never take a lock that all workers would fight over.
//
// How: counters live in kShards cache-line-aligned shards. A thread picks its
// shard once (a thread_local index handed out round-robin) and only adds to it;
// render_prometheus() sums all shards. A scrape therefore sees each counter at
// some recent value, never a torn one, and never stops the workers.
//
//   thread A --+                        +-- render_prometheus():
//   thread B --+--> shard[i] (64-byte   |     sum over shards, format text
//   thread C --+    aligned atomics) ---+
//
// Families (all prefixed serverlab_):
//   requests_total{method,status}     counter    response_bytes_total        counter
//   connections_open                  gauge      connections_total           counter
//   request_duration_seconds          histogram  (_bucket{le}, _sum, _count)
//   errors_total{kind}                counter    + gauges added with add_gauge()
//
// Status codes are indexed through a static table: every registered code
// 100..599 has its own slot; any other code in 100..599 is counted as "1xx".."5xx";
// codes outside 100..599 count as status="other".
//
// Threading: every member function is thread-safe. connection_*, request_done
// and error() with a well-known kind are lock-free (relaxed atomics). error() with
// an unknown kind, add_gauge() and render_prometheus() take an internal mutex.
// Nothing here blocks on I/O; nothing here is async-signal-safe.
// Who may call: any thread (never a signal handler).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/http/request.hpp"

namespace serverlab {

class Metrics {
 public:
  // Upper bounds (seconds) of the request-duration histogram; +Inf is implied.
  static constexpr std::array<double, 14> kDurationBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kMethods = static_cast<std::size_t>(http::Method::Unknown) + 1;
  // Error kinds with a lock-free counter; any other kind still counts (slower path).
  static constexpr std::array<std::string_view, 8> kErrorKinds = {
      "parse", "io", "timeout", "overload", "accept", "limit", "internal", "shutdown"};

  // Sees each connection and request event right after it was counted, on the thread
  // that reported it (stage 5 mirrors a worker's counts into its shared scoreboard
  // slot this way, before the response leaves). Must not block; must be thread-safe
  // when several threads report events.
  class Observer {
   public:
    virtual void on_connection_opened() {}
    virtual void on_connection_closed() {}
    virtual void on_request_done(int status, std::uint64_t bytes_sent) {
      (void)status;
      (void)bytes_sent;
    }

   protected:
    ~Observer() = default;
  };

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Hot path: lock-free, any thread.
  void connection_opened();
  void connection_closed();
  void request_done(http::Method method, int status, std::uint64_t bytes_sent, double seconds);
  void error(std::string_view kind);

  // A gauge whose value is read at render time (stage 3: queue depth, busy workers).
  // `name` must be a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) not already in
  // use, else std::invalid_argument. `read` runs under the registry's mutex on
  // the rendering thread, so it must be thread-safe and must not call back into
  // this Metrics. Register gauges before serving starts; the callable must stay
  // valid while this Metrics can be rendered.
  void add_gauge(std::string name, std::string help, std::function<double()> read);

  // Installs (or, with null, removes) the observer. Not thread-safe: call before
  // serving starts. The observer must outlive its registration.
  void set_observer(Observer* observer) { observer_ = observer; }

  // The whole exposition, "# HELP"/"# TYPE" for every family, ending in "\n".
  std::string render_prometheus() const;

  // Sums for tests and status pages (same numbers render_prometheus prints).
  std::uint64_t requests_total() const;
  std::uint64_t requests(http::Method method, int status) const;
  std::uint64_t connections_total() const;
  std::int64_t connections_open() const;
  std::uint64_t errors(std::string_view kind) const;

  static std::string_view method_label(http::Method method);
  static bool valid_metric_name(std::string_view name);

 private:
  struct Shard;
  struct Gauge {
    std::string name;
    std::string help;
    std::function<double()> read;
  };

  Shard& local_shard();
  std::uint64_t sum(std::atomic<std::uint64_t> Shard::*field) const;

  std::unique_ptr<Shard[]> shards_;
  Observer* observer_ = nullptr;
  mutable std::mutex mutex_;  // guards gauges_ and other_errors_; held while rendering
  std::vector<Gauge> gauges_;
  std::map<std::string, std::uint64_t, std::less<>> other_errors_;
};

}  // namespace serverlab
