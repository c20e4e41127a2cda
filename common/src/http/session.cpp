#include "serverlab/http/session.hpp"

#include <algorithm>
#include <cstdint>

#include "serverlab/http/date.hpp"
#include "serverlab/http/request_id.hpp"
#include "serverlab/log.hpp"

namespace serverlab::http {
namespace {

std::string_view error_kind(int status) {
  return (status == 413 || status == 414 || status == 431) ? "limit" : "parse";
}

// What the error log says went wrong, from the status and whether the head or
// the body was being read.
std::string_view protocol_error_reason(int status, bool in_body) {
  switch (status) {
    case 400: return in_body ? "malformed chunked body" : "malformed request head";
    case 411: return "chunked body sent to a route that needs Content-Length";
    case 408: return in_body ? "request body stalled (--header-timeout)"
                             : "request head not complete within --header-timeout";
    case 413: return "request body over --max-body";
    case 414: return "request line over --max-request-line";
    case 431: return in_body ? "chunked trailers too large"
                             : "header section over --max-header-bytes or --max-headers";
    case 501: return "Transfer-Encoding other than chunked";
    case 505: return "HTTP version not supported";
    default: return reason_phrase(status);
  }
}

}  // namespace

HttpSession::HttpSession(const HttpService& service, std::string_view peer)
    : service_(service), limits_(service.config().parse_limits()), peer_(peer) {
  if (Metrics* m = service_.metrics()) m->connection_opened();
  arm(Timer::Header);
}

HttpSession::HttpSession(const HttpService& service, Pooled)
    : service_(service), limits_(service.config().parse_limits()), counts_connection_(false) {
  arm(Timer::Header);
}

HttpSession::~HttpSession() {
  if (!counts_connection_) return;
  if (Metrics* m = service_.metrics()) m->connection_closed();
}

HttpSession::Clock::time_point HttpSession::deadline_for(const HttpConfig& c, Timer timer) {
  double seconds = c.header_timeout;
  if (timer == Timer::KeepAlive) seconds = c.keepalive_timeout;
  if (timer == Timer::Send) seconds = c.send_timeout;
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void HttpSession::arm(Timer timer) {
  timer_ = timer;
  deadline_ = deadline_for(service_.config(), timer);
}

HttpSession::Carry HttpSession::opening(const HttpService& service) {
  return {0, Timer::Header, deadline_for(service.config(), Timer::Header)};
}

void HttpSession::start(std::string_view peer, const Carry& carry) {
  release(SIZE_MAX);
  reading_body_ = false;
  peer_.assign(peer);
  user_.clear();
  state_ = State::ReadHead;
  method_ = Method::Unknown;
  keep_alive_request_ = true;
  peer_eof_ = false;
  stopping_ = false;
  linger_ = false;
  requests_ = carry.requests;
  timer_ = carry.timer;
  deadline_ = carry.deadline;
}

void HttpSession::release(std::size_t keep_capacity) {
  segments_.clear();  // drops the queued files' references; keeps capacity
  head_ = 0;
  response_.reset();
  consume_input(in_.readable_bytes());
  out_.retrieve_all();
  if (in_.capacity() > keep_capacity) in_.shrink_to_fit();
  if (out_.capacity() > keep_capacity) out_.shrink_to_fit();
}

HttpSession::Want HttpSession::want() const {
  if (state_ == State::Closed) return Want::Close;
  if (has_output()) return Want::Write;
  if (state_ == State::Closing || peer_eof_) return Want::Close;
  return Want::Read;
}

bool HttpSession::idle() const {
  return state_ == State::ReadHead && in_.empty() && !has_output();
}

void HttpSession::shrink_buffers() {
  constexpr std::size_t kWorthIt = 4 * Buffer::kInitialSize;  // below this, keep the memory
  if (in_.empty() && in_.capacity() > kWorthIt) in_.shrink_to_fit();
  if (!has_output() && out_.empty() && out_.capacity() > kWorthIt) out_.shrink_to_fit();
}

void HttpSession::on_input() {
  if (state_ == State::ReadHead && timer_ == Timer::KeepAlive && !in_.empty())
    arm(Timer::Header);  // the next request has started
  else if (state_ == State::ReadBody)
    arm(Timer::Body);  // body bytes keep a slow upload alive
  process();
}

void HttpSession::on_eof() {
  peer_eof_ = true;
  process();
}

void HttpSession::shutdown() {
  stopping_ = true;
  if (idle()) state_ = State::Closed;
}

void HttpSession::on_timeout() {
  if (state_ == State::Closed) return;
  if (has_output() || state_ == State::Closing) {  // the peer stopped reading
    if (Metrics* m = service_.metrics()) m->error("timeout");
    state_ = State::Closed;
    return;
  }
  if (state_ == State::ReadBody || (state_ == State::ReadHead && !in_.empty())) {
    if (state_ == State::ReadHead) capture_request_line(in_.view());
    method_ = Method::Unknown;
    fail(408, "timeout");
    return;
  }
  state_ = State::Closed;  // idle keep-alive (or a connection that never spoke): quiet close
}

// ---------------------------------------------------------------- parsing

void HttpSession::process() {
  while ((state_ == State::ReadHead || state_ == State::ReadBody) &&
         out_.readable_bytes() < kOutputHighWater) {
    if (state_ == State::ReadBody) {
      BodyDecoder::Step step = body_.feed(in_.view());
      // A route's body has a Content-Length: every byte consumed is a body byte.
      if (reading_body_) request_body_.append(in_.view().substr(0, step.consumed));
      consume_input(step.consumed);
      if (step.state == BodyDecoder::State::Error) return fail(step.status, error_kind(step.status));
      if (step.state == BodyDecoder::State::More) return;
      state_ = State::ReadHead;  // the body is read (for a route) or discarded; now answer
      if (reading_body_) finish_reading_body();
      queue_response();
      continue;
    }
    if (!head_may_be_ready()) return;
    ParseResult r = parse_request(in_.view(), request_, limits_);
    ++head_parses_;
    if (r.kind == ParseResult::Incomplete) {
      request_.clear();  // its views would dangle once the next read moves in_'s bytes
      head_scanned_ = in_.readable_bytes();
      head_limit_at_ = r.limit_at;
      return;
    }
    head_scanned_ = 0;
    head_limit_at_ = 0;
    if (r.kind == ParseResult::Error) {
      capture_request_line(in_.view());
      method_ = request_.method;
      request_.clear();
      return fail(r.status, error_kind(r.status));
    }
    on_head(r.consumed);
  }
}

// Whether parse_request could say more than its last Incomplete (picohttpparser's
// last_len): a head can only be finished by a line end, and a limit falls due at
// limit_at. So the bytes that arrived since the last parse are searched for a LF,
// once each, and the whole head is parsed again only when one is found, when the
// head has reached limit_at, or on a request's first bytes (so garbage sent in one
// piece is refused at once). A head dripped a byte at a time then costs one parse
// per line instead of one per byte: O(n) instead of O(n^2). An error inside a line
// still arriving is found when its LF (or a limit) arrives.
bool HttpSession::head_may_be_ready() {
  const std::string_view bytes = in_.view();
  if (bytes.empty()) return false;
  if (head_scanned_ == 0 || head_limit_at_ == 0 || bytes.size() >= head_limit_at_) return true;
  const bool new_line = bytes.find('\n', head_scanned_) != std::string_view::npos;
  head_scanned_ = bytes.size();
  return new_line;
}

// Drops the first n bytes of input (an answered head, body bytes, everything on
// release). The request's views point into those bytes, so they are cleared here,
// and the next head is scanned from its start.
void HttpSession::consume_input(std::size_t n) {
  in_.retrieve(n);
  request_.clear();
  head_scanned_ = 0;
  head_limit_at_ = 0;
}

void HttpSession::capture_request_line(std::string_view raw) {
  if (!service_.access_log().enabled()) return;
  std::size_t end = std::min(raw.find_first_of("\r\n"), std::min<std::size_t>(raw.size(), 1024));
  request_line_.assign(raw.substr(0, end));
  referer_.clear();
  user_agent_.clear();
}

void HttpSession::on_head(std::size_t consumed) {
  started_ = Clock::now();
  method_ = request_.method;
  keep_alive_request_ = request_.keep_alive;
  if (service_.access_log().enabled()) {  // copies only when a log line will be written
    request_line_.assign(request_.method_token);
    request_line_.append(" ").append(request_.target);
    request_line_.append(request_.version_minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
    referer_.assign(request_.header("Referer").value_or(std::string_view{}));
    user_agent_.assign(request_.header("User-Agent").value_or(std::string_view{}));
  }

  bool has_body = request_.chunked || request_.content_length.value_or(0) > 0;
  bool expect = request_.expect_continue && request_.version_minor >= 1;
  if (has_body && service_.reads_body(request_)) {
    if (!request_.chunked) return start_reading_body(consumed, expect);
    // A route that reads bodies takes a Content-Length one; a chunked body is
    // refused before it is sent (411 Length Required), and the connection closes.
    request_.clear();
    return fail(411, "parse");
  }

  run_handler({});
  if (has_body) body_.start(request_, limits_.max_body);
  consume_input(consumed);  // clears request_: its views would be stale from here on
  if (!has_body) return queue_response();

  if (expect && response_.status >= 400) {
    // Refused before the body was sent: answer now, never read it, close.
    response_.close = true;
    linger_ = true;
    return queue_response();
  }
  if (expect) queue_bytes(kContinueResponse);
  state_ = State::ReadBody;
  arm(Timer::Body);
}

// The middleware chain and the handler, for request_ (whose views must be valid).
void HttpSession::run_handler(std::string_view body) {
  response_.reset();
  request_id_.clear();
  Exchange exchange;
  exchange.peer = peer_;
  exchange.body = body;
  if (service_.request_ids_on()) exchange.request_id = &request_id_;
  service_.handle(exchange, request_, response_);
  if (method_ == Method::Head) response_.send_body = false;
}

// A route wants this request's body: keep a copy of the head (request_'s views
// die as input is consumed), collect the body, and answer when it is complete
// (finish_reading_body). The body decoder still enforces --max-body (413).
void HttpSession::start_reading_body(std::size_t consumed, bool expect) {
  head_copy_.assign(in_.view().substr(0, consumed));
  request_body_.clear();
  reading_body_ = true;
  body_.start(request_, limits_.max_body);
  consume_input(consumed);
  if (expect) queue_bytes(kContinueResponse);
  state_ = State::ReadBody;
  arm(Timer::Body);
}

void HttpSession::finish_reading_body() {
  reading_body_ = false;
  ParseResult r = parse_request(head_copy_, request_, limits_);  // it parsed before
  if (r.kind != ParseResult::Done) {
    request_.clear();
    request_id_.clear();
    response_.reset();
    return service_.error(500, response_);
  }
  run_handler(request_body_);
  request_.clear();  // its views point into head_copy_
  if (request_body_.capacity() > 4 * Buffer::kInitialSize) std::string().swap(request_body_);
}

void HttpSession::fail(int status, std::string_view kind) {
  reading_body_ = false;
  if (Metrics* m = service_.metrics()) m->error(kind);
  const bool in_body = state_ == State::ReadBody;
  // A request that failed while its body was read keeps the ID it was given;
  // one whose head could not be parsed gets a new one.
  if (!service_.request_ids_on()) request_id_.clear();
  else if (!in_body || request_id_.empty()) make_request_id(request_id_);
  service_.log_protocol_error(peer_, status, protocol_error_reason(status, in_body),
                              in_body ? std::string_view{} : in_.view(), request_id_);
  started_ = Clock::now();
  keep_alive_request_ = false;
  response_.reset();
  service_.error(status, response_);
  if (!request_id_.empty()) response_.add_header("X-Request-Id", request_id_);
  response_.close = true;
  linger_ = true;  // unread request bytes may follow
  state_ = State::ReadHead;
  queue_response();
}

// ---------------------------------------------------------------- output

void HttpSession::queue_response() {
  Response& r = response_;
  ++requests_;
  const HttpConfig& c = service_.config();
  bool keep_alive = keep_alive_request_ && c.keep_alive && !r.close && !stopping_ &&
                    requests_ < static_cast<std::uint64_t>(c.max_keepalive_requests);

  std::size_t before = out_.readable_bytes();
  append_response_head(out_, r, keep_alive, current_http_date());
  std::size_t head_bytes = out_.readable_bytes() - before;
  account_bytes(head_bytes);
  std::uint64_t body_bytes = 0;
  if (r.send_body) {
    body_bytes = r.content_length;
    if (!r.text.empty()) queue_bytes(r.text);
    if (r.file.file && r.file.length > 0) queue_file(r.file.file, r.file.offset, r.file.length);
    for (const Response::Part& part : r.parts) {
      queue_bytes(std::string_view(r.owned_text).substr(part.text_offset, part.text_length));
      queue_file(r.file.file, part.file_offset, part.file_length);
    }
  }

  const AccessLog& log = service_.access_log();
  const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  if (log.enabled()) {
    log.write({peer_, request_line_, r.status, body_bytes, referer_, user_agent_, user_,
               request_id_, seconds});
  }
  if (Metrics* m = service_.metrics()) {
    m->request_done(method_, r.status, head_bytes + body_bytes, seconds);
  }
  r.file = {};  // the segments hold their own references
  r.parts.clear();
  if (!keep_alive) {
    state_ = State::Closing;
    if (!in_.empty()) linger_ = true;
  }
}

void HttpSession::account_bytes(std::size_t n) {
  if (n == 0) return;
  if (!has_output()) arm(Timer::Send);
  if (has_output() && !segments_.back().file) {
    segments_.back().bytes += n;
  } else {
    segments_.push_back(Segment{n, nullptr, 0, 0});
  }
}

void HttpSession::queue_bytes(std::string_view bytes) {
  out_.append(bytes);
  account_bytes(bytes.size());
}

void HttpSession::queue_file(const std::shared_ptr<const CachedFile>& file, std::uint64_t offset,
                             std::uint64_t length) {
  if (!file || length == 0) return;
  if (file->inlined) {  // small file: its bytes ride along with the head in one write
    return queue_bytes(std::string_view(file->bytes).substr(offset, length));
  }
  if (!has_output()) arm(Timer::Send);
  if (has_output() && !segments_.back().file) {
    Segment& last = segments_.back();
    last.file = file;
    last.offset = offset;
    last.length = length;
  } else {
    segments_.push_back(Segment{0, file, offset, length});
  }
}

HttpSession::Output HttpSession::output() const {
  Output out;
  if (!has_output()) return out;
  const Segment& s = segments_[head_];
  out.bytes = std::string_view(out_.peek(), s.bytes);
  if (s.file) {
    out.file_fd = s.file->fd.get();
    out.file_offset = s.offset;
    out.file_length = s.length;
  }
  return out;
}

void HttpSession::wrote(std::size_t n) {
  if (!has_output()) return;
  Segment& s = segments_[head_];
  n = std::min(n, s.bytes);
  out_.retrieve(n);
  s.bytes -= n;
  advance_output();
  if (n > 0 && has_output()) arm(Timer::Send);  // progress: the send timeout starts over
}

void HttpSession::sent_file(std::uint64_t n) {
  if (!has_output()) return;
  Segment& s = segments_[head_];
  n = std::min(n, s.length);
  s.offset += n;
  s.length -= n;
  advance_output();
  if (n > 0 && has_output()) arm(Timer::Send);
}

void HttpSession::advance_output() {
  while (has_output() && segments_[head_].bytes == 0 && segments_[head_].length == 0) {
    segments_[head_].file.reset();
    ++head_;
  }
  if (has_output()) return;
  segments_.clear();  // keeps capacity: no allocation on the next response
  head_ = 0;
  if (state_ == State::Closing) {
    state_ = State::Closed;
    return;
  }
  if (state_ == State::Closed) return;
  if (stopping_ && idle()) {  // shutdown() arrived mid-response: that response was the last
    state_ = State::Closed;
    return;
  }
  if (state_ == State::ReadHead) arm(in_.empty() ? Timer::KeepAlive : Timer::Header);
  if (state_ == State::ReadBody) arm(Timer::Body);
  if (out_.empty()) out_.retrieve_all();
  process();  // pipelined requests waiting behind the high-water mark
}

}  // namespace serverlab::http
