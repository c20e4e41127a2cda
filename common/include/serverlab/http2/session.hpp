// http2/session.hpp: Http2Session, the server side of one HTTP/2 connection,
// with no I/O in it (sans-I/O), over libnghttp2.
//
// Why: HTTP/2 carries many requests at once on one connection (streams), in
// binary frames, with compressed headers (HPACK) and flow control. libnghttp2
// does the framing, HPACK and the protocol's state machines; this class feeds it
// bytes, answers each request through the same HttpService (and so StaticFiles)
// that HTTP/1.1 uses, and collects the bytes it wants sent. Status codes,
// conditional requests, ranges, MIME types, listings and error pages are
// therefore exactly HTTP/1.1's.
//
//   driver                          Http2Session                      nghttp2_session
//   read(fd) -> input() ------ on_input() --------------------------> mem_recv
//                                |  HEADERS complete (a request)  <-- callbacks
//                                |  -> http::Request -> HttpService::handle -> Response
//                                |  -> submit_response (headers; body = data source)
//   send(fd) <- output() <--- pump: mem_send until kOutputHighWater <-- frames
//                             wrote(n) drops sent bytes, pumps again
//
// A driver (stage 4's H2Connection; anything that can hand it plaintext, such as
// a TLS session) loops exactly as it does over http::HttpSession:
//
//   switch (session.want())
//     Read:  n = session.input().read_from(fd) -> on_input() | on_eof()
//     Write: n = send(fd, session.output())    -> wrote(n)
//     Close: close (lingering close first when linger())
//   if now >= session.deadline(): on_timeout()
//
// The input must start with the client preface (kClientPreface): a cleartext
// connection switches here once match_preface() says Yes, and hands over the
// bytes it already read; a TLS connection that negotiated ALPN "h2" hands over
// its first plaintext bytes the same way.
//
// Bodies: a file body is never read into memory as a whole. Each stream's body
// is a list of pieces (bytes in memory, or a region of an open file); when
// nghttp2 has room for a DATA frame (the peer's flow-control windows allow it)
// it asks how many bytes the stream will send, at most one frame's worth, and
// later asks for the frame itself (NGHTTP2_DATA_FLAG_NO_COPY): its 9-byte header
// and the payload are written straight into output(), the payload copied from
// the file cache's bytes or pread(2) from the file. So a body byte is copied
// once on its way to send(2), not twice (into nghttp2's frame buffer, then into
// ours). Output is produced only while less than kOutputHighWater bytes wait to
// be sent, so a connection holds at most about 64 KiB (plus one frame) of output
// whatever its streams serve. nghttp2's own small allocations come from
// per-thread free lists (session.cpp, namespace pool).
//
// Limits (Limits, from HttpConfig) and attacks:
//   - SETTINGS_MAX_CONCURRENT_STREAMS (100): more open streams are refused.
//   - header list: SETTINGS_MAX_HEADER_LIST_SIZE = --max-header-bytes and at most
//     --max-headers fields; a request over either gets 431 (the error page).
//   - CONTINUATION flood (2024): a header block may span at most
//     max_continuations CONTINUATION frames and max_header_block bytes; past
//     either the connection ends with GOAWAY(ENHANCE_YOUR_CALM).
//   - rapid reset (CVE-2023-44487): at most max_resets RST_STREAM frames from the
//     client per reset_window; past it, GOAWAY(ENHANCE_YOUR_CALM). Each stream
//     costs one handle() call, so a flood costs a bounded amount of work.
//   - libnghttp2's own guards stay on behind these (its reset rate limit and
//     continuation limit, SETTINGS/PING flood limits, HPACK table bounds).
//   - Request bodies are not used by any route: their bytes are discarded, and
//     once the response is complete the stream is reset with NO_ERROR so the
//     client stops sending (RFC 9113 8.1).
// Clock: deadline() is computed from the time use_clock() points at, when the
// driver gave one (stage 4's EventLoop reads the clock once per loop iteration),
// else from steady_clock::now(). A request's duration (the access log, metrics;
// measured only when one of them is on) starts at that time too (with a cached
// clock: the loop's wake-up that read the request) and ends at a real clock read.
// Timeouts: --header-timeout until the first request; --keepalive-timeout while
// no stream is open (then GOAWAY and close); the send timeout (HttpConfig::
// send_timeout) while output or open streams wait on the peer (a client that
// stops reading, or never opens its flow-control window).
// Shutdown: GOAWAY(NO_ERROR) naming the last stream taken; streams already taken
// run to completion, then the session closes.
// No server push: browsers removed it, and nothing here ever sends PUSH_PROMISE.
// No "Upgrade: h2c" (an HTTP/1.1 request asking to switch): cleartext HTTP/2
// needs prior knowledge.
//
// Who may call: one thread at a time per session (not thread-safe); the
// HttpService is shared and thread-safe. Nothing blocks except file-system
// calls (a file-cache miss, pread of a body chunk). The constructor throws
// std::bad_alloc when nghttp2 cannot allocate; nothing else throws.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serverlab/buffer.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/http/session.hpp"

struct nghttp2_session;

