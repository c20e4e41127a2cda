// client_conn.cpp: see client_conn.hpp. The functions follow the order of an
// exchange: the pump, the request, the backend, the response, the failures.
#include "client_conn.hpp"

#include <errno.h>
#include <sys/socket.h>

#include <iterator>

#include <fmt/format.h>

#include "header_filter.hpp"
#include "proxy_server.hpp"
#include "serverlab/http/access_log.hpp"
#include "serverlab/http/date.hpp"
#include "serverlab/http/response.hpp"
#include "serverlab/log.hpp"

namespace serverlab::proxy {
namespace {

using Clock = std::chrono::steady_clock;

// Buffer::read_from reads into the buffer's free space plus a 64 KiB stack area.
constexpr std::size_t kReadExtra = 64 * 1024;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// What the error log says a refused request did wrong (the flag to look at).
std::string_view refusal_reason(int status, bool in_body) {
  switch (status) {
    case 400: return in_body ? "malformed chunked body" : "malformed request head";
    case 408: return "request head not complete within --header-timeout";
    case 413: return "request body over --max-body";
    case 414: return "request line over --max-request-line";
    case 431: return in_body ? "chunked trailers too large"
                             : "header section over --max-header-bytes or --max-headers";
    case 501: return "Transfer-Encoding other than chunked";
    case 505: return "HTTP version not supported";
    default: return http::reason_phrase(status);
  }
}

std::string_view phrase(int status) {
  if (status == 502) return "Bad Gateway";  // the servers never send these two
  if (status == 504) return "Gateway Timeout";
  return http::reason_phrase(status);
}

bool is_idempotent(http::Method m) {
  using M = http::Method;
  return m == M::Get || m == M::Head || m == M::Put || m == M::Delete || m == M::Options ||
         m == M::Trace;
}

}  // namespace

ClientConn::ClientConn(ProxyServer& server, Fd fd, std::string peer_ip)
    : server_(server), loop_(server.loop()), fd_(std::move(fd)), peer_ip_(std::move(peer_ip)) {}

ClientConn::~ClientConn() {
  loop_.cancel(timer_);
  if (fd_) loop_.remove(fd_.get());
  if (backend_ != nullptr) --backend_->active;
  if (upstream_) upstream_->user = nullptr;
}

void ClientConn::start() {
  loop_.add(fd_.get(), kReadable, *this);
  interest_ = kReadable;
  server_.metrics().connection_opened();
  wait_ = Wait::Head;
  set_deadline(server_.options().header_timeout);
}

void ClientConn::on_event(std::uint32_t events) {
  // EPOLLHUP (both directions down) or EPOLLERR (a reset): nothing can reach the
  // client any more, and epoll would report it on every iteration whatever the
  // interest mask says. Close now rather than spin.
  if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
    close();
    return;
  }
  if ((events & kReadable) != 0) can_read_ = true;
  if ((events & (kWritable | EPOLLHUP | EPOLLERR)) != 0) can_write_ = true;
  drive();
}

void ClientConn::on_upstream(std::uint32_t events) {
  // The same for the backend, unless its last bytes can still be read now.
  if ((events & (EPOLLHUP | EPOLLERR)) != 0 && out_.readable_bytes() >= ProxyServer::kHighWater) {
    upstream_failed(UpstreamError::Reset);
    drive();
    return;
  }
  if ((events & (kReadable | EPOLLHUP | EPOLLERR)) != 0) up_can_read_ = true;
  if ((events & (kWritable | EPOLLHUP | EPOLLERR)) != 0) up_can_write_ = true;
  drive();
}

bool ClientConn::idle() const {
  return phase_ == Phase::ReadHead && in_.empty() && out_.empty();
}

void ClientConn::shutdown() {
  if (idle()) {
    close();
  } else {
    close_after_ = true;
  }
}

void ClientConn::close() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  loop_.cancel(timer_);
  loop_.remove(fd_.get());
  fd_.reset();
  if (backend_ != nullptr) {
    --backend_->active;
    backend_ = nullptr;
  }
  drop_upstream();
  server_.metrics().connection_closed();
  server_.release(*this);  // deleted after this loop iteration
}

// ---------------------------------------------------------------- the pump

