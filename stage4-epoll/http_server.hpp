// http_server.hpp: EpollHttpServer, the accept side and connection registry of http-epoll.
//
// Why a class and not main(): stage 5's worker processes run the same server on
// their own EventLoop, either accepting from a shared/SO_REUSEPORT listening
// socket (listen()) or taking connections the master passed over a socketpair
// (adopt()).
//
//   listening fd readable --> accept4 until EAGAIN --> adopt(fd) --> Connection
//        | EMFILE/ENFILE: close the spare fd, accept, close, reopen the spare
//        |   (SpareFd: the pending client gets a clean close instead of a busy loop)
//        | --max-conns-per-ip reached for the peer's address: 429 + close at
//        |   once (over HTTPS: close), never a Connection (middleware_state.hpp)
//        | --max-connections reached: stop watching the listening fd; watch it
//        |   again when a connection closes
//
// Graceful shutdown (shutdown()): stop accepting, close idle connections, let
// busy ones finish their current response with Connection: close; when the last
// one is gone (or the grace period ends and the rest are closed) the loop stops.
//
// Closed connections are deleted in before_sleep(), not from inside their own
// handler: call it from the loop's before_sleep hook.
//
// Who may call: main() of http-epoll and stage 5's workers, which own the server
// and its loop, plus the loop itself (on_event, timers) and Connection (release);
// all on the loop thread (not thread-safe). Setup (the constructor, listen())
// throws SysError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "session_pool.hpp"
#include "event_loop.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/rate_limit.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/tls/context.hpp"

namespace serverlab {

class Connection;

struct EpollServerOptions {
  std::size_t max_connections = 0;  // 0: no limit but the fd limit
  double shutdown_timeout = 5.0;    // seconds busy connections get to finish
  // Register the listening fd with EPOLLEXCLUSIVE: for a socket several processes
  // accept on (stage 5's --accept shared), so one connection wakes one of them, not
  // all. Exclusive registrations cannot be modified, so pausing removes the fd from
  // the loop and resuming adds it again.
  bool exclusive_accept = false;
  SessionPoolOptions sessions;
  // Serve HTTPS: every connection starts with a TLS handshake (Connection's
  // header comment). Null: plain HTTP. Made by main() (stage 5: before fork);
  // must outlive the server.
  const tls::TlsContext* tls = nullptr;
};

class EpollHttpServer final : public EventHandler {
 public:
  EpollHttpServer(EventLoop& loop, const http::HttpService& service, EpollServerOptions options);
  ~EpollHttpServer();
  EpollHttpServer(const EpollHttpServer&) = delete;
  EpollHttpServer& operator=(const EpollHttpServer&) = delete;

  // Accepts connections from `listen_fd` (made non-blocking here).
  void listen(Fd listen_fd);
  // Serves a connected socket accepted elsewhere. Returns false (closing it) if it
  // cannot be registered.
  bool adopt(Fd fd, std::string_view peer);
  // Stops accepting for good (the listening fd is closed in this process); open
  // connections carry on. Stage 5's workers call it when they start draining.
  void stop_accepting();
  // Begins the graceful stop described above. A second call closes everything now.
  void shutdown();
  // Deletes closed connections; call once per loop iteration (before_sleep hook).
  void before_sleep();

  // The listening socket is readable.
  void on_event(std::uint32_t events) override;

  std::size_t connection_count() const { return connections_.size(); }
  bool accepting() const { return accepting_; }
  bool shutting_down() const { return shutting_down_; }
  EventLoop& loop() { return loop_; }
  const http::HttpService& service() const { return service_; }
  const tls::TlsContext* tls() const { return options_.tls; }
  // HttpSessions lent to busy connections (idle ones hold none).
  SessionPool& sessions() { return sessions_; }

  // Connection calls this when it has closed: ownership moves to the graveyard.
  void release(Connection& connection);

 private:
  bool add_connection(Fd fd, std::string_view peer);  // fd already non-blocking
  std::uint32_t listen_events() const;
  void pause_accepting();
  void resume_accepting();
  void close_all();

  EventLoop& loop_;
  const http::HttpService& service_;
  EpollServerOptions options_;
  SessionPool sessions_;  // before connections_: destroyed after them
  Fd listen_;
  SpareFd spare_;  // an fd held in reserve for the EMFILE trick
  bool accepting_ = false;
  bool shutting_down_ = false;
  TimerId shutdown_timer_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
};

}  // namespace serverlab
