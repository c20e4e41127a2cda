// client_conn.hpp: ClientConn, one client connection of the proxy and the
// exchange it is running with a backend.
//
//   ReadHead --head parsed--> pick a backend --+--> Exchange --response done--> ReadHead
//      |                          |            |      | request: head + streamed body
//      |                     none usable: 503  |      | response: head re-written,
//      |                                       |      |           body streamed
//      |                 connect/IO failure, no response byte yet, idempotent,
//      |                 no body, retries left: next backend <---+
//      |                                                       |
//      +-- parse error: 4xx, close          other failures: 502 (504 on timeout)
//                                           or, once the response has begun, close
//
// One request at a time per client: bytes of a pipelined next request wait in the
// input buffer until the current response is done.
//
// Timeouts (one loop timer, re-armed lazily): header (a request head must arrive),
// keep-alive (idle between requests), connect (backend handshake), read (a backend
// silent mid-exchange), write (a client not reading our output). What expires
// decides the answer: 408/close for a head, 504 for a backend that never answered.
//
// Who may call: ProxyServer (which owns it) and the EventLoop, on the loop thread.
// Never throws out of a handler: errors close the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend.hpp"
#include "event_loop.hpp"
#include "response_head.hpp"
#include "routes.hpp"
#include "serverlab/buffer.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/parser.hpp"

namespace serverlab::proxy {

class ProxyServer;
struct Routing;

class ClientConn final : public EventHandler, public UpstreamUser {
 public:
  ClientConn(ProxyServer& server, Fd fd, std::string peer_ip);
  ~ClientConn();
  ClientConn(const ClientConn&) = delete;
  ClientConn& operator=(const ClientConn&) = delete;

  void start();  // registers with the loop; throws SysError
  void on_event(std::uint32_t events) override;
  void on_upstream(std::uint32_t events) override;
  // Graceful stop: an idle connection closes now, a busy one after its response.
  void shutdown();
  void close();
  bool idle() const;
  bool closed() const { return phase_ == Phase::Closed; }

  std::size_t index = 0;  // the server's index of this connection

 private:
  enum class Phase { ReadHead, Exchange, Closing, Closed };

  // ---- the pump: moves bytes until nothing more can move, then sets interests.
  void drive();
  bool read_client();
  bool write_client();
  bool read_upstream();
  bool write_upstream();
  bool process_client_input();
  bool process_upstream_input();
  void update_interest();

  // ---- requests
  bool parse_head();
  void begin_request(const http::Request& request, std::size_t head_length);
  void build_upstream_head(const http::Request& request);
  bool forward_request_body();
  void send_to_backend();
  bool serve_locally(const http::Request& request);

  // ---- responses
  bool on_response_head();
  bool forward_response_body();
  void response_done();
  void emit_response_head();

  // ---- failures
  void upstream_failed(UpstreamError kind);
  bool may_retry() const;
  void answer_error(int status, bool close_after);
  void abort_exchange();
  void drop_upstream();

  // ---- timers
  void set_deadline(double seconds);
  void on_timer();
  void on_deadline();
  void log_access(int status);

  ProxyServer& server_;
  EventLoop& loop_;
  Fd fd_;
  std::string peer_ip_;
  Phase phase_ = Phase::ReadHead;
  std::uint32_t interest_ = 0;
  bool can_read_ = false;
  bool can_write_ = true;
  bool client_eof_ = false;
  bool close_after_ = false;  // close once this response has left
  std::uint64_t served_ = 0;

  Buffer in_;   // from the client
  Buffer out_;  // to the client
  http::Request request_;
  std::size_t head_scanned_ = 0;  // parse only when a new line may have ended the head

  // The exchange in progress.
  http::Method method_ = http::Method::Unknown;
  bool idempotent_ = false;
  bool has_body_ = false;
  int client_minor_ = 1;
  bool client_keep_alive_ = true;
  std::string request_line_;  // for the access log
  std::string user_agent_;
  std::string hash_key_;
  std::string upstream_head_;  // the re-framed head (kept for a retry)
  std::shared_ptr<Routing> routing_;  // the routing the current request started with
  const Route* route_ = nullptr;      // its route, inside *routing_
  std::string scratch_;        // the response head being re-written
  http::BodyDecoder request_body_;
  bool request_body_done_ = true;
  std::vector<Backend*> tried_;
  UpstreamError last_failure_ = UpstreamError::Connect;
  Backend* backend_ = nullptr;       // the backend serving this attempt (counted in its active)
  Backend* last_backend_ = nullptr;  // the last one tried, for the access log
  std::unique_ptr<UpstreamConn> upstream_;
  bool up_can_read_ = false;
  bool up_can_write_ = false;
  bool up_eof_ = false;
  Buffer up_out_;  // to the backend
  Buffer up_in_;   // from the backend
  bool response_byte_seen_ = false;  // any byte from the backend on this attempt
  bool response_started_ = false;    // a response head has gone to the client
  ResponseHead response_;
  http::BodyDecoder response_body_;
  bool close_delimited_ = false;
  bool response_complete_ = false;
  int status_ = 0;
  std::uint64_t bytes_sent_ = 0;  // response body bytes forwarded
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point upstream_started_{};
  double upstream_seconds_ = -1;

  TimerId timer_;
  std::uint64_t timer_at_ms_ = 0;
  std::uint64_t deadline_ms_ = 0;
  enum class Wait { Head, KeepAlive, Connect, Read, Write } wait_ = Wait::Head;
};

}  // namespace serverlab::proxy
