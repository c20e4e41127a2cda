#include "acceptor.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

#include "serverlab/buffer.hpp"
#include "serverlab/http/access_log.hpp"
#include "serverlab/http/date.hpp"
#include "serverlab/http/response.hpp"
#include "serverlab/log.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {
namespace {

constexpr int kTickMs = 50;             // re-check fairness while connections queue
constexpr int kMaxAcceptsPerWake = 64;  // then serve the waiting set too
constexpr auto kBackOff = std::chrono::milliseconds(100);  // accept failed for lack of room

// Has the head ended? A blank line: "\r\n\r\n" (or a bare "\n\n", which the parser
// also accepts). Looks only at what `from` bytes back could not have shown already.
bool head_complete(std::string_view head, std::size_t from) {
  std::string_view tail = head.substr(from >= 3 ? from - 3 : 0);
  return tail.find("\n\r\n") != std::string_view::npos ||
         tail.find("\n\n") != std::string_view::npos;
}

std::chrono::steady_clock::time_point after(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(seconds));
}

}  // namespace

void answer_and_close(Fd client, int status, const http::HttpService& service) {
  http::Response r;
  service.error(status, r);
  r.close = true;
  if (status == 503) r.add_header("Retry-After", "1");
  Buffer out;
  http::append_response_head(out, r, false, http::current_http_date());
  out.append(r.text);
  (void)::send(client.get(), out.peek(), out.readable_bytes(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(client.get(), SHUT_WR);
  std::size_t budget = kLingerBytes;
  (void)drain_for_linger(client.get(), budget);  // one pass: this thread must not wait
}

Acceptor::Acceptor(Fd listener, int stop_fd, const Snapshot<http::HttpService>& services,
                   bool reject_when_full)
    : listener_(std::move(listener)),
      stop_fd_(stop_fd),
      services_(services),
      reject_when_full_(reject_when_full),
      returns_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!returns_) throw SysError("eventfd");
  set_nonblocking(listener_.get());  // accept until EAGAIN, never block in accept4
}

void Acceptor::run(WorkerPool<Ready>& pool, Fairness& fairness) {
  announce_listening(listener_.get());
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({stop_fd_, POLLIN, 0});
    fds.push_back({returns_.get(), POLLIN, 0});
    bool accepting = Clock::now() >= accept_resume_;
    fds.push_back({accepting ? listener_.get() : -1, POLLIN, 0});  // poll skips fd -1
    for (const Waiting& w : waiting_) fds.push_back({w.fd.get(), POLLIN, 0});
    const int timeout_ms = http::AccessLog::flush_due(poll_timeout(pool));  // buffered log lines
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR)
      throw SysError("poll");
    if (fds[0].revents != 0) break;  // a stop request wins over everything

    // From the back: handing off or dropping i moves the last one (already seen) to i.
    for (std::size_t i = waiting_.size(); i-- > 0;) {
      if (fds[3 + i].revents != 0) on_readable(i, pool);
    }
    expire_deadlines();
    if (fds[1].revents != 0) take_returned();
    if (fds[2].revents != 0) accept_clients();
    waiting_count_.store(waiting_.size(), std::memory_order_relaxed);
    fairness.rebalance(pool.queued());
  }

  listener_.reset();  // new clients are refused now, not left in the backlog
  std::lock_guard lock(returned_mutex_);
  closed_ = true;
  for (std::size_t i = 0; i < returned_.size(); ++i) {
    if (Metrics* m = service()->metrics()) m->connection_closed();
  }
  returned_.clear();
  while (!waiting_.empty()) drop(waiting_.size() - 1, 0);
  waiting_count_.store(0, std::memory_order_relaxed);
}

void Acceptor::give_back(http::ParkedConnection parked, http::ConnectionLimiter::Slot slot) {
  std::lock_guard lock(returned_mutex_);
  if (closed_) {
    if (Metrics* m = service()->metrics()) m->connection_closed();
    return;  // parked.fd closes here (and the slot is given back)
  }
  returned_.push_back({std::move(parked), std::move(slot)});
  const std::uint64_t one = 1;
  (void)::write(returns_.get(), &one, sizeof one);  // a counter: never blocks short of 2^64
}

int Acceptor::poll_timeout(const WorkerPool<Ready>& pool) const {
  auto next = Clock::time_point::max();
  for (const Waiting& w : waiting_) next = std::min(next, w.deadline);
  if (Clock::now() < accept_resume_) next = std::min(next, accept_resume_);
  long long ms = -1;
  if (next != Clock::time_point::max()) {
    ms = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()).count();
    ms = std::clamp<long long>(ms, 0, 1 << 30);
  }
  if (pool.queued() > 0 && (ms < 0 || ms > kTickMs)) ms = kTickMs;
  return static_cast<int>(ms);
}

