// echo_server.cpp: stage 1, an echo server over blocking sockets.
//
// What it teaches: the socket life cycle (socket, bind, listen, accept, read,
// write, close), that TCP is a byte stream with no message boundaries (hence
// three framings), robust I/O (short counts, EINTR, EPIPE), and the first two
// concurrency models: one client at a time, then one thread per client.
//
// Read it top-down, like CS:APP's tiny:
//
//   main -> parse_flags -> run_tcp (or run_udp)
//     run_tcp: listen -> accept loop (waits on the listener AND the signalfd)
//              -> Clients::spawn(serve_client) ... SIGTERM -> stop_gracefully
//     serve_client: wait for a message or the stop event or the idle timeout
//              -> echo_raw | echo_line | echo_frame -> repeat -> log the close
//
// Concurrency: every connection runs on a worker thread, so that a blocking
// read can always be cut off at shutdown. `--concurrency iterative` allows ONE
// worker at a time (CS:APP's echoserveri: the next client waits in the listen
// backlog until the current one leaves); `thread` allows up to --max-clients.
// Signals are blocked in every thread and read from a signalfd by main only.
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "serverlab/fd.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/log.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {
namespace {

using Clock = std::chrono::steady_clock;

struct EchoConfig {
  ServerOptions server;
  std::string framing = "raw";
  std::string concurrency = "iterative";
  int max_clients = 64;
  double idle_timeout = 300;          // seconds; 0 disables
  std::uint64_t max_frame = 4 << 20;  // longest line or frame payload
  bool udp = false;
};

EchoConfig parse_flags(int argc, char** argv) {
  EchoConfig cfg;
  Flags flags("echo-server", "Echoes every byte (or line, or frame) back to its sender. Stage 1.");
  add_server_flags(flags, cfg.server, 4000);
  flags.add_choice("framing", cfg.framing, {"raw", "line", "length"},
                   "raw: bytes as they arrive; line: whole lines; length: 4-byte length + payload");
  flags.add_choice("concurrency", cfg.concurrency, {"iterative", "thread"},
                   "iterative: one client at a time; thread: a thread per client");
  flags.add("max-clients", cfg.max_clients, "thread mode: clients served at once (others wait)", 1,
            100000);
  flags.add_seconds("idle-timeout", cfg.idle_timeout,
                    "close a connection silent for this long (0: never)");
  flags.add_size("max-frame", cfg.max_frame, "longest line or frame payload accepted");
  flags.add("udp", cfg.udp, "echo UDP datagrams instead of TCP streams");
  flags.parse_or_exit(argc, argv);
  if (cfg.max_frame > 0xffffffffull) cfg.max_frame = 0xffffffffull;
  return cfg;
}

int to_ms(double seconds) {
  if (seconds <= 0) return -1;  // poll's "forever"
  return static_cast<int>(std::min(seconds * 1000.0, 2.0e9));
}

// ---------------------------------------------------------------------------
// One connection.

struct Session {
  int fd = -1;
  std::string peer;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string end = "eof";  // why the connection ended
  bool failed = false;      // end names an error, not a normal close
};

enum class Step { More, Done };

Step fail(Session& s, std::string why) {
  s.end = std::move(why);
  s.failed = true;
  return Step::Done;
}

Step io_failure(Session& s, const char* what, const IoResult& r) {
  if (r.status == IoResult::Status::WouldBlock) return fail(s, fmt::format("{} timed out", what));
  return fail(s, fmt::format("{}: {}", what, std::strerror(r.error)));
}

// Sends bytes back with one write_n. A reset peer is an error for this
// connection only: write_n never raises SIGPIPE and never exits.
Step send_back(Session& s, std::string_view bytes) {
  IoResult r = write_n(s.fd, bytes);
  s.bytes_out += r.bytes;
  return r.is_ok() ? Step::More : io_failure(s, "write", r);
}

// raw: whatever one read(2) returns goes straight back.
Step echo_raw(Session& s) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(s.fd, buf, sizeof buf);
    if (n > 0) {
      s.bytes_in += static_cast<std::uint64_t>(n);
      return send_back(s, {buf, static_cast<std::size_t>(n)});
    }
    if (n == 0) return Step::Done;
    if (errno == EINTR) continue;
    return io_failure(s, "read", errno == EAGAIN ? IoResult::would_block(0) : IoResult::fail(errno));
  }
}

// line: one '\n'-terminated line at a time; the unterminated tail at EOF too.
Step echo_line(Session& s, BufferedReader& in, std::size_t max_line) {
  std::string line;
  switch (in.read_line(line, max_line)) {
    case BufferedReader::LineStatus::Line:
    case BufferedReader::LineStatus::Partial:
      s.bytes_in += line.size();
      return send_back(s, line);
    case BufferedReader::LineStatus::Eof:
      return Step::Done;
    case BufferedReader::LineStatus::TooLong:
      return fail(s, fmt::format("line longer than --max-frame ({} bytes)", max_line));
    case BufferedReader::LineStatus::Error:
      break;
  }
  IoResult r = in.error() == EAGAIN ? IoResult::would_block(0) : IoResult::fail(in.error());
  return io_failure(s, "read", r);
}

