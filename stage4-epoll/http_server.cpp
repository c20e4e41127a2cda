#include "http_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "connection.hpp"
#include "serverlab/http/middleware_state.hpp"
#include "serverlab/log.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {

EpollHttpServer::EpollHttpServer(EventLoop& loop, const http::HttpService& service,
                                 EpollServerOptions options)
    : loop_(loop), service_(service), options_(options), sessions_(service, options.sessions) {}

EpollHttpServer::~EpollHttpServer() {
  if (accepting_) loop_.remove(listen_.get());
  loop_.cancel(shutdown_timer_);
  connections_.clear();  // each removes itself from the loop
  graveyard_.clear();
}

void EpollHttpServer::listen(Fd listen_fd) {
  set_nonblocking(listen_fd.get());
  listen_ = std::move(listen_fd);
  loop_.add(listen_.get(), listen_events(), *this);
  accepting_ = true;
}

bool EpollHttpServer::adopt(Fd fd, std::string_view peer) {
  try {
    set_nonblocking(fd.get());
  } catch (const SysError& e) {
    log::warn("dropping a passed connection: {}", e.what());
    return false;
  }
  return add_connection(std::move(fd), peer);
}

bool EpollHttpServer::add_connection(Fd fd, std::string_view peer) {
  if (shutting_down_) return false;
  // --max-conns-per-ip: the limiter lives in the service's MiddlewareState, which
  // every generation of this process shares (stage 5: one per worker process).
  auto slot = service_.state().connections().acquire(peer);
  if (!slot) {
    http::refuse_over_connection_limit(std::move(fd), service_, options_.tls != nullptr);
    return false;
  }
  // Per-connection trouble (ENOMEM, epoll refusing the fd) never stops the server.
  try {
    set_nodelay(fd.get());  // responses go out in one send; don't hold back the tail
    connections_.push_back(
        std::make_unique<Connection>(*this, std::move(fd), peer, std::move(*slot)));
  } catch (const std::exception& e) {
    log::warn("dropping a connection: {}", e.what());
    if (Metrics* m = service_.metrics()) m->error("accept");
    return false;
  }
  Connection& connection = *connections_.back();
  connection.index = connections_.size() - 1;
  try {
    connection.start();
  } catch (const SysError& e) {
    log::warn("dropping a connection: {}", e.what());
    if (Metrics* m = service_.metrics()) m->error("accept");
    connections_.pop_back();  // never registered: nothing to undo in the loop
    return false;
  }
  if (options_.max_connections != 0 && connections_.size() >= options_.max_connections)
    pause_accepting();
  return true;
}

void EpollHttpServer::on_event(std::uint32_t /*events*/) {
  // Accept until EAGAIN: edge-triggered, nothing would tell us about the rest;
  // level-triggered, it saves an epoll_wait per connection in a burst.
  while (accepting_) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      SocketAddress peer{address, length};
      add_connection(Fd(fd), peer.host());
      continue;
    }
    switch (classify_accept_error(errno)) {
      case AcceptFailure::Drained:
        return;
      case AcceptFailure::Retry:  // e.g. the client gave up while queued: try the next one
        continue;
      case AcceptFailure::OutOfFds:
        // A pending client would keep the listening socket readable forever (a
        // busy loop): SpareFd accepts and closes it. No room even for that (the
        // descriptor went elsewhere): wait for a connection to close.
        if (Metrics* m = service_.metrics()) m->error("accept");
        if (!spare_.shed_one(listen_.get())) pause_accepting();
        continue;
      case AcceptFailure::Resources:  // ENOBUFS, ENOMEM: transient; the listening fd stays readable
        log::warn("accept4: {}", std::strerror(errno));
        if (Metrics* m = service_.metrics()) m->error("accept");
        return;
    }
  }
}

std::uint32_t EpollHttpServer::listen_events() const {
  return options_.exclusive_accept ? (kReadable | EPOLLEXCLUSIVE) : kReadable;
}

void EpollHttpServer::pause_accepting() {
  if (!accepting_ || !listen_) return;
  if (options_.exclusive_accept) {
    loop_.remove(listen_.get());  // EPOLL_CTL_MOD is refused for EPOLLEXCLUSIVE
  } else {
    loop_.modify(listen_.get(), 0);  // epoll reports nothing but errors now
  }
  accepting_ = false;
}

void EpollHttpServer::resume_accepting() {
  if (accepting_ || !listen_ || shutting_down_) return;
  if (options_.exclusive_accept) {
    loop_.add(listen_.get(), listen_events(), *this);
  } else {
    loop_.modify(listen_.get(), kReadable);  // EPOLL_CTL_MOD re-reports a pending client
  }
  accepting_ = true;
}

void EpollHttpServer::release(Connection& connection) {
  const std::size_t i = connection.index;
  std::unique_ptr<Connection> owned = std::move(connections_[i]);
  if (i + 1 != connections_.size()) {
    connections_[i] = std::move(connections_.back());
    connections_[i]->index = i;
  }
  connections_.pop_back();
  owned->give_back_slot();  // now, not when the graveyard is cleared
  graveyard_.push_back(std::move(owned));

  if (shutting_down_) {
    if (connections_.empty()) {
      loop_.cancel(shutdown_timer_);
      loop_.stop();
    }
    return;
  }
  if (options_.max_connections == 0 || connections_.size() < options_.max_connections) {
    try {
      resume_accepting();
    } catch (const SysError& e) {
      log::error("cannot resume accepting: {}", e.what());
    }
  }
}

void EpollHttpServer::before_sleep() { graveyard_.clear(); }

void EpollHttpServer::stop_accepting() {
  if (listen_) {
    loop_.remove(listen_.get());
    listen_.reset();  // resume_accepting() does nothing without a listening fd
  }
  accepting_ = false;
}

void EpollHttpServer::shutdown() {
  if (shutting_down_) {  // asked twice: no more grace
    close_all();
    return;
  }
  shutting_down_ = true;
  stop_accepting();  // new clients are refused by the kernel from now on
  log::info("shutting down: {} connection(s) open", connections_.size());
  // Pointers first: a connection that closes leaves connections_ at once.
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& c : connections_) open.push_back(c.get());
  for (Connection* c : open) c->shutdown();
  if (connections_.empty()) {
    loop_.stop();
    return;
  }
  const auto grace_ms = static_cast<std::uint64_t>(options_.shutdown_timeout * 1000.0);
  shutdown_timer_ = loop_.run_after(grace_ms, [this] {
    shutdown_timer_ = {};
    if (!connections_.empty()) {
      log::warn("shutdown timeout: closing {} busy connection(s)", connections_.size());
      if (Metrics* m = service_.metrics()) m->error("shutdown");
    }
    close_all();
  });
}

void EpollHttpServer::close_all() {
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& c : connections_) open.push_back(c.get());
  for (Connection* c : open) c->close();
  if (shutting_down_) loop_.stop();
}

}  // namespace serverlab
