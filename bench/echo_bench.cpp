// echo_bench.cpp: echo-bench, the stage 1 load generator (ping-pong latency and bulk throughput).
//
// Why: wrk speaks HTTP; the echo server does not. echo-bench drives any TCP echo service
// (echo-server in either --concurrency mode, or `socat ... EXEC:cat` as the peer) and prints
// ONE JSON object on stdout, which bench/bench.py collects next to the wrk results.
//
//   pingpong: N connections, each sends a message and waits for the whole echo before sending
//             the next one. Reports round trips/s and round-trip latency percentiles.
//   stream:   N connections write continuously and read back whatever comes; reports the MB/s
//             echoed back. At most --window bytes are in flight per connection, so the client
//             never lets the server's send buffer fill up while it is not reading.
//
//   connections --> [ poll loop: write msg | read echo, compare bytes ] --> JSON on stdout
//
// Everything runs on one thread over non-blocking sockets and one poll(2), so the client costs
// one CPU and can be pinned with taskset. Every echoed byte is compared with what was sent:
// a wrong byte counts as a mismatch, a reply not complete within --timeout as a timeout.
// Every wait is bounded (the run ends at warm-up + duration + timeout at the latest).
//
// Exit status: 0 when the run finished with no errors, 1 when any connection failed,
// 2 on a bad flag (the shared Flags parser). Single-threaded; run it as a program only.
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serverlab/fd.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"

#if __has_include("serverlab/framing.hpp")
#include "serverlab/framing.hpp"
#define SERVERLAB_HAVE_FRAMING 1
#else
#define SERVERLAB_HAVE_FRAMING 0
#endif

namespace {

using Clock = std::chrono::steady_clock;
using serverlab::Fd;

struct Options {
  std::string addr = "127.0.0.1:4000";
  std::string mode = "pingpong";
  std::string framing = "raw";
  int connections = 1;
  std::uint64_t size = 0;  // 0: 64 bytes for pingpong, 64 KiB for stream
  std::uint64_t window = 1 << 20;
  double duration = 3.0;
  double warmup = 0.5;
  double timeout = 5.0;
};

// One connection's progress through its current message (pingpong) or stream (stream).
struct Conn {
  Fd fd;
  std::uint64_t sent = 0;      // bytes of the current message (pingpong) or stream sent
  std::uint64_t received = 0;  // bytes of the same echoed back
  Clock::time_point started;   // when the current message's first byte went out
  Clock::time_point last_progress;
  bool open = true;
};

struct Stats {
  std::uint64_t round_trips = 0;
  std::uint64_t bytes_back = 0;
  std::uint64_t connect_errors = 0;
  std::uint64_t io_errors = 0;
  std::uint64_t eofs = 0;
  std::uint64_t mismatches = 0;
  std::uint64_t timeouts = 0;
  std::vector<std::int64_t> latency_ns;
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Clock::duration to_duration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// The bytes one round trip sends: the payload, or [4-byte length][payload] in length framing.
std::string make_message(const Options& options, std::uint64_t size) {
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>((i * 131 + 7) & 0xff);  // every byte value, no short period
  }
#if SERVERLAB_HAVE_FRAMING
  if (options.framing == "length") return serverlab::encode_frame(payload);
#else
  (void)options;
#endif
  return payload;
}

// Raises the soft RLIMIT_NOFILE so N connections fit (best effort: the hard limit caps it).
void raise_fd_limit(std::size_t wanted) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur >= wanted) return;
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, wanted);
  setrlimit(RLIMIT_NOFILE, &lim);
}

double percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(rank, sorted.size() - 1)]) / 1000.0;
}

class Bench {
 public:
  Bench(const Options& options, std::string message)
      : options_(options), message_(std::move(message)) {}