// length: [4-byte big-endian length][payload], echoed with the same prefix.
Step echo_frame(Session& s, BufferedReader& in, std::uint32_t max_payload) {
  std::string payload;
  switch (read_frame(in, payload, max_payload)) {
    case FrameStatus::Frame: {
      s.bytes_in += kFrameHeaderSize + payload.size();
      IoResult r = write_frame(s.fd, payload);
      s.bytes_out += r.bytes;
      return r.is_ok() ? Step::More : io_failure(s, "write", r);
    }
    case FrameStatus::Eof:
      return Step::Done;
    case FrameStatus::Truncated:
      return fail(s, "truncated frame at EOF (dropped)");
    case FrameStatus::TooLarge:
      return fail(s, fmt::format("frame larger than --max-frame ({} bytes)", max_payload));
    case FrameStatus::Error:
      break;
  }
  IoResult r = in.error() == EAGAIN ? IoResult::would_block(0) : IoResult::fail(in.error());
  return io_failure(s, "read", r);
}

// Echoes messages until EOF, an error, the idle timeout, or the stop event.
// Between messages it waits on the socket AND stop_fd, so a server that is
// shutting down lets an idle client go at once but finishes a message in flight.
void serve_client(Session& s, const EchoConfig& cfg, int stop_fd) {
  const int idle_ms = to_ms(cfg.idle_timeout);
  const auto max = static_cast<std::uint32_t>(cfg.max_frame);
  BufferedReader reader(s.fd, 16384);
  for (;;) {
    if (reader.buffered() == 0) {  // at a message boundary with nothing in hand
      int ready = wait_readable(s.fd, stop_fd, idle_ms);
      if (ready == -1) {
        fail(s, "idle timeout");
        return;
      }
      if (ready == stop_fd) {
        s.end = "server stopping";
        return;
      }
    }
    Step step = cfg.framing == "line"     ? echo_line(s, reader, max)
                : cfg.framing == "length" ? echo_frame(s, reader, max)
                                          : echo_raw(s);
    if (step == Step::Done) return;
  }
}

