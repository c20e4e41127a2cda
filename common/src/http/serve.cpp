#include "serverlab/http/serve.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>

#include "serverlab/http/send_output.hpp"
#include "serverlab/http/tls_transport.hpp"
#include "serverlab/log.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::http {
namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

int millis_until(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

bool input_pending(int fd) {
  char byte;
  return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

// Waits until fd is ready for `events` or stop_fd is readable, at most until
// `deadline`. False when the deadline passed or the stop signal came first.
bool wait_for(int fd, short events, int stop_fd, Clock::time_point deadline) {
  for (;;) {
    if (Clock::now() >= deadline) return false;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const nfds_t count = stop_fd >= 0 ? 2 : 1;
    const int n = ::poll(fds, count, millis_until(deadline));
    if (n < 0 && errno != EINTR) return false;
    if (count == 2 && fds[1].revents != 0) return false;
    if (n > 0 && fds[0].revents != 0) return true;
  }
}

// The TLS handshake, blocking this thread for at most --header-timeout (a
// stalled client is dropped then, counted as a timeout). True when it is done;
// false when it failed (the peer has been answered: see TlsTransport::refuse).
bool handshake(int fd, TlsTransport& tls, const HttpService& service, int stop_fd,
               std::string_view peer) {
  const auto deadline = after(service.config().header_timeout);
  for (;;) {
    switch (tls.handshake(fd)) {
      case TlsTransport::Handshake::Done:
        return true;
      case TlsTransport::Handshake::Failed:
        break;
      case TlsTransport::Handshake::Blocked:
        if (wait_for(fd, tls.wants_write() ? POLLOUT : POLLIN, stop_fd, deadline)) continue;
        tls.timed_out();  // out of time, or the server is stopping
        break;
    }
    const tls::TlsSession& s = tls.session();
    log::debug("tls: handshake with {} failed: {} ({})", peer, tls::failure_name(s.failure()),
               s.error());
    if (tls.refuse(fd)) lingering_close(fd);  // the 400 for plain HTTP
    return false;
  }
}

}  // namespace

std::optional<ParkedConnection> serve_connection(Fd fd, const HttpService& service,
                                                 const ConnectionOptions& options) {
  std::string peer = options.peer;
  try {
    if (peer.empty()) peer = peer_address(fd.get()).host();
    set_nonblocking(fd.get());
  } catch (const std::exception& e) {
    log::debug("connection setup failed: {}", e.what());
    return std::nullopt;
  }
  std::unique_ptr<TlsTransport> tls;
  if (options.tls != nullptr) {
    try {
      tls = std::make_unique<TlsTransport>(*options.tls);
    } catch (const std::exception& e) {
      log::warn("tls: cannot serve {}: {}", peer, e.what());
      return std::nullopt;
    }
    tls->session().feed(options.preread);  // the start of the ClientHello
    if (!handshake(fd.get(), *tls, service, options.stop_fd, peer)) return std::nullopt;
  }
  HttpSession session(service, HttpSession::Pooled{});  // counts no connection: the caller does
  session.start(peer, options.resume.value_or(HttpSession::opening(service)));
  if (tls) session.set_user(tls->session().peer_subject());
  if (!tls && !options.preread.empty()) {
    session.input().append(options.preread);
    session.on_input();
  }
  bool stopping = false;
  auto grace_deadline = Clock::time_point::max();
  auto park_at = Clock::time_point::max();  // idle since the last byte read: park then
  bool io_error = false;
  bool park = false;

  for (;;) {
    HttpSession::Want want = session.want();
    const bool flushing = tls && tls->wants_write();  // ciphertext leaves before anything else
    if (want == HttpSession::Want::Close && !flushing) break;

    bool blocked = false;
    if (flushing || want == HttpSession::Want::Write) {
      const SendStep step = flushing ? tls->flush(fd.get())
                            : tls    ? tls->send_output(fd.get(), session)
                                     : send_output(fd.get(), session);
      switch (step) {
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
      IoResult r = tls ? tls->read_into(fd.get(), session.input())
                       : session.input().read_from(fd.get());
      if (r.is_ok()) {
        park_at = Clock::time_point::max();
        session.on_input();
      } else if (r.is_eof()) {
        session.on_eof();
      } else if (r.status == IoResult::Status::WouldBlock) {
        blocked = true;
      } else {
        io_error = true;
      }
    }
    if (io_error) break;
    if (!blocked) continue;

    if (!stopping && !tls && session.idle()) {  // between requests: park?
      if (options.park_idle >= 0 && park_at == Clock::time_point::max())
        park_at = after(options.park_idle);
      park = Clock::now() >= park_at || (options.park_now != nullptr && options.park_now->load());
      if (park) break;
    }
    auto deadline = std::min({session.deadline(), grace_deadline, park_at});
    if (Clock::now() >= deadline) {
      if (Clock::now() >= grace_deadline) break;  // shutting down: out of time
      if (Clock::now() >= session.deadline()) session.on_timeout();
      continue;
    }
    const bool writing = flushing || want == HttpSession::Want::Write;
    pollfd fds[2] = {{fd.get(), writing ? short{POLLOUT} : short{POLLIN}, 0},
                     {options.stop_fd, POLLIN, 0}};
    nfds_t count = (options.stop_fd >= 0 && !stopping) ? 2 : 1;
    if (::poll(fds, count, millis_until(deadline)) < 0 && errno != EINTR) break;
    if (count == 2 && fds[1].revents != 0) {  // the stop signal: finish up within the grace
      stopping = true;
      park_at = Clock::time_point::max();
      session.shutdown();
      grace_deadline = after(options.shutdown_grace);
    }
  }
  if (io_error) {
    if (Metrics* m = service.metrics()) m->error("io");
    return std::nullopt;  // the peer is gone: nothing to linger for
  }
  if (park)
    return ParkedConnection{std::move(fd), session.carry(), std::move(peer)};
  if (tls) tls->close(fd.get());  // close_notify, if the socket takes it now
  if (session.linger() || !session.input().empty() || input_pending(fd.get()))
    lingering_close(fd.get());
  return std::nullopt;
}

}  // namespace serverlab::http