void ClientConn::drive() {
  bool moved_any = false;
  for (;;) {
    bool moved = false;
    moved |= read_client();
    moved |= process_client_input();
    moved |= write_upstream();
    moved |= read_upstream();
    moved |= process_upstream_input();
    moved |= write_client();
    if (closed()) return;
    if (phase_ == Phase::Closing && out_.empty()) {
      close();
      return;
    }
    if (!moved) break;
    moved_any = true;
  }
  update_interest();
  // Which timeout applies now; a Read/Write wait starts over whenever bytes moved.
  Wait w = wait_;
  const ProxyOptions& o = server_.options();
  double seconds = 0;
  if (phase_ == Phase::Closing || (!out_.empty() && !can_write_)) {
    w = Wait::Write, seconds = o.write_timeout;
  } else if (phase_ == Phase::ReadHead) {
    const bool between = in_.empty() && served_ > 0;
    w = between ? Wait::KeepAlive : Wait::Head;
    seconds = between ? o.keepalive_timeout : o.header_timeout;
  } else if (upstream_ && upstream_->connecting) {
    w = Wait::Connect, seconds = o.connect_timeout;
  } else {
    w = Wait::Read, seconds = o.read_timeout;
  }
  const bool refresh = moved_any && (w == Wait::Read || w == Wait::Write);
  if (w != wait_ || refresh) {
    wait_ = w;
    set_deadline(seconds);
  }
}

bool ClientConn::read_client() {
  if (closed() || !can_read_ || client_eof_) return false;
  const bool want_head = phase_ == Phase::ReadHead && out_.readable_bytes() < ProxyServer::kHighWater;
  const bool want_body = phase_ == Phase::Exchange && !request_body_done_ &&
                         up_out_.readable_bytes() < ProxyServer::kHighWater;
  if (!want_head && !want_body) return false;
  const std::size_t room = in_.writable_bytes() + kReadExtra;
  IoResult r = in_.read_from(fd_.get());
  switch (r.status) {
    case IoResult::Status::Ok:
      if (r.bytes < room) can_read_ = false;  // a short read drained the socket: skip the EAGAIN
      return true;
    case IoResult::Status::WouldBlock: can_read_ = false; return false;
    case IoResult::Status::Eof: client_eof_ = true; can_read_ = false; return true;
    case IoResult::Status::Error: close(); return false;
  }
  return false;
}

bool ClientConn::write_client() {
  if (closed() || out_.empty() || !can_write_) return false;
  IoResult r = out_.write_to(fd_.get());
  switch (r.status) {
    case IoResult::Status::Ok: return true;
    case IoResult::Status::WouldBlock: can_write_ = false; return false;
    default: close(); return false;  // the client is gone
  }
}

bool ClientConn::read_upstream() {
  if (closed() || !upstream_ || upstream_->connecting || !up_can_read_ || up_eof_) return false;
  // Backpressure: nothing more from the backend while the client has not taken
  // what we already hold for it.
  if (out_.readable_bytes() >= ProxyServer::kHighWater ||
      up_in_.readable_bytes() >= ProxyServer::kHighWater) {
    return false;
  }
  const std::size_t room = up_in_.writable_bytes() + kReadExtra;
  IoResult r = up_in_.read_from(upstream_->fd());
  switch (r.status) {
    case IoResult::Status::Ok:
      response_byte_seen_ = true;
      if (r.bytes < room) up_can_read_ = false;  // drained (level-triggered reports more)
      return true;
    case IoResult::Status::WouldBlock: up_can_read_ = false; return false;
    case IoResult::Status::Eof: up_eof_ = true; up_can_read_ = false; return true;
    case IoResult::Status::Error: upstream_failed(UpstreamError::Reset); return true;
  }
  return false;
}

bool ClientConn::write_upstream() {
  if (closed() || !upstream_ || !up_can_write_) return false;
  if (upstream_->connecting) {
    if (connect_result(upstream_->fd()) != 0) {
      upstream_failed(UpstreamError::Connect);
      return true;
    }
    upstream_->connecting = false;
    return true;
  }
  if (up_out_.empty()) return false;
  IoResult r = up_out_.write_to(upstream_->fd());
  switch (r.status) {
    case IoResult::Status::Ok: return true;
    case IoResult::Status::WouldBlock: up_can_write_ = false; return false;
    default: upstream_failed(UpstreamError::Reset); return true;
  }
}