  // Connects every connection, then runs the poll loop until the deadline.
  void run() {
    auto hp = serverlab::parse_host_port(options_.addr);
    if (!hp) throw std::runtime_error("bad --addr '" + options_.addr + "' (want HOST:PORT)");
    raise_fd_limit(static_cast<std::size_t>(options_.connections) + 64);
    conns_.resize(static_cast<std::size_t>(options_.connections));
    for (auto& c : conns_) {
      try {
        c.fd = serverlab::connect_tcp(hp->host, hp->port);
        serverlab::set_nonblocking(c.fd.get());
        serverlab::set_nodelay(c.fd.get());
      } catch (const std::exception&) {
        ++stats_.connect_errors;
        c.open = false;
      }
    }
    begin_ = Clock::now();
    measure_from_ = begin_ + to_duration(options_.warmup);
    end_ = measure_from_ + to_duration(options_.duration);
    const auto hard_end = end_ + to_duration(options_.timeout);
    for (auto& c : conns_) c.started = c.last_progress = begin_;

    std::vector<pollfd> fds;
    std::vector<std::size_t> which;
    while (true) {
      const auto now = Clock::now();
      if (now >= hard_end) break;
      fds.clear();
      which.clear();
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        Conn& c = conns_[i];
        if (!c.open) continue;
        const short events = wanted_events(c, now);
        if (events == 0) continue;  // idle between messages: no deadline runs
        if (now - c.last_progress > to_duration(options_.timeout)) {
          ++stats_.timeouts;
          close_conn(c);
          continue;
        }
        fds.push_back(pollfd{c.fd.get(), events, 0});
        which.push_back(i);
      }
      if (fds.empty()) break;  // nothing in flight and nothing more to send: done
      int ready = ::poll(fds.data(), fds.size(), 50);
      if (ready < 0) {
        if (errno == EINTR) continue;
        throw serverlab::SysError("poll");
      }
      for (std::size_t k = 0; k < fds.size() && ready > 0; ++k) {
        if (fds[k].revents == 0) continue;
        --ready;
        Conn& c = conns_[which[k]];
        if (fds[k].revents & (POLLIN | POLLERR | POLLHUP)) on_readable(c);
        if (c.open && (fds[k].revents & POLLOUT)) on_writable(c);
      }
    }
    elapsed_ = seconds_between(measure_from_, std::min(Clock::now(), end_));
  }

  nlohmann::json report() {
    std::sort(stats_.latency_ns.begin(), stats_.latency_ns.end());
    const double secs = elapsed_ > 0 ? elapsed_ : options_.duration;
    nlohmann::json out = {
        {"tool", "echo-bench"},
        {"mode", options_.mode},
        {"framing", options_.framing},
        {"addr", options_.addr},
        {"connections", options_.connections},
        {"message_bytes", message_.size()},
        {"duration_s", secs},
        {"errors",
         {{"connect", stats_.connect_errors},
          {"io", stats_.io_errors},
          {"eof", stats_.eofs},
          {"mismatch", stats_.mismatches},
          {"timeout", stats_.timeouts}}},
    };
    if (options_.mode == "pingpong") {
      out["round_trips"] = stats_.round_trips;
      out["round_trips_per_s"] = static_cast<double>(stats_.round_trips) / secs;
      out["latency_us"] = {{"p50", percentile(stats_.latency_ns, 50)},
                           {"p90", percentile(stats_.latency_ns, 90)},
                           {"p99", percentile(stats_.latency_ns, 99)},
                           {"max", percentile(stats_.latency_ns, 100)}};
    } else {
      out["bytes_back"] = stats_.bytes_back;
      out["mb_per_s"] = static_cast<double>(stats_.bytes_back) / secs / 1e6;
    }
    return out;
  }

  std::uint64_t error_count() const {
    return stats_.connect_errors + stats_.io_errors + stats_.eofs + stats_.mismatches +
           stats_.timeouts;
  }

 private:
  bool pingpong() const { return options_.mode == "pingpong"; }
  bool sending_allowed(Clock::time_point now) const { return now < end_; }

  short wanted_events(const Conn& c, Clock::time_point now) const {
    short events = 0;
    if (pingpong()) {
      if (c.sent < message_.size()) {
        if (c.sent > 0 || sending_allowed(now)) events |= POLLOUT;
      } else {
        events |= POLLIN;  // waiting for the rest of the echo
      }
      return events;
    }
    if (c.sent > c.received) events |= POLLIN;
    if (sending_allowed(now) && c.sent - c.received < options_.window) events |= POLLOUT;
    return events;
  }

  void on_writable(Conn& c) {
    const auto now = Clock::now();
    std::uint64_t want = 0;
    std::size_t offset = 0;
    if (pingpong()) {
      if (c.sent == 0) c.started = now;
      offset = static_cast<std::size_t>(c.sent);
      want = message_.size() - c.sent;
    } else {
      offset = static_cast<std::size_t>(c.sent % message_.size());
      want = std::min<std::uint64_t>(message_.size() - offset,
                                     options_.window - (c.sent - c.received));
    }
    ssize_t n = ::send(c.fd.get(), message_.data() + offset, static_cast<std::size_t>(want),
                       MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      ++stats_.io_errors;
      close_conn(c);
      return;
    }
    c.sent += static_cast<std::uint64_t>(n);
    c.last_progress = now;
  }

  void on_readable(Conn& c) {
    char scratch[65536];
    const std::uint64_t expected = c.sent - c.received;
    if (expected == 0) {  // nothing owed: a readable socket here is EOF or an error
      ssize_t n = ::recv(c.fd.get(), scratch, sizeof scratch, 0);
      if (n == 0) ++stats_.eofs;
      else if (n > 0) ++stats_.mismatches;  // bytes we never sent
      else if (errno == EAGAIN || errno == EINTR) return;
      else ++stats_.io_errors;
      close_conn(c);
      return;
    }
    const std::size_t cap = static_cast<std::size_t>(std::min<std::uint64_t>(expected, sizeof scratch));
    ssize_t n = ::recv(c.fd.get(), scratch, cap, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      ++stats_.io_errors;
      close_conn(c);
      return;
    }
    if (n == 0) {
      ++stats_.eofs;
      close_conn(c);
      return;
    }
    const auto now = Clock::now();
    const auto got = static_cast<std::size_t>(n);
    if (!matches(c.received, scratch, got)) {
      ++stats_.mismatches;
      close_conn(c);
      return;
    }
    c.received += got;
    c.last_progress = now;
    if (!pingpong()) {
      if (now >= measure_from_ && now < end_) stats_.bytes_back += got;
      return;
    }
    if (c.received == message_.size()) {  // one full round trip
      if (c.started >= measure_from_ && now <= end_) {
        ++stats_.round_trips;
        stats_.latency_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.started).count());
      }
      c.sent = c.received = 0;
      if (sending_allowed(now)) on_writable(c);  // next message at once, no extra poll
    }
  }

  // The echo must equal what was sent, byte for byte, at the same stream offset.
  bool matches(std::uint64_t stream_offset, const char* data, std::size_t n) const {
    const std::size_t m = message_.size();
    auto pos = static_cast<std::size_t>(stream_offset % m);
    while (n > 0) {
      const std::size_t run = std::min(n, m - pos);
      if (std::memcmp(data, message_.data() + pos, run) != 0) return false;
      data += run;
      n -= run;
      pos = 0;
    }
    return true;
  }

  void close_conn(Conn& c) {
    c.fd.reset();
    c.open = false;
  }

  Options options_;
  std::string message_;
  std::vector<Conn> conns_;
  Stats stats_;
  Clock::time_point begin_, measure_from_, end_;
  double elapsed_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  serverlab::Flags flags("echo-bench",
                         "Load generator for TCP echo servers: ping-pong latency or bulk "
                         "throughput; prints one JSON object");
  flags.add("addr", options.addr, "echo server address HOST:PORT");
  flags.add_choice("mode", options.mode, {"pingpong", "stream"},
                   "pingpong: send, wait for the echo, repeat; stream: bulk MB/s");
