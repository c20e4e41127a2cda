// session.cpp: one echo connection, from accept to close, in one of three framings.
//
//   run_session: set the socket up, log "conn open"
//     serve_client: wait for a message, the stop event or the idle timeout
//       -> echo_raw | echo_line | echo_frame -> repeat
//   log "conn close" with the byte counts, the duration and why it ended
//
// TCP is a byte stream, so what one "message" is depends on the framing:
//   raw:    whatever one read(2) returns goes straight back;
//   line:   a '\n'-terminated line (BufferedReader::read_line);
//   length: a 4-byte big-endian length, then the payload (read_frame).
// Every error ends this connection only: write_n never raises SIGPIPE, nothing
// here exits, and an exception from set-up is caught and logged.
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "echo_server.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/log.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::echo {
namespace {

using Clock = std::chrono::steady_clock;

int to_ms(double seconds) {
  if (seconds <= 0) return -1;  // poll's "forever"
  return static_cast<int>(std::min(seconds * 1000.0, 2.0e9));
}

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

}  // namespace

void run_session(int fd, const EchoConfig& cfg, int stop_fd) {
  Session s;
  s.fd = fd;
  const auto started = Clock::now();
  try {
    s.peer = peer_address(fd).to_string();
    set_nodelay(fd);
    set_io_timeouts(fd, cfg.idle_timeout);
    log::event(log::Level::Info, "conn open", {{"peer", s.peer}});
    if (cfg.tls != nullptr) {
      SessionStats stats;
      serve_tls(fd, cfg, stop_fd, stats);
      s.bytes_in = stats.bytes_in;
      s.bytes_out = stats.bytes_out;
      s.end = stats.end;
      s.failed = stats.failed;
    } else {
      serve_client(s, cfg, stop_fd);
    }
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

}  // namespace serverlab::echo
