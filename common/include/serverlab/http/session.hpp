// http/session.hpp: HttpSession, the state machine of one HTTP/1.1 connection,
// with no I/O in it (sans-I/O). Every HTTP stage drives this same class.
//
//                   head complete, no body
//   +----------+ -------------------------------> queue response --+
//   | ReadHead |                                                   |
//   +----------+ --head with a body-->+----------+  body done ---->+
//     ^   |  (Expect: 100-continue:   | ReadBody |  (read and      |
//     |   |   queue "100 Continue")   +----------+   discarded)    |
//     |   |                                                        v
//     |   +--parse error / 408 / refused Expect--> queue error --> Closing
//     |                                                            |
//     +------------- keep-alive (output drained or pipelined) <----+--close--> Closed
//
// A body is read and discarded, except for a route that asks for it (Router::add
// reads_body, e.g. POST /api/notes): then the head is copied, the Content-Length
// body collected (within --max-body; a chunked one gets 411), and the handler
// runs once the body is complete, with the body in Exchange::body.
//
// Requests that arrive pipelined are parsed as soon as they are complete and
// their responses queued in order; parsing pauses while more than
// kOutputHighWater bytes wait to be sent. A head that arrives in pieces is
// parsed again only when a line has ended or a limit falls due (ParseResult::
// limit_at), never once per read: a head dripped a byte at a time costs O(n).
//
// The driver (serve_connection for stages 2-3, stage 4's event loop) does the I/O:
//
//   loop:
//     switch (session.want())
//       Read:  n = session.input().read_from(fd)  -> on_input() | on_eof()
//       Write: out = session.output()
//              out.bytes non-empty -> write them   -> wrote(n)
//              else                -> sendfile(out.file_fd, out.file_offset, out.file_length)
//                                                  -> sent_file(n)
//       Close: close (lingering close first when linger())
//     if now >= session.deadline(): on_timeout()
//
// Timeouts: the header timeout runs from a request's start until its head is
// complete (then 408 + close); the keep-alive timeout runs while idle between
// requests (then a quiet close); the send timeout runs while output waits.
//
// Pooling (stage 4): most keep-alive connections are idle most of the time, so
// stage 4 lends a session to a connection only while it has something to do.
// An idle session gives back its Carry (request count, timer, deadline: all a
// connection must remember between requests) and returns to a pool; start()
// makes any pooled session continue any connection from its Carry. Buffers,
// header vector and strings keep their capacity across this, so a warm pool
// serves requests without allocating.
//
//   Connection (small, always)        SessionPool (a bounded free list)
//     peer, Carry  --bytes arrive--> acquire(): start(peer, carry)
//     session*     <--idle again---- carry(); back to the pool (release())
//
// Who may call: one thread at a time per session (it is not thread-safe); the
// HttpService it points to is shared and thread-safe. Nothing here blocks
// except the handler's file-system calls on a file-cache miss.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/buffer.hpp"
#include "serverlab/http/parser.hpp"
#include "serverlab/http/request.hpp"
#include "serverlab/http/response.hpp"
#include "serverlab/http/service.hpp"

namespace serverlab::http {

class HttpSession {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Want { Read, Write, Close };
  enum class Timer { Header, Body, KeepAlive, Send };

  static constexpr std::size_t kOutputHighWater = 256 * 1024;

  // `peer` is the client's host for the access log ("127.0.0.1"). Counts one
  // connection opened now and closed by the destructor in the service's metrics.
  HttpSession(const HttpService& service, std::string_view peer);
  // A session for a pool: it counts no connections (its driver counts each
  // connection once, however many sessions serve it); call start() before use.
  struct Pooled {};
  HttpSession(const HttpService& service, Pooled);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // ---- input: the driver reads into input() and then calls on_input().
  Buffer& input() { return in_; }
  void on_input();
  // The peer sent FIN: requests already buffered are still answered.
  void on_eof();
  // deadline() has passed.
  void on_timeout();
  // The server is stopping: finish what is in progress, then close (idle: close now).
  void shutdown();

  // ---- output: bytes first; when `bytes` is empty, the file region (if any).
  struct Output {
    std::string_view bytes;
    int file_fd = -1;
    std::uint64_t file_offset = 0;
    std::uint64_t file_length = 0;
    bool empty() const { return bytes.empty() && file_length == 0; }
  };
  Output output() const;
  void wrote(std::size_t n);         // n bytes of output().bytes were sent
  void sent_file(std::uint64_t n);   // n bytes of the file region were sent