bool ClientConn::process_client_input() {
  if (closed()) return false;
  if (phase_ == Phase::ReadHead) return parse_head();
  if (phase_ == Phase::Exchange && !request_body_done_) return forward_request_body();
  return false;
}

bool ClientConn::process_upstream_input() {
  if (closed() || phase_ != Phase::Exchange || !upstream_) return false;
  bool moved = false;
  if (!response_started_) {
    moved = on_response_head();
    // Head and the body bytes behind it leave in one write, not two.
    if (!response_started_ || closed() || phase_ != Phase::Exchange || !upstream_) return moved;
  }
  return forward_response_body() || moved;
}

// Interest masks change lazily, to save an epoll_ctl per request: write interest
// only once a write has hit EAGAIN; read interest is dropped only when an event
// shows bytes waiting that we do not want yet (level-triggered would repeat it).
void ClientConn::update_interest() {
  const bool want_read =
      !client_eof_ &&
      ((phase_ == Phase::ReadHead && out_.readable_bytes() < ProxyServer::kHighWater) ||
       (phase_ == Phase::Exchange && !request_body_done_ &&
        up_out_.readable_bytes() < ProxyServer::kHighWater));
  const bool keep_read = !client_eof_ && (interest_ & kReadable) != 0 && !can_read_;
  std::uint32_t events = (want_read || keep_read ? kReadable : 0) |
                         (!out_.empty() && !can_write_ ? kWritable : 0);
  if (events != interest_) {
    loop_.modify(fd_.get(), events);
    interest_ = events;
  }
  if (!upstream_) return;
  std::uint32_t up = 0;
  if (upstream_->connecting || (!up_out_.empty() && !up_can_write_)) up |= kWritable;
  const bool want_up_read = !upstream_->connecting && !up_eof_ &&
                            out_.readable_bytes() < ProxyServer::kHighWater;
  const bool keep_up_read = !up_eof_ && (upstream_->interest() & kReadable) != 0 && !up_can_read_;
  if (want_up_read || keep_up_read) up |= kReadable;
  upstream_->want(up);
}

// ---------------------------------------------------------------- requests

bool ClientConn::parse_head() {
  if (out_.readable_bytes() >= ProxyServer::kHighWater) return false;  // let it drain first
  std::string_view bytes = in_.view();
  const http::ParseLimits& limits = server_.options().limits;
  const std::size_t most = limits.max_request_line + limits.max_header_bytes;
  // A head can only be complete once a new line has ended (see parser.hpp).
  if (bytes.find('\n', head_scanned_) == std::string_view::npos && bytes.size() <= most) {
    head_scanned_ = bytes.size();
    if (client_eof_) close();  // the client gave up (or sent nothing)
    return false;
  }
  head_scanned_ = bytes.size();
  http::ParseResult r = http::parse_request(bytes, request_, limits);
  if (r.kind == http::ParseResult::Incomplete) {
    if (client_eof_) close();
    return false;
  }
  if (r.kind == http::ParseResult::Error) {
    // Framing we cannot trust: answer and close, never guess where the next request starts.
    method_ = http::Method::Unknown;
    request_line_.assign(bytes.substr(0, std::min(bytes.find('\n'), std::size_t{200})));
    if (!request_line_.empty() && request_line_.back() == '\r') request_line_.pop_back();
    started_ = Clock::now();
    last_backend_ = nullptr;
    upstream_seconds_ = -1;
    bytes_sent_ = 0;
    server_.log_protocol_error(peer_ip_, r.status, refusal_reason(r.status, false), bytes);
    answer_error(r.status, true);
    return true;
  }
  begin_request(request_, r.consumed);
  return true;
}