namespace serverlab::http2 {

struct Limits {
  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t initial_window_size = 65535;  // per stream, for request bodies (discarded)
  std::size_t max_header_list = 16 * 1024;    // RFC 9113 size: name + value + 32 per field
  std::size_t max_headers = 100;
  std::size_t max_continuations = 8;          // CONTINUATION frames after one HEADERS
  std::size_t max_header_block = 64 * 1024;   // bytes of one HEADERS + its CONTINUATIONs
  std::uint32_t max_resets = 100;             // RST_STREAM frames from the client ...
  std::chrono::milliseconds reset_window{10'000};  // ... per this much time

  // The limits an HttpConfig implies (--max-header-bytes, --max-headers).
  static Limits from(const http::HttpConfig& config);
};

class Http2Session {
 public:
  using Clock = std::chrono::steady_clock;
  using Want = http::HttpSession::Want;  // Read, Write or Close, as for HTTP/1.1

  static constexpr std::size_t kOutputHighWater = 64 * 1024;

  // `peer` is the client's address: every stream's Exchange carries it through the
  // middleware chain (rate limiting) into the access log. Queues the server's SETTINGS.
  // Counts no connection in the metrics (the driver does that).
  Http2Session(const http::HttpService& service, std::string_view peer, Limits limits);
  Http2Session(const http::HttpService& service, std::string_view peer)
      : Http2Session(service, peer, Limits::from(service.config())) {}
  ~Http2Session();
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // The authenticated client of this connection (a TLS client certificate's
  // subject), written in the access log's user field of every request.
  void set_user(std::string_view user) { user_.assign(user); }

  // The driver's cached time, read instead of the clock for deadlines. It must
  // outlive the session and be kept current (at most a few milliseconds stale:
  // timeouts are seconds). Without it the session reads steady_clock itself.
  void use_clock(const Clock::time_point& now) { cached_now_ = &now; }

  // ---- input: the driver appends to input() and calls on_input().
  Buffer& input() { return in_; }
  void on_input();
  void on_eof();      // the peer sent FIN: send GOAWAY, flush, close
  void on_timeout();  // deadline() has passed
  void shutdown();    // graceful: GOAWAY now, finish the streams already taken

  // ---- output: bytes to send, in order; wrote(n) after sending n of them.
  std::string_view output() const { return out_.view(); }
  void wrote(std::size_t n);

  // ---- state
  Want want() const;
  Clock::time_point deadline() const { return deadline_; }
  bool linger() const { return linger_; }

  // ---- for tests, metrics and the log
  std::size_t open_streams() const { return streams_.size(); }
  std::uint64_t requests() const { return requests_; }
  std::uint64_t resets_received() const { return resets_total_; }
  // The error code of the GOAWAY this session decided to send (0 = NO_ERROR),
  // or -1 when it has not decided to end the connection.
  std::int64_t goaway_code() const { return goaway_code_; }

 private:
  struct Stream;
  struct Callbacks;  // the nghttp2 callbacks (session.cpp), friends of this class
  enum class Timer { Header, KeepAlive, Send };

  void pump();                        // nghttp2 output -> out_, up to the high-water mark
  void end_connection(std::uint32_t code);  // GOAWAY with `code`, then close when flushed
  void arm(Timer timer);
  void note_activity();               // re-arms the timer after progress
  void respond(Stream& stream);       // the request is complete: answer it
  void submit(Stream& stream);        // hands the Response to nghttp2
  bool count_reset();                 // false: the rapid-reset bound is passed
  Stream* find(std::int32_t id);      // null when the stream is not ours (or gone)
  Clock::time_point now() const { return cached_now_ != nullptr ? *cached_now_ : Clock::now(); }

  const http::HttpService& service_;
  Limits limits_;
  std::string peer_;
  std::string user_;  // see set_user()
  nghttp2_session* session_ = nullptr;
  Buffer in_;
  Buffer out_;
  std::map<std::int32_t, std::unique_ptr<Stream>> streams_;
  // Closed streams kept for reuse (at most max_concurrent_streams): a stream's
  // buffers keep their capacity, so a warm connection allocates little per request.
  std::vector<std::unique_ptr<Stream>> spare_streams_;
  http::Request request_;  // the request being answered (its header vector is reused)
  std::string request_id_;  // its X-Request-Id (--request-id on; the chain fills it)
  std::vector<std::pair<std::size_t, std::string_view>> extra_;  // submit()'s scratch
  Stream* receiving_ = nullptr;  // the stream whose header block is arriving (or null)

  std::uint64_t requests_ = 0;
  std::uint64_t resets_total_ = 0;
  std::uint32_t resets_in_window_ = 0;
  Clock::time_point reset_window_start_{};
  std::size_t block_bytes_ = 0;    // of the header block being received
  std::size_t continuations_ = 0;  // CONTINUATION frames in that block
  std::uint32_t flood_code_ = 0;   // set by a callback that found an attack
  std::int64_t goaway_code_ = -1;
  bool closed_ = false;            // fatal: close now, output or not
  bool eof_ = false;               // the peer sent FIN
  bool stopping_ = false;
  bool linger_ = false;
  Timer timer_ = Timer::Header;
  Clock::time_point deadline_{};
  const Clock::time_point* cached_now_ = nullptr;  // see use_clock()
};

}  // namespace serverlab::http2