void Acceptor::accept_clients() {
  for (int n = 0; n < kMaxAcceptsPerWake; ++n) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    Fd client(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                        SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (client) {
      const auto current = service();
      std::string peer = SocketAddress{address, length}.host();
      auto slot = current->state().connections().acquire(peer);
      if (!slot) {  // --max-conns-per-ip: this address has enough open
        http::refuse_over_connection_limit(std::move(client), *current, tls_);
        continue;
      }
      if (Metrics* m = current->metrics()) m->connection_opened();
      auto opening = http::HttpSession::opening(*current);
      waiting_.push_back({std::move(client), std::move(*slot), std::move(peer), {}, std::nullopt,
                          opening.deadline});
      continue;
    }
    const int err = errno;
    switch (classify_accept_error(err)) {
      case AcceptFailure::Retry:
        continue;
      case AcceptFailure::Drained:
        return;
      case AcceptFailure::OutOfFds:
        if (Metrics* m = service()->metrics()) m->error("accept");
        if (spare_.shed_one(listener_.get())) continue;
        accept_resume_ = Clock::now() + kBackOff;  // not even room to shed: wait a little
        return;
      case AcceptFailure::Resources:
        if (Metrics* m = service()->metrics()) m->error("accept");
        log::warn("accept4: {}", std::strerror(err));
        accept_resume_ = Clock::now() + kBackOff;
        return;
    }
  }
}

void Acceptor::take_returned() {
  std::uint64_t count;
  (void)::read(returns_.get(), &count, sizeof count);
  std::vector<Returned> back;
  {
    std::lock_guard lock(returned_mutex_);
    back.swap(returned_);
  }
  for (Returned& r : back) {
    http::ParkedConnection& p = r.parked;
    auto deadline = p.carry.deadline;  // the keep-alive timeout, running since it went idle
    waiting_.push_back(
        {std::move(p.fd), std::move(r.slot), std::move(p.peer), {}, p.carry, deadline});
  }
}

void Acceptor::on_readable(std::size_t i, WorkerPool<Ready>& pool) {
  Waiting& w = waiting_[i];
  char buf[4096];
  const ssize_t n = ::recv(w.fd.get(), buf, sizeof buf, 0);  // the socket is non-blocking
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) return drop(i, 0);    // the peer closed (or reset) before finishing a head
  if (w.head.empty() && w.carry) {  // a parked connection's next request has begun
    w.deadline = after(service()->config().header_timeout);
    w.carry->timer = http::HttpSession::Timer::Header;
    w.carry->deadline = w.deadline;
  }
  const std::size_t before = w.head.size();
  w.head.append(buf, static_cast<std::size_t>(n));
  if (tls_ || head_complete(w.head, before) || w.head.size() > service()->config().max_header_bytes)
    hand_off(i, pool);
}

void Acceptor::hand_off(std::size_t i, WorkerPool<Ready>& pool) {
  Waiting& w = waiting_[i];
  Ready ready{std::move(w.fd), std::move(w.slot), std::move(w.peer), std::move(w.head), w.carry};
  remove(i);
  if (!reject_when_full_) {
    pool.submit(std::move(ready));  // blocks while the queue is full (--overload block)
    return;
  }
  if (pool.try_submit(ready)) return;
  answer_and_close(std::move(ready.fd), 503, *service());
  if (Metrics* m = service()->metrics()) {
    m->error("overload");
    m->connection_closed();
  }
}

void Acceptor::expire_deadlines() {
  const auto now = Clock::now();
  for (std::size_t i = waiting_.size(); i-- > 0;) {
    if (waiting_[i].deadline > now) continue;
    if (waiting_[i].head.empty()) {
      drop(i, 0);  // a connection that never spoke, or an idle keep-alive one
    } else {
      if (Metrics* m = service()->metrics()) m->error("timeout");
      drop(i, 408);
    }
  }
}

void Acceptor::drop(std::size_t i, int status) {
  Fd fd = std::move(waiting_[i].fd);
  remove(i);
  if (status != 0) {
    answer_and_close(std::move(fd), status, *service());
  } else {
    ::shutdown(fd.get(), SHUT_WR);  // FIN now; unread bytes (if any) are read below
    std::size_t budget = kLingerBytes;
    (void)drain_for_linger(fd.get(), budget);
  }
  if (Metrics* m = service()->metrics()) m->connection_closed();
}

void Acceptor::remove(std::size_t i) {
  if (i + 1 != waiting_.size()) waiting_[i] = std::move(waiting_.back());
  waiting_.pop_back();
}

}  // namespace serverlab