void ClientConn::begin_request(const http::Request& request, std::size_t head_length) {
  started_ = Clock::now();
  ++served_;
  method_ = request.method;
  idempotent_ = is_idempotent(request.method);
  has_body_ = request.chunked || request.content_length.value_or(0) > 0;
  client_minor_ = request.version_minor;
  client_keep_alive_ = request.keep_alive;
  close_after_ = !request.keep_alive || server_.shutting_down() ||
                 served_ >= static_cast<std::uint64_t>(server_.options().max_keepalive_requests);
  request_line_.assign(request.method_token);
  request_line_ += ' ';
  request_line_ += request.target;
  request_line_ += request.version_minor == 0 ? " HTTP/1.0" : " HTTP/1.1";
  user_agent_.assign(request.header("User-Agent").value_or(""));
  tried_.clear();
  last_backend_ = nullptr;
  status_ = 0;
  bytes_sent_ = 0;
  upstream_seconds_ = -1;
  response_started_ = false;
  response_complete_ = false;
  request_body_.start(request, server_.options().limits.max_body);
  request_body_done_ = !has_body_;

  if (serve_locally(request)) {
    in_.retrieve(head_length);
    head_scanned_ = 0;
    if (has_body_) close_after_ = true;  // its body is not read: do not look for the next head
    phase_ = close_after_ ? Phase::Closing : Phase::ReadHead;
    return;
  }
  routing_ = server_.routing();  // kept to the end of this request, whatever a reload does
  route_ = routing_->route_for(request.host, request.path);
  if (route_ == nullptr) {  // no [[route]] for this Host and path
    in_.retrieve(head_length);
    head_scanned_ = 0;
    answer_error(404, has_body_);  // its body is not read: do not look for the next head
    return;
  }
  hash_key_.assign(routing_->balance_of(*route_) == Balance::HashPath ? request.path
                                                                    : std::string_view(peer_ip_));
  build_upstream_head(request);
  in_.retrieve(head_length);  // `request` points into these bytes: not used from here on
  head_scanned_ = 0;
  phase_ = Phase::Exchange;
  send_to_backend();
}

void ClientConn::build_upstream_head(const http::Request& request) {
  std::string& h = upstream_head_;
  h.clear();
  h += request.method_token;
  h += ' ';
  if (!request.target.empty() && request.target.front() != '/' && request.target != "*") {
    h += request.path;  // absolute-form: the backend gets origin-form
    if (!request.query.empty()) {
      h += '?';
      h += request.query;
    }
  } else {
    h += request.target;
  }
  h += request.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  // Host kept, or rewritten when the route says host_header = "rewrite:NAME".
  const std::string_view host = route_->rewrite_host.empty() ? request.host
                                                             : std::string_view(route_->rewrite_host);
  if (!host.empty()) {
    h += "Host: ";
    h += host;
    h += "\r\n";
  }
  const std::string_view connection = request.header("Connection").value_or("");
  for (const http::Header& f : request.headers) {
    if (!forward_field(f.name, connection)) continue;
    h += f.name;
    h += ": ";
    h += f.value;
    h += "\r\n";
  }
  // Re-framed: exactly one framing field, the one the parser decided on.
  if (request.chunked) {
    h += "Transfer-Encoding: chunked\r\n";
  } else if (request.content_length) {
    fmt::format_to(std::back_inserter(h), "Content-Length: {}\r\n", *request.content_length);
  }
  if (request.version_minor == 0) h += "Connection: keep-alive\r\n";
  ForwardInfo info;
  info.client_ip = peer_ip_;
  info.host = request.host;
  info.prior_xff = request.header("X-Forwarded-For").value_or("");
  info.prior_via = request.header("Via").value_or("");
  info.prior_forwarded = request.header("Forwarded").value_or("");
  info.version_minor = request.version_minor;
  append_forwarding(h, info);
  h += "\r\n";
}

// Moves body bytes from the client's buffer to the backend's, as the decoder
// vouches for them (chunked bytes pass in their validated chunked form).
bool ClientConn::forward_request_body() {
  if (in_.empty()) {
    if (client_eof_) {  // the client stopped in the middle of its body
      close();
      return false;
    }
    return false;
  }
  http::BodyDecoder::Step step = request_body_.feed(in_.view());
  if (step.state == http::BodyDecoder::State::Error) {
    if (backend_ != nullptr) {
      --backend_->active;
      backend_ = nullptr;
    }
    server_.log_protocol_error(peer_ip_, step.status, refusal_reason(step.status, true), request_line_);
    if (response_started_) {
      abort_exchange();
    } else {
      answer_error(step.status, true);
    }
    return true;
  }
  up_out_.append(in_.view().substr(0, step.consumed));
  in_.retrieve(step.consumed);
  if (step.state == http::BodyDecoder::State::Done) request_body_done_ = true;
  return step.consumed > 0;
}

