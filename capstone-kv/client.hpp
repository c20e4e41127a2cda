// client.hpp: Client, one connection to kv-server on the stage 4 EventLoop.
//
//   EPOLLIN --> on_event --> read into in_ --> process_input():
//                 while a whole command is in in_ (resp::parse_command):
//                   execute it (commands.hpp), its reply is appended to out_
//               --> server.want_flush(*this): out_ is written in the loop's
//                   before_sleep, once per iteration for all that came in (so a
//                   pipeline of 16 commands costs one write)
//   EPOLLOUT --> the rest of out_, when the socket was full
//
// Limits, each with its reason:
//   - out_ holding more than kPauseOutput bytes unsent: stop running this
//     client's commands (and reading its socket) until it reads its replies. A
//     client that pipelines without reading cannot make the server buffer
//     without bound, and nobody is disconnected for it.
//   - pushed messages (PUBLISH to a subscriber) cannot wait: a subscriber whose
//     unsent output passes the server's output limit is disconnected.
//   - in_ is bounded by the parser's limits (a command's bytes) plus one read.
//   - a protocol error gets "-ERR Protocol error: ..." and the connection closes
//     once that reply is sent (Redis does the same: the stream cannot be resynced).
//
// TLS (when the server has a TlsContext): the handshake is a state before any
// RESP, driven by common's http::TlsTransport (the same step stage 4's HTTP
// Connection uses), one step per readiness event:
//
//   accepted --> handshake --done--> RESP as above: read_into() decrypts into in_,
//                  |                 flush() encrypts out_ in 16 KiB records
//                  | interest: EPOLLOUT while our flight waits, else EPOLLIN
//                  | kHandshakeTimeoutMs after accept: closed
//                  +--failed (plain RESP, no client certificate under
//                    --tls-verify-client require, ...)--> the alert, close
//
// A failed handshake harms nobody else: it is one client closing.
//
// States that change what a command does: not authenticated (requirepass),
// inside MULTI (commands are queued), subscribed (only (P)(UN)SUBSCRIBE, PING,
// QUIT, RESET run), blocked (BLPOP and friends: input waits until it is served
// or times out).
//
// Who may call: KvServer (which owns every Client), the EventLoop (on_event, timers)
// and the command handlers, all on the loop thread. Never throws out of on_event:
// I/O errors close the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "event_loop.hpp"
#include "serverlab/buffer.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/http/tls_transport.hpp"
#include "serverlab/resp/parser.hpp"
#include "store.hpp"

namespace serverlab::kv {

class KvServer;
struct CommandSpec;
struct WorkerSession;

// What CLIENT LIST shows of one client: a copy, so that the threads model can
// hand one worker's view of its client to another (threads_server.hpp).
struct ClientInfo {
  std::uint64_t id = 0;
  std::string peer;
  int fd = -1;
  std::string name;
  std::int64_t created_ms = 0, last_active_ms = 0;  // monotonic
  char flag = 'N';  // b blocked, x in MULTI, P subscribed, N none
  std::size_t channels = 0, patterns = 0;
  int multi = -1;  // commands queued in MULTI, or -1
  std::size_t output = 0;
  std::string last_command;
};

class Client final : public EventHandler {
 public:
  static constexpr std::size_t kPauseOutput = 1 << 20;
  // A TLS client must finish its handshake this soon after accept (as stage 4's
  // default --header-timeout).
  static constexpr std::uint64_t kHandshakeTimeoutMs = 10'000;

  Client(KvServer& server, Fd fd, std::uint64_t id, std::string peer);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // With a TLS context the constructor makes the session (throws tls::TlsError).
  void start();  // registers with the loop; throws SysError
  void on_event(std::uint32_t events) override;
  // Writes what out_ holds (the server calls this from before_sleep).
  void flush();
  // Closes now; the server deletes the object later.
  void close();
  // Closes after the replies queued so far are sent.
  void close_after_reply() { close_after_reply_ = true; }
  bool closed() const { return closed_; }

  // The reply stream. Handlers append RESP to it (resp/writer.hpp).
  std::string& out() { return out_; }
  std::size_t pending_output() const { return out_.size() - sent_; }
  // Appends a pushed message (pub/sub); disconnects when over the output limit.
  void push(std::string_view bytes);
  // Runs the commands waiting in in_ (after a read, or when unblocked/unpaused).
  void process_input();

  // Identity and state, used by the commands.
  std::uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  int fd() const { return fd_.get(); }
  ClientInfo info() const;
  void fill_info(ClientInfo& info) const;  // the same, into an existing one
  std::string name;
  bool authenticated = false;
  std::int64_t created_ms = 0;       // monotonic
  std::int64_t last_active_ms = 0;   // monotonic, for the idle timeout
  std::string last_command = "NULL";

  // MULTI/EXEC.
  struct Multi {
    bool active = false;
    bool failed = false;  // a queued command was refused: EXEC answers EXECABORT
    std::vector<std::vector<std::string>> queued;
  } multi;
  bool in_exec = false;  // EXEC is running the queue (blocking commands do not block)
  Watcher watcher;
  std::vector<std::string> watched;
  // Keys that were live (and when they expire) at WATCH time, to catch expiry.
  std::vector<std::pair<std::string, bool>> watched_live;

  // Pub/sub.
  StringSet channels;
  StringSet patterns;
  std::size_t subscriptions() const { return channels.size() + patterns.size(); }

  // Blocking list operations (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH).
  struct Blocked {
    bool active = false;
    std::vector<std::string> keys;
    std::vector<std::string> command;  // re-run when a key gets data
    TimerId timeout;
  } blocked;
  void unblock();  // cancels the timer; the caller has replied

  // --model threads: the worker's side of this connection, which other workers
  // reach (threads_server.hpp). Null in the epoll model.
  WorkerSession* session = nullptr;

 private:
  void read_some();
  bool send_plain();  // out_ to the socket; true when all of it has gone
  bool send_tls();    // out_ through the TLS session; true when all has gone
  void drive_handshake();
  bool run_one(std::string_view& input);
  void set_interest(std::uint32_t events);

  KvServer& server_;
  EventLoop& loop_;
  Fd fd_;
  std::uint64_t id_;
  std::string peer_;
  Buffer in_;
  resp::Command command_;
  std::size_t need_ = 0;  // the parser's hint: bytes worth waiting for
  std::string out_;
  std::size_t sent_ = 0;  // bytes of out_ already written
  bool closed_ = false;
  bool close_after_reply_ = false;
  bool flush_queued_ = false;
  std::size_t index_ = 0;  // position in the server's client list
  std::unique_ptr<http::TlsTransport> tls_;  // null: plain TCP
  TimerId handshake_timer_;
  friend class KvServer;
};

}  // namespace serverlab::kv