// A peer that stalls in the middle of a message (or stops reading its echo)
// must not pin a thread forever: reads and writes give up after the idle timeout.
void set_io_timeouts(int fd, double seconds) {
  if (seconds <= 0) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// The worker thread's body: set up, serve, log open and close.
void run_session(int fd, const EchoConfig& cfg, int stop_fd) {
  Session s;
  s.fd = fd;
  const auto started = Clock::now();
  try {
    s.peer = peer_address(fd).to_string();
    set_nodelay(fd);
    set_io_timeouts(fd, cfg.idle_timeout);
    log::event(log::Level::Info, "conn open", {{"peer", s.peer}});
    serve_client(s, cfg, stop_fd);
  } catch (const std::exception& e) {  // a handler error never takes the server down
    fail(s, e.what());
  }
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  const double ms = static_cast<double>(us) / 1000.0;
  log::event(s.failed ? log::Level::Warn : log::Level::Info, "conn close",
             {{"peer", s.peer},
              {"bytes_in", s.bytes_in},
              {"bytes_out", s.bytes_out},
              {"ms", ms},
              {s.failed ? "error" : "reason", s.end}});
}

// ---------------------------------------------------------------------------
// The live connections: a thread each, counted against the client limit.

class Clients {
 public:
  Clients() : wake_(check_sys(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd")) {}
  ~Clients() { join_finished(); }

  // Readable when a worker has finished (the accept loop waits on it when full).
  int wake_fd() const { return wake_.get(); }

  // Serves conn on a new thread. Throws std::system_error if no thread can be made.
  template <typename Serve>
  void spawn(Fd conn, Serve serve) {
    std::lock_guard lock(mu_);
    const std::uint64_t id = next_id_++;
    const int fd = conn.get();
    std::thread worker([this, id, serve, conn = std::move(conn)]() mutable {
      serve(conn.get());
      finished(id, conn);
    });
    live_.emplace(id, Entry{fd, std::move(worker)});
  }

  std::size_t live() const {
    std::lock_guard lock(mu_);
    return live_.size();
  }

  // Joins workers that have returned; drains the wake eventfd.
  void join_finished() {
    std::uint64_t count = 0;
    (void)!::read(wake_.get(), &count, sizeof count);
    std::vector<std::thread> done;
    {
      std::lock_guard lock(mu_);
      done.swap(done_);
    }
    for (auto& t : done) t.join();
  }

  // Waits until every worker has returned or the deadline passes.
  bool wait_all(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [this] { return live_.empty(); });
  }

  // Cuts every live connection off: blocked reads see EOF, blocked writes EPIPE.
  void shutdown_all() {
    std::lock_guard lock(mu_);
    for (auto& [id, entry] : live_) ::shutdown(entry.fd, SHUT_RDWR);
  }

 private:
  struct Entry {
    int fd;
    std::thread thread;
  };

  // Closes the connection under the lock, so shutdown_all never touches a
  // descriptor number that has been closed and reused.
  void finished(std::uint64_t id, Fd& conn) {
    std::lock_guard lock(mu_);
    conn.reset();
    auto it = live_.find(id);
    done_.push_back(std::move(it->second.thread));
    live_.erase(it);
    cv_.notify_all();
    const std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Entry> live_;
  std::vector<std::thread> done_;
  std::uint64_t next_id_ = 0;
  Fd wake_;
};

// ---------------------------------------------------------------------------
// The TCP server: accept loop, then graceful stop.

// SIGINT/SIGTERM: stop accepting, let in-flight echoes finish up to the
// shutdown timeout, then cut off whoever is left and wait for every thread.
void stop_gracefully(Clients& clients, int stop_fd, double shutdown_timeout) {
  log::event(log::Level::Info, "stopping", {{"in_flight", clients.live()}});
  const std::uint64_t one = 1;
  (void)!::write(stop_fd, &one, sizeof one);  // idle workers leave at their next boundary
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(shutdown_timeout));
  if (!clients.wait_all(deadline)) {
    log::event(log::Level::Warn, "shutdown timeout: closing connections still busy",
               {{"connections", clients.live()}});
    clients.shutdown_all();
    clients.wait_all(Clock::time_point::max());
  }
  clients.join_finished();
}

int run_tcp(const EchoConfig& cfg, int signal_fd) {
  Fd listener = listen_tcp(cfg.server.bind, cfg.server.port);
  Fd stop(check_sys(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd"));
  Clients clients;
  const std::size_t limit =
      cfg.concurrency == "iterative" ? 1 : static_cast<std::size_t>(cfg.max_clients);
  announce_listening(listener.get());  // only once every set-up step has succeeded
  log::event(log::Level::Info, "echo-server ready",
             {{"framing", cfg.framing}, {"concurrency", cfg.concurrency}});

  bool was_full = false;
  for (;;) {
    clients.join_finished();
    const bool full = clients.live() >= limit;
    if (full && !was_full && limit > 1)
      log::event(log::Level::Warn, "max clients reached: new clients wait", {{"limit", limit}});
    was_full = full;

    // When full, do not accept: wait for a worker to finish (or a signal).
    const int wait_on = full ? clients.wake_fd() : listener.get();
    if (wait_readable(wait_on, signal_fd, -1) != wait_on) {
      log::event(log::Level::Info, "signal", {{"signo", read_signal(signal_fd)}});
      break;
    }
    if (full) continue;

    Fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) {  // ECONNABORTED, EMFILE, ...: this client is lost, the server is not
      log::event(log::Level::Warn, "accept failed", {{"error", std::strerror(errno)}});
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    try {
      const int stop_fd = stop.get();
      clients.spawn(std::move(conn), [&cfg, stop_fd](int fd) { run_session(fd, cfg, stop_fd); });
    } catch (const std::system_error& e) {
      log::event(log::Level::Error, "cannot start a thread", {{"error", e.what()}});
    }
  }
  listener.reset();  // new connections are refused from here on
  stop_gracefully(clients, stop.get(), cfg.server.shutdown_timeout);
  return 0;
}

// ---------------------------------------------------------------------------
// The UDP server: each datagram goes back to where it came from.

int run_udp(const EchoConfig& cfg, int signal_fd) {
  Fd sock = bind_udp(cfg.server.bind, cfg.server.port);
  announce_listening(sock.get());
  char buf[65536];
  for (;;) {
    if (wait_readable(sock.get(), signal_fd, -1) != sock.get()) break;
    SocketAddress from;
    from.length = sizeof from.storage;
    ssize_t n = ::recvfrom(sock.get(), buf, sizeof buf, MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from.storage), &from.length);
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN)
        log::event(log::Level::Warn, "recvfrom failed", {{"error", std::strerror(errno)}});
      continue;
    }
    if (::sendto(sock.get(), buf, static_cast<std::size_t>(n), 0, from.get(), from.length) < 0)
      log::event(log::Level::Warn, "sendto failed",
                 {{"peer", from.to_string()}, {"error", std::strerror(errno)}});
    log::event(log::Level::Debug, "datagram", {{"peer", from.to_string()}, {"bytes", n}});
  }
  log::event(log::Level::Info, "stopping", {});
  return 0;
}

}  // namespace
}  // namespace serverlab

int main(int argc, char** argv) {
  using namespace serverlab;
  EchoConfig cfg = parse_flags(argc, argv);
  configure_logging(cfg.server);
  try {
    ignore_sigpipe();
    Fd signals = block_signals({SIGINT, SIGTERM});  // before any thread starts
    int rc = cfg.udp ? run_udp(cfg, signals.get()) : run_tcp(cfg, signals.get());
    log::event(log::Level::Info, "stopped", {});
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo-server: %s\n", e.what());
    return 1;
  }
}