void ClientConn::send_to_backend() {
  Backend* backend = server_.pick(*routing_, *route_, hash_key_, tried_);
  if (backend == nullptr) {  // none healthy; or, on a retry, none left to try
    int status = 503;
    if (!tried_.empty()) status = last_failure_ == UpstreamError::Timeout ? 504 : 502;
    answer_error(status, !request_body_done_ || close_after_);
    return;
  }
  backend_ = backend;
  last_backend_ = backend;
  tried_.push_back(backend);
  ++backend->active;
  upstream_started_ = Clock::now();
  up_out_.retrieve_all();
  up_out_.append(upstream_head_);
  up_in_.retrieve_all();
  up_eof_ = false;
  response_byte_seen_ = false;

  const ProxyOptions& o = server_.options();
  const auto pool_ms = static_cast<std::uint64_t>(o.pool_idle_timeout * 1000);
  upstream_ = backend->take_idle(loop_.now_ms(), pool_ms);
  if (upstream_) {
    up_can_write_ = true;
    up_can_read_ = false;
  } else {
    ConnectStart c = start_connect(backend->address);
    if (!c.fd) {
      upstream_failed(UpstreamError::Connect);
      return;
    }
    try {
      upstream_ = std::make_unique<UpstreamConn>(server_, *backend, std::move(c.fd));
    } catch (const std::exception& e) {
      log::warn("proxy: cannot watch a backend connection: {}", e.what());
      upstream_failed(UpstreamError::Connect);
      return;
    }
    upstream_->connecting = c.in_progress;
    up_can_write_ = !c.in_progress;
    up_can_read_ = false;
  }
  upstream_->user = this;
  ++upstream_->requests;
}

bool ClientConn::serve_locally(const http::Request& request) {
  if (!server_.options().admin || request.path != "/-/metrics") return false;
  if (request.method != http::Method::Get && request.method != http::Method::Head) return false;
  std::string body = server_.render_metrics();
  http::Response r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.content_length = body.size();
  r.extra_headers = "Cache-Control: no-store\r\n";
  append_response_head(out_, r, !close_after_ && !has_body_, http::current_http_date());
  if (request.method != http::Method::Head) out_.append(body);
  status_ = 200;
  bytes_sent_ = request.method == http::Method::Head ? 0 : body.size();
  log_access(200);
  server_.metrics().request_done(method_, 200, bytes_sent_, seconds_since(started_));
  return true;
}

// ---------------------------------------------------------------- responses

bool ClientConn::on_response_head() {
  if (up_in_.empty()) {
    if (up_eof_) upstream_failed(UpstreamError::Reset);  // closed before a single byte
    return up_eof_;
  }
  HeadResult r = parse_response_head(up_in_.view(), response_, server_.options().max_response_head);
  if (r.kind == HeadParse::Incomplete) {
    if (up_eof_) upstream_failed(UpstreamError::BadResponse);
    return up_eof_;
  }
  if (r.kind != HeadParse::Done || response_.status == 101) {
    upstream_failed(UpstreamError::BadResponse);  // garbage, too big, or an Upgrade we never asked for
    return true;
  }
  if (response_.status < 200) {  // interim (100 Continue): pass it on, wait for the final one
    if (client_minor_ == 1) {
      out_.append(fmt::format("HTTP/1.1 {} {}\r\n\r\n", response_.status, response_.reason));
    }
    up_in_.retrieve(r.consumed);
    return true;
  }
  status_ = response_.status;
  const bool has_body = response_has_body(method_, status_);
  close_delimited_ = has_body && !response_.chunked && !response_.content_length;
  if (close_delimited_ || !request_body_done_) close_after_ = true;
  emit_response_head();
  up_in_.retrieve(r.consumed);  // response_'s views die here
  response_started_ = true;
  if (!has_body) {
    response_done();
    return true;
  }
  if (!close_delimited_) {
    http::Request framing;  // the decoder frames responses the same way
    framing.chunked = response_.chunked;
    framing.content_length = response_.content_length;
    response_body_.start(framing, ~std::uint64_t{0} >> 2);
    if (response_body_.done()) response_done();  // Content-Length: 0
  }
  return true;
}