  // ---- state
  Want want() const;
  Clock::time_point deadline() const { return deadline_; }
  Timer timer() const { return timer_; }
  // Between requests with nothing buffered or queued (safe to close at shutdown).
  bool idle() const;
  // Closing with request bytes possibly unread: the driver should shut down its
  // write side and drain input briefly before close(), or the peer may get a
  // RST that destroys the response it has not read yet.
  bool linger() const { return linger_; }
  std::uint64_t requests() const { return requests_; }
  // How many times parse_request has run on this session. A head that arrives a
  // byte at a time is parsed again only when a line ends (see process()), so this
  // grows with the lines of a head, not its bytes; the unit tests hold it to that.
  std::uint64_t head_parses() const { return head_parses_; }
  // Gives buffer memory back while idle (a keep-alive connection waiting for
  // its next request need not hold its high-water capacity). Safe any time.
  void shrink_buffers();

  // ---- pooling (see the top of this file)
  // What a connection keeps while it holds no session.
  struct Carry {
    std::uint64_t requests = 0;  // answered so far (for max_keepalive_requests)
    Timer timer = Timer::Header;
    Clock::time_point deadline{};
  };
  // The Carry of a connection accepted now: no requests, the header timeout running.
  static Carry opening(const HttpService& service);
  // This session's Carry. Meaningful when idle(): nothing else is lost then.
  Carry carry() const { return {requests_, timer_, deadline_}; }
  // Forgets the connection it served (if any) and continues `peer`'s connection
  // from `carry`, idle, in ReadHead. Allocation-free when `peer` fits the old one.
  void start(std::string_view peer, const Carry& carry);
  // The authenticated client of this connection (a TLS client certificate's
  // subject), written in the access log's user field; start() forgets it.
  void set_user(std::string_view user) { user_.assign(user); }
  // Drops everything queued and every cached-file reference (a pooled session must
  // not keep an evicted file's descriptor open). A buffer whose capacity exceeds
  // `keep_capacity` bytes shrinks back to Buffer::kInitialSize; the rest keep theirs.
  void release(std::size_t keep_capacity);

 private:
  enum class State { ReadHead, ReadBody, Closing, Closed };
  struct Segment {  // `bytes` bytes of out_, then an optional file region
    std::size_t bytes = 0;
    std::shared_ptr<const CachedFile> file;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };

  void process();
  bool head_may_be_ready();
  void consume_input(std::size_t n);
  void on_head(std::size_t consumed);
  void fail(int status, std::string_view kind);  // queue an error, then close
  void run_handler(std::string_view body);
  void start_reading_body(std::size_t consumed, bool expect);
  void finish_reading_body();
  void queue_response();
  void queue_bytes(std::string_view bytes);
  void account_bytes(std::size_t n);  // n bytes just appended to out_
  void queue_file(const std::shared_ptr<const CachedFile>& file, std::uint64_t offset,
                  std::uint64_t length);
  void advance_output();
  bool has_output() const { return head_ < segments_.size(); }
  void arm(Timer timer);
  static Clock::time_point deadline_for(const HttpConfig& config, Timer timer);
  void capture_request_line(std::string_view raw);

  const HttpService& service_;
  const ParseLimits limits_;
  std::string peer_;
  State state_ = State::ReadHead;
  Buffer in_;
  Buffer out_;
  std::vector<Segment> segments_;
  std::size_t head_ = 0;  // first unsent segment

  Request request_;  // views into in_: cleared whenever those bytes leave it
  std::size_t head_scanned_ = 0;   // bytes of in_ seen when the parser last said Incomplete
  std::size_t head_limit_at_ = 0;  // that answer's limit_at (0: unknown, parse on any byte)
  std::uint64_t head_parses_ = 0;
  Response response_;
  BodyDecoder body_;
  Method method_ = Method::Unknown;
  bool keep_alive_request_ = true;
  Clock::time_point started_{};
  std::string request_line_;  // copies for the access log (the request's views die early)
  std::string referer_;
  std::string user_agent_;
  std::string user_;  // see set_user()
  std::string request_id_;  // X-Request-Id of the request in progress (--request-id on)
  // A route that reads bodies (Router::add reads_body): the head, copied, and the body.
  bool reading_body_ = false;
  std::string head_copy_;
  std::string request_body_;

  std::uint64_t requests_ = 0;
  bool peer_eof_ = false;
  bool stopping_ = false;
  bool linger_ = false;
  bool counts_connection_ = true;
  Timer timer_ = Timer::Header;
  Clock::time_point deadline_{};
};

}  // namespace serverlab::http
