#include "serverlab/http/serve.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "serverlab/http/send_output.hpp"
#include "serverlab/http/session.hpp"
#include "serverlab/log.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = std::size_t{1} << 20;
constexpr int kStopPollMs = 200;  // how often an atomic-only stop flag is re-checked

int millis_until(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

bool readable_now(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// Half-closes and reads what the peer still sends (bounded in bytes and time), so
// the close() that follows does not turn unread input into a RST that could
// destroy the response before the peer has read it (nginx's lingering close).
void lingering_close(int fd) {
  ::shutdown(fd, SHUT_WR);
  auto until = Clock::now() + kLingerTime;
  std::size_t drained = 0;
  char sink[16 * 1024];
  while (drained < kLingerBytes) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, millis_until(until));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    ssize_t got = ::recv(fd, sink, sizeof sink, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return;
    drained += static_cast<std::size_t>(got);
  }
}

bool input_pending(int fd) {
  char byte;
  return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

}  // namespace

void serve_connection(Fd fd, const HttpService& service, const ConnectionOptions& options) {
  std::string peer = options.peer;
  try {
    if (peer.empty()) peer = peer_address(fd.get()).host();
    set_nonblocking(fd.get());
  } catch (const std::exception& e) {
    log::debug("connection setup failed: {}", e.what());
    return;
  }
  HttpSession session(service, peer);
  bool stopping = false;
  auto grace_deadline = Clock::time_point::max();
  bool yielding = false;                           // one more response, then close
  auto yield_deadline = Clock::time_point::max();  // yielding and idle: close then
  bool io_error = false;

  for (;;) {
    if (!stopping && ((options.stopping != nullptr && options.stopping->load()) ||
                      readable_now(options.stop_fd))) {
      stopping = true;
      session.shutdown();
      grace_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(options.shutdown_grace));
    }
    if (!yielding && options.yield != nullptr && options.yield->load()) yielding = true;
    if (yielding && !stopping && session.idle()) {
      if (yield_deadline == Clock::time_point::max()) {
        yield_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(options.yield_idle));
      } else if (Clock::now() >= yield_deadline) {
        stopping = true;  // silent for yield_idle: close quietly
        session.shutdown();
      }
    }
    HttpSession::Want want = session.want();
    if (want == HttpSession::Want::Close) break;

    bool blocked = false;
    if (want == HttpSession::Want::Write) {
      switch (send_output(fd.get(), session)) {
        case SendStep::Progress:
          break;
        case SendStep::Blocked:
          blocked = true;
          break;
        case SendStep::Failed:
          io_error = true;
          break;
      }
    } else {
      IoResult r = session.input().read_from(fd.get());
      if (r.is_ok()) {
        if (yielding && !stopping) {  // before parsing: this request's response says close
          stopping = true;
          session.shutdown();
        }
        session.on_input();
      }
      else if (r.is_eof()) session.on_eof();
      else if (r.status == IoResult::Status::WouldBlock) blocked = true;
      else io_error = true;
    }
    if (io_error) break;
    if (!blocked) continue;

    bool yield_wait = yielding && !stopping;
    auto deadline = std::min(session.deadline(), grace_deadline);
    if (yield_wait) deadline = std::min(deadline, yield_deadline);
    if (Clock::now() >= deadline) {
      if (Clock::now() >= grace_deadline) break;  // shutting down: out of time
      if (yield_wait && Clock::now() >= yield_deadline) continue;  // the top closes it
      session.on_timeout();
      continue;
    }
    int timeout = millis_until(deadline);
    bool flag_to_watch = (options.stopping != nullptr && !stopping) ||
                         (options.yield != nullptr && !yielding);
    if (flag_to_watch) timeout = std::min(timeout, kStopPollMs);
    pollfd fds[2] = {{fd.get(), want == HttpSession::Want::Write ? short{POLLOUT} : short{POLLIN}, 0},
                     {options.stop_fd, POLLIN, 0}};
    nfds_t count = (options.stop_fd >= 0 && !stopping) ? 2 : 1;
    if (::poll(fds, count, timeout) < 0 && errno != EINTR) break;
  }
  if (io_error) {
    if (Metrics* m = service.metrics()) m->error("io");
    return;  // the peer is gone: nothing to linger for
  }
  if (session.linger() || !session.input().empty() || input_pending(fd.get()))
    lingering_close(fd.get());
}

}  // namespace serverlab::http