void ClientConn::emit_response_head() {
  std::string& h = scratch_;  // reused: its capacity stays between responses
  h.assign("HTTP/1.1 ");
  fmt::format_to(std::back_inserter(h), "{} ", response_.status);
  h += response_.reason;
  h += "\r\n";
  std::string_view prior_via;
  for (const http::Header& f : response_.headers) {
    if (http::iequals(f.name, "Via")) prior_via = f.value;
    if (!forward_field(f.name, response_.connection)) continue;
    h += f.name;
    h += ": ";
    h += f.value;
    h += "\r\n";
  }
  if (response_.chunked) {
    h += "Transfer-Encoding: chunked\r\n";
  } else if (response_.content_length) {
    fmt::format_to(std::back_inserter(h), "Content-Length: {}\r\n", *response_.content_length);
  }
  h += "Via: ";
  if (!prior_via.empty()) {
    h += prior_via;
    h += ", ";
  }
  h += "1.1 serverlab-proxy\r\n";
  // Our own hop's Connection field, always stated (as every serverlab server does).
  h += close_after_ ? "Connection: close\r\n" : "Connection: keep-alive\r\n";
  h += "\r\n";
  out_.append(h);
}

bool ClientConn::forward_response_body() {
  if (response_complete_) return false;
  if (up_in_.empty()) {
    if (!up_eof_) return false;
    if (close_delimited_) {
      response_done();  // EOF is this body's end
    } else {
      upstream_failed(UpstreamError::Truncated);  // cut short of its framing
    }
    return true;
  }
  if (close_delimited_) {
    bytes_sent_ += up_in_.readable_bytes();
    out_.append(up_in_.view());
    up_in_.retrieve_all();
    return true;
  }
  http::BodyDecoder::Step step = response_body_.feed(up_in_.view());
  if (step.state == http::BodyDecoder::State::Error) {
    upstream_failed(UpstreamError::BadResponse);
    return true;
  }
  bytes_sent_ += step.consumed;
  out_.append(up_in_.view().substr(0, step.consumed));
  up_in_.retrieve(step.consumed);
  if (step.state == http::BodyDecoder::State::Done) response_done();
  return true;
}

void ClientConn::response_done() {
  response_complete_ = true;
  upstream_seconds_ = seconds_since(upstream_started_);
  Backend& b = *backend_;
  ++b.stats.requests;
  b.stats.observe(upstream_seconds_);
  b.breaker.success();
  --b.active;
  backend_ = nullptr;
  const bool reusable = response_.keep_alive && !close_delimited_ && request_body_done_ &&
                        up_in_.empty() && !up_eof_ && up_out_.empty();
  if (reusable && b.in_use) {  // a backend a reload dropped gets no pooled connection back
    upstream_->user = nullptr;
    upstream_ = b.give_back(std::move(upstream_), loop_.now_ms(), server_.options().pool_size);
  }
  drop_upstream();  // not reusable, or the pool is full
  log_access(status_);
  server_.metrics().request_done(method_, status_, bytes_sent_, seconds_since(started_));
  phase_ = close_after_ ? Phase::Closing : Phase::ReadHead;
}

// ---------------------------------------------------------------- failures

void ClientConn::upstream_failed(UpstreamError kind) {
  Backend* b = backend_;
  last_failure_ = kind;
  // A pooled connection the backend closed while it sat idle (a race no watch can
  // close fully): not the backend's fault, and safe to try again when nothing came back.
  const bool stale = upstream_ && upstream_->requests > 1 && !response_byte_seen_ &&
                     kind == UpstreamError::Reset;
  if (b != nullptr) {
    if (!stale) {
      ++b->stats.errors[static_cast<std::size_t>(kind)];
      const bool was_healthy = b->breaker.healthy();
      b->breaker.failure(loop_.now_ms());
      log::debug("proxy: {} failed ({}) for {}", b->name, error_name(kind), request_line_);
      if (was_healthy && !b->breaker.healthy()) {
        log::warn("proxy: {} taken out after {} failures in a row (last: {})", b->name,
                  server_.options().fail_threshold, error_name(kind));
      }
    }
    --b->active;
    backend_ = nullptr;
  }
  drop_upstream();
  if (!response_byte_seen_ && may_retry()) {
    if (stale) {
      tried_.pop_back();  // the same backend may take it again, on a fresh connection
    } else if (b != nullptr) {
      ++b->stats.retries;
    }
    send_to_backend();
    return;
  }
  if (response_started_) {
    abort_exchange();
    return;
  }
  answer_error(kind == UpstreamError::Timeout ? 504 : 502, !request_body_done_ || close_after_);
}