#if SERVERLAB_HAVE_FRAMING
  flags.add_choice("framing", options.framing, {"raw", "length"},
                   "raw bytes, or [4-byte big-endian length][payload] frames");
#else
  flags.add_choice("framing", options.framing, {"raw"},
                   "raw bytes (length framing needs serverlab/framing.hpp)");
#endif
  flags.add("connections", options.connections, "concurrent connections", 1, 20000);
  flags.add_size("size", options.size,
                 "payload bytes per message (0: 64 for pingpong, 64K for stream)");
  flags.add_size("window", options.window, "stream: most bytes in flight per connection");
  flags.add_seconds("duration", options.duration, "measured seconds");
  flags.add_seconds("warmup", options.warmup, "seconds run before measuring");
  flags.add_seconds("timeout", options.timeout,
                    "a connection making no progress this long counts as a timeout");
  flags.parse_or_exit(argc, argv);
  if (options.size == 0) options.size = options.mode == "pingpong" ? 64 : 64 * 1024;
  if (options.window == 0) options.window = 1;

  serverlab::ignore_sigpipe();
  try {
    Bench bench(options, make_message(options, options.size));
    bench.run();
    std::cout << bench.report().dump() << std::endl;
    return bench.error_count() == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "echo-bench: " << e.what() << "\n";
    return 1;
  }
}