bool ClientConn::may_retry() const {
  return idempotent_ && !has_body_ &&
         tried_.size() <= static_cast<std::size_t>(server_.options().retries);
}

// A response the proxy writes itself (parse errors, 502/503/504).
void ClientConn::answer_error(int status, bool close_after) {
  drop_upstream();
  close_after_ = close_after_ || close_after;
  status_ = status;
  std::string body = fmt::format("{} {}\n", status, phrase(status));
  // Written here, not by append_response_head: its phrase table is the servers' own.
  out_.append(fmt::format("HTTP/1.1 {} {}\r\nServer: serverlab\r\nDate: {}\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n"
                          "Connection: {}\r\n\r\n",
                          status, phrase(status), http::current_http_date(), body.size(),
                          close_after_ ? "close" : "keep-alive"));
  if (method_ != http::Method::Head) out_.append(body);
  bytes_sent_ = method_ == http::Method::Head ? 0 : body.size();
  response_started_ = true;
  response_complete_ = true;
  log_access(status);
  server_.metrics().request_done(method_, status, bytes_sent_, seconds_since(started_));
  if (status >= 500) server_.metrics().error("upstream");
  phase_ = close_after_ ? Phase::Closing : Phase::ReadHead;
}

// The response has begun and cannot be finished: what was forwarded goes out, then
// the connection closes, so the client sees the body end early instead of a wrong one.
void ClientConn::abort_exchange() {
  if (backend_ != nullptr) {
    --backend_->active;
    backend_ = nullptr;
  }
  drop_upstream();
  close_after_ = true;
  log_access(status_);
  server_.metrics().error("upstream");
  phase_ = Phase::Closing;
}

void ClientConn::drop_upstream() {
  if (upstream_) {
    upstream_->user = nullptr;
    server_.retire(std::move(upstream_));
  }
  up_can_read_ = up_can_write_ = false;
}

// ---------------------------------------------------------------- timers

void ClientConn::set_deadline(double seconds) {
  deadline_ms_ = loop_.now_ms() + static_cast<std::uint64_t>(seconds * 1000);
  if (loop_.timer_pending(timer_) && timer_at_ms_ <= deadline_ms_) return;  // fires early, re-arms
  loop_.cancel(timer_);
  timer_at_ms_ = deadline_ms_;
  timer_ = loop_.run_after(deadline_ms_ - loop_.now_ms(), [this] { on_timer(); });
}

void ClientConn::on_timer() {
  if (closed()) return;
  if (loop_.now_ms() < deadline_ms_) {
    timer_at_ms_ = deadline_ms_;
    timer_ = loop_.run_after(deadline_ms_ - loop_.now_ms(), [this] { on_timer(); });
    return;
  }
  on_deadline();
  if (!closed()) drive();
}

void ClientConn::on_deadline() {
  switch (wait_) {
    case Wait::Head:
      if (in_.empty()) {
        close();
      } else {
        started_ = Clock::now();
        method_ = http::Method::Unknown;
        request_line_.clear();
        last_backend_ = nullptr;
        upstream_seconds_ = -1;
        server_.log_protocol_error(peer_ip_, 408, refusal_reason(408, false), in_.view());
        answer_error(408, true);
      }
      return;
    case Wait::KeepAlive:
    case Wait::Write:
      close();
      return;
    case Wait::Connect:
    case Wait::Read:
      if (upstream_) {
        upstream_failed(UpstreamError::Timeout);
      } else {
        close();
      }
      return;
  }
}

void ClientConn::log_access(int status) {
  if (!server_.access_log_enabled()) return;
  http::AccessLogEntry entry;
  entry.peer = peer_ip_;
  entry.request_line = request_line_;
  entry.status = status;
  entry.bytes = bytes_sent_;
  entry.user_agent = user_agent_;
  std::string line;
  http::AccessLog::format(line, entry, http::current_clf_date());
  if (!line.empty() && line.back() == '\n') line.pop_back();
  line += " upstream=";
  line += last_backend_ != nullptr ? std::string_view(last_backend_->name) : "-";
  line += upstream_seconds_ >= 0 ? fmt::format(" upstream_time={:.3f}", upstream_seconds_)
                                 : std::string(" upstream_time=-");
  line += fmt::format(" request_time={:.3f}\n", seconds_since(started_));
  server_.write_access_log(line);
}

}  // namespace serverlab::proxy
