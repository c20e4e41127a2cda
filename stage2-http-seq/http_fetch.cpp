// http_fetch.cpp: the blocking HTTP/1.1 client behind http-get (see http_fetch.hpp).
#include "http_fetch.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "serverlab/http/date.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"
#include "serverlab/tls/context.hpp"
#include "serverlab/tls/session.hpp"
#include "serverlab/tls/stream.hpp"

namespace serverlab::fetch {
namespace {

using Clock = std::chrono::steady_clock;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// "a/./b/../c" -> "a/c"; keeps a leading '/', never climbs above the root.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(start, slash - start);
    bool last = slash == path.size();
    if (seg == "..") {
      if (out.size() > 1) out.pop_back();
      if (last) out.emplace_back("");  // "/a/.." -> "/" (keeps the trailing slash)
    } else if (seg == ".") {
      if (last) out.emplace_back("");
    } else {
      out.push_back(seg);
    }
    start = slash + 1;
  }
  std::string result;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i > 0) result += '/';
    result += out[i];
  }
  return result.empty() ? "/" : result;
}

double seconds_until(Clock::time_point deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

// Sets the socket's receive and send timeouts to what remains before `deadline`
// (at least 1 ms: a zero timeval would mean "wait forever").
void arm_timeouts(int fd, Clock::time_point deadline, const char* what) {
  double left = seconds_until(deadline);
  if (left <= 0) throw FetchError(fmt::format("timed out {}", what));
  left = std::max(left, 0.001);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(left);
  tv.tv_usec = static_cast<suseconds_t>((left - static_cast<double>(tv.tv_sec)) * 1e6);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Thrown when connecting fails, or a connection fails before any byte of a response arrived: the request
// may be sent again (on a new connection) without the server having acted twice on
// an idempotent request.
class ConnectionLost : public FetchError {
 public:
  using FetchError::FetchError;
};

// Connects with a deadline: a non-blocking connect, then poll for writability and read
// SO_ERROR. Tries each address getaddrinfo gives. Throws ConnectionLost naming the peer
// (worth a retry), or FetchError when the name does not resolve.
Fd connect_with_timeout(const Url& url, double timeout, Clock::time_point total_deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string port = std::to_string(url.port);
  if (int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &list); rc != 0)
    throw FetchError(fmt::format("cannot resolve {}: {}", url.host, ::gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(list, &::freeaddrinfo);

  std::string last_error = "no address";
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) throw FetchError(fmt::format("socket: {}", std::strerror(errno)));
    int err = 0;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) < 0) {
      err = errno;
      if (err == EINPROGRESS) {
        double wait = std::min(timeout, seconds_until(total_deadline));
        pollfd p{fd.get(), POLLOUT, 0};
        int ready = wait > 0 ? ::poll(&p, 1, static_cast<int>(std::ceil(wait * 1000))) : 0;
        if (ready == 0) {
          last_error = "connection timed out";
          continue;
        }
        socklen_t len = sizeof err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    if (err != 0) {
      last_error = std::strerror(err);
      continue;
    }
    set_nonblocking(fd.get(), false);
    set_nodelay(fd.get());
    return fd;
  }
  throw ConnectionLost(fmt::format("connect to {}: {}", url.authority(), last_error));
}

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

// ---------------------------------------------------------------- URLs

std::string Url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == (https ? 443 : 80) ? h : fmt::format("{}:{}", h, port);
}

std::string Url::to_string() const { return (https ? "https://" : "http://") + authority() + target; }

std::optional<Url> parse_url(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<Url> {
    *error = std::move(why);
    return std::nullopt;
  };
  std::string_view scheme_end = "://";
  auto colon = text.find(scheme_end);
  if (colon == std::string_view::npos) return fail("not an absolute URL (want http://HOST[:PORT]/PATH)");
  std::string_view scheme = text.substr(0, colon);
  const bool https = iequals(scheme, "https");
  if (!https && !iequals(scheme, "http")) return fail(fmt::format("unsupported scheme '{}'", scheme));
  std::string_view rest = text.substr(colon + 3);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  std::size_t auth_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view target = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos) return fail("user:password@ is not supported");

  Url url;
  url.https = https;
  url.port = https ? 443 : 80;
  std::string_view port_text;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated [IPv6] host");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return fail("junk after [IPv6] host");
    if (!after.empty()) port_text = after.substr(1);
  } else {
    auto c = authority.find(':');
    url.host = std::string(authority.substr(0, c));
    if (c != std::string_view::npos) port_text = authority.substr(c + 1);
  }
  if (url.host.empty()) return fail("no host");
  for (char ch : url.host)
    if (std::isspace(static_cast<unsigned char>(ch)) || std::iscntrl(static_cast<unsigned char>(ch)))
      return fail("bad character in host");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return fail(fmt::format("bad port '{}'", port_text));
    url.port = static_cast<std::uint16_t>(port);
  }
  for (char ch : target)
    if (ch == ' ' || std::iscntrl(static_cast<unsigned char>(ch)))
      return fail("spaces and control characters must be percent-encoded");
  if (target.empty()) url.target = "/";
  else if (target.front() == '?') url.target = "/" + std::string(target);
  else url.target = std::string(target);
  return url;
}

std::optional<Url> resolve_location(const Url& base, std::string_view location,
                                    std::string* error) {
  location = trim(location);
  if (location.empty()) {
    *error = "empty Location";
    return std::nullopt;
  }
  if (location.find("://") != std::string_view::npos && location.find("://") < location.find('/'))
    return parse_url(location, error);
  if (location.starts_with("//"))
    return parse_url(fmt::format("{}:{}", base.https ? "https" : "http", location), error);
  if (auto hash = location.find('#'); hash != std::string_view::npos)
    location = location.substr(0, hash);
  for (char ch : location) {
    if (ch == ' ' || std::iscntrl(static_cast<unsigned char>(ch))) {
      *error = "bad character in Location";
      return std::nullopt;
    }
  }

  Url url = base;
  std::string_view base_path = std::string_view(base.target).substr(0, base.target.find('?'));
  if (location.starts_with('?')) {
    url.target = std::string(base_path) + std::string(location);
    return url;
  }
  std::string_view path = location.substr(0, location.find('?'));
  std::string_view query =
      location.find('?') == std::string_view::npos ? "" : location.substr(location.find('?'));
  std::string merged;
  if (path.starts_with('/')) {
    merged = std::string(path);
  } else {
    merged = std::string(base_path.substr(0, base_path.rfind('/') + 1)) + std::string(path);
  }
  url.target = remove_dot_segments(merged) + std::string(query);
  return url;
}

std::optional<std::string_view> Response::header(std::string_view name) const {
  for (const Header& h : headers)
    if (iequals(h.first, name)) return std::string_view(h.second);
  return std::nullopt;
}

double retry_delay(const Options& options, int retry, std::optional<std::string_view> retry_after) {
  // [lab04:backoff:begin]
  // [lab04:backoff:stub] // Until this is written, every retry waits the same --backoff (no doubling,
  // [lab04:backoff:stub] // no cap, no jitter) and Retry-After is ignored.
  // [lab04:backoff:stub] (void)retry;
  // [lab04:backoff:stub] (void)retry_after;
  // [lab04:backoff:stub] return options.backoff;
  if (retry_after) {
    std::string_view v = trim(*retry_after);
    unsigned long seconds = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec == std::errc{} && end == v.data() + v.size()) return static_cast<double>(seconds);
    if (auto when = http::parse_http_date(v))
      return std::max(0.0, std::difftime(*when, std::time(nullptr)));
    // An unreadable Retry-After is ignored: fall through to our own backoff.
  }
  thread_local std::mt19937 rng{std::random_device{}()};
  double base = options.backoff * std::pow(2.0, std::max(0, retry - 1));
  double jitter = std::uniform_real_distribution<double>(0.5, 1.0)(rng);
  return std::min(base, options.max_backoff) * jitter;
  // [lab04:backoff:end]
}

std::optional<std::uint64_t> parse_chunk_size(std::string_view line) {
  // [lab03:chunk-size:begin]
  // [lab03:chunk-size:stub] // Until this is written, no chunked body can be read ("bad chunk size").
  // [lab03:chunk-size:stub] (void)line;
  // [lab03:chunk-size:stub] return std::nullopt;
  std::string_view digits = trim(line.substr(0, line.find(';')));
  std::uint64_t size = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return size;
  // [lab03:chunk-size:end]
}

// ---------------------------------------------------------------- one connection

// Reads a connection's bytes through a buffer, with common's BufferedReader's results
// (LineStatus, IoResult), from either transport: read(2) on the socket for http://, the
// TlsStream for https://. The parsing below cannot tell them apart.
class StreamReader {
 public:
  using LineStatus = BufferedReader::LineStatus;
  using Source = std::function<IoResult(char*, std::size_t)>;  // Ok(n>0), Eof or Error(errno)

  explicit StreamReader(Source source) : source_(std::move(source)) {}

  // As BufferedReader::read_line: a '\n'-terminated line (kept), the unterminated tail at
  // EOF (Partial), Eof, TooLong after max bytes, or Error (error(); EAGAIN: timed out).
  LineStatus read_line(std::string& line, std::size_t max) {
    line.clear();
    for (;;) {
      std::string_view avail(buf_.data() + pos_, buffered());
      std::string_view window = avail.substr(0, max - line.size());
      if (auto nl = window.find('\n'); nl != std::string_view::npos) {
        line.append(window.substr(0, nl + 1));
        pos_ += nl + 1;
        return LineStatus::Line;
      }
      line.append(window);
      pos_ += window.size();
      if (line.size() >= max) return LineStatus::TooLong;
      if (!fill()) {
        if (error_ != 0) return LineStatus::Error;
        return line.empty() ? LineStatus::Eof : LineStatus::Partial;
      }
    }
  }
  // As BufferedReader::read_n: Ok(n), Eof(count) or Error(errno, count).
  IoResult read_n(void* out, std::size_t n) {
    auto* dst = static_cast<char*>(out);
    std::size_t done = 0;
    while (done < n) {
      if (buffered() == 0 && !fill()) return error_ != 0 ? IoResult::fail(error_, done) : IoResult::eof(done);
      const std::size_t take = std::min(n - done, buffered());
      std::memcpy(dst + done, buf_.data() + pos_, take);
      pos_ += take;
      done += take;
    }
    return IoResult::ok(done);
  }
  std::size_t buffered() const { return buf_.size() - pos_; }
  int error() const { return error_; }

 private:
  // One read from the source into the buffer; false on EOF or an error.
  bool fill() {
    buf_.erase(0, pos_);
    pos_ = 0;
    char chunk[16 * 1024];
    IoResult r = source_(chunk, sizeof chunk);
    if (r.is_ok() && r.bytes > 0) {
      buf_.append(chunk, r.bytes);
      return true;
    }
    error_ = r.is_error() ? r.error : (r.status == IoResult::Status::WouldBlock ? EAGAIN : 0);
    return false;
  }

  Source source_;
  std::string buf_;
  std::size_t pos_ = 0;
  int error_ = 0;
};

// A socket, its TLS layer for https:// (else null), and the reader over them. Not
// movable (the reader's source points at the members).
struct Fetcher::Connection {
  Connection(Fd socket, std::string pool_key, const tls::TlsContext* tls, const std::string& host)
      : fd(std::move(socket)),
        session(tls != nullptr ? std::make_unique<tls::TlsSession>(*tls, host) : nullptr),
        stream(session ? std::make_unique<tls::TlsStream>(fd.get(), *session) : nullptr),
        reader([this](char* buf, std::size_t n) { return read_some(buf, n); }),
        key(std::move(pool_key)) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (stream && session->state() == tls::TlsSession::State::Open) stream->close();
  }

  IoResult read_some(char* buf, std::size_t n) {
    if (stream) return stream->read_some(buf, n);
    for (;;) {
      ssize_t r = ::read(fd.get(), buf, n);
      if (r > 0) return IoResult::ok(static_cast<std::size_t>(r));
      if (r == 0) return IoResult::eof(0);
      if (errno != EINTR) return IoResult::fail(errno);
    }
  }
  IoResult write(std::string_view bytes) {
    return stream ? stream->write_n(bytes) : write_n(fd.get(), bytes);
  }

  Fd fd;
  std::unique_ptr<tls::TlsSession> session;
  std::unique_ptr<tls::TlsStream> stream;
  StreamReader reader;
  std::string key;      // "scheme:host:port" this connection is pooled under
  int requests = 0;     // exchanges completed on it
};

namespace {

// Reads one line (without its CRLF) of a response head or a chunked body.
// `started` says whether any byte of this response has arrived: a failure before that is
// a ConnectionLost (safe to retry), after it a plain FetchError.
std::string read_line(StreamReader& reader, std::size_t max, bool started, const char* what) {
  std::string line;
  switch (reader.read_line(line, max)) {
    case BufferedReader::LineStatus::Line:
      break;
    case BufferedReader::LineStatus::TooLong:
      throw FetchError(fmt::format("{} longer than {} bytes", what, max));
    case BufferedReader::LineStatus::Error:
      if (reader.error() == EAGAIN || reader.error() == EWOULDBLOCK)
        throw FetchError(fmt::format("timed out reading the {}", what));
      if (!started) throw ConnectionLost(fmt::format("connection lost: {}", std::strerror(reader.error())));
      throw FetchError(fmt::format("reading the {}: {}", what, std::strerror(reader.error())));
    case BufferedReader::LineStatus::Eof:
    case BufferedReader::LineStatus::Partial:
      if (!started) throw ConnectionLost("server closed the connection before responding");
      throw FetchError(fmt::format("connection closed in the middle of the {}", what));
  }
  line.pop_back();  // '\n'
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Reads header lines up to the empty line into `out`; `budget` counts the bytes allowed.
void read_fields(StreamReader& reader, const Options& options, std::size_t& budget,
                 std::vector<Header>& out, const char* what) {
  for (;;) {
    std::string line = read_line(reader, options.max_line_bytes, true, what);
    if (line.size() + 2 > budget)
      throw FetchError(fmt::format("response {} larger than {} bytes", what, options.max_head_bytes));
    budget -= line.size() + 2;
    if (line.empty()) return;
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0 || line[0] == ' ' || line[0] == '\t')
      throw FetchError(fmt::format("malformed {} line: '{}'", what, line.substr(0, 60)));
    std::string_view name = std::string_view(line).substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos)
      throw FetchError(fmt::format("malformed {} line: '{}'", what, line.substr(0, 60)));
    out.emplace_back(std::string(name), std::string(trim(std::string_view(line).substr(colon + 1))));
  }
}

// Reads n body bytes in blocks, passing them on. Throws on timeout, and on EOF unless
// `until_eof` (a close-delimited body, where EOF is the end).
void read_counted(StreamReader& reader, int fd, std::uint64_t n, Clock::time_point deadline,
                  const BodySink& sink, const std::function<void(std::size_t)>& on_block,
                  const char* what, bool until_eof = false) {
  std::array<char, 16 * 1024> block;
  std::uint64_t done = 0;
  while (done < n) {
    arm_timeouts(fd, deadline, "reading the body");
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), n - done));
    IoResult r = reader.read_n(block.data(), want);
    if (r.bytes > 0) {
      sink(std::string_view(block.data(), r.bytes));
      on_block(r.bytes);
    }
    done += r.bytes;
    if (r.is_error()) {
      if (r.error == EAGAIN || r.error == EWOULDBLOCK) throw FetchError("timed out reading the body");
      throw FetchError(fmt::format("reading the body: {}", std::strerror(r.error)));
    }
    if (r.is_eof() && until_eof) return;
    if (r.is_eof()) throw FetchError(fmt::format("{} truncated: got {} of {} bytes", what, done, n));
  }
}

std::uint64_t parse_content_length(const std::vector<Header>& headers, bool* present) {
  std::optional<std::uint64_t> length;
  for (const Header& h : headers) {
    if (!iequals(h.first, "Content-Length")) continue;
    std::uint64_t n = 0;
    const std::string& v = h.second;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size())
      throw FetchError(fmt::format("bad Content-Length '{}'", v.substr(0, 40)));
    if (length && *length != n) throw FetchError("conflicting Content-Length headers");
    length = n;
  }
  *present = length.has_value();
  return length.value_or(0);
}

// True when the last transfer coding is "chunked". Any other coding is refused: we
// cannot decode it, and guessing the body's end would be worse.
bool is_chunked(const std::vector<Header>& headers) {
  std::string codings;
  for (const Header& h : headers)
    if (iequals(h.first, "Transfer-Encoding")) codings += (codings.empty() ? "" : ",") + h.second;
  if (codings.empty()) return false;
  std::string_view last = codings;
  if (auto comma = last.rfind(','); comma != std::string_view::npos) last = last.substr(comma + 1);
  if (!iequals(trim(last), "chunked"))
    throw FetchError(fmt::format("unsupported Transfer-Encoding '{}'", codings.substr(0, 40)));
  return true;
}

bool has_token(const std::vector<Header>& headers, std::string_view name, std::string_view token) {
  for (const Header& h : headers) {
    if (!iequals(h.first, name)) continue;
    std::string_view v = h.second;
    while (!v.empty()) {
      auto comma = v.find(',');
      if (iequals(trim(v.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------- the Fetcher

Fetcher::Fetcher(Options options) : options_(std::move(options)) {}
Fetcher::~Fetcher() = default;

void Fetcher::note(const std::string& line) const {
  if (options_.trace != nullptr) std::fprintf(options_.trace, "* %s\n", line.c_str());
}

std::unique_ptr<Fetcher::Connection> Fetcher::acquire(const Url& url, Clock::time_point deadline) {
  std::string key = fmt::format("{}:{}:{}", url.https ? "https" : "http", url.host, url.port);
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    if ((*it)->key != key) continue;
    std::unique_ptr<Connection> conn = std::move(*it);
    idle_.erase(it);
    note(fmt::format("reusing the connection to {} ({} requests so far)", url.authority(), conn->requests));
    return conn;
  }
  Fd fd = connect_with_timeout(url, options_.connect_timeout, deadline);
  note(fmt::format("connected to {} ({})", url.authority(), peer_address(fd.get()).to_string()));
  auto conn = std::make_unique<Connection>(std::move(fd), std::move(key),
                                           url.https ? &tls_context() : nullptr, url.host);
  if (conn->stream) {
    // The handshake has its own deadline: the connect timeout, within the total one.
    const double left = std::min(options_.connect_timeout, seconds_until(deadline));
    if (left <= 0 || !conn->stream->handshake(static_cast<int>(std::max(1.0, left * 1000))))
      throw FetchError(fmt::format("TLS handshake with {} failed: {}", url.authority(),
                                   conn->session->error().empty()
                                       ? std::string(tls::failure_name(conn->session->failure()))
                                       : conn->session->error()));
    note(fmt::format("TLS: {} with {}", conn->session->version(), url.authority()));
  }
  return conn;
}

const tls::TlsContext& Fetcher::tls_context() {
  if (!tls_) {
    tls::ClientOptions options;
    options.ca_file = options_.ca_file;
    try {
      tls_ = std::make_unique<tls::TlsContext>(tls::TlsContext::client(options));
    } catch (const tls::TlsError& e) {
      throw FetchError(e.what());
    }
  }
  return *tls_;
}

void Fetcher::release(std::unique_ptr<Connection> conn) {
  ++conn->requests;
  if (options_.pool_size == 0) return;
  if (idle_.size() >= options_.pool_size) idle_.erase(idle_.begin());  // the oldest goes
  idle_.push_back(std::move(conn));
}

Response Fetcher::exchange(const Url& url, const std::string& method, const std::string& body,
                           Clock::time_point deadline, const KeepBody& keep_body,
                           const BodySink& final_sink, const ProgressFn& final_progress) {
  // A pooled connection the server has since closed fails before any response byte:
  // that one failure is retried at once on a new connection (it is not the server's fault).
  for (int fresh_attempt = 0;; ++fresh_attempt) {
    std::unique_ptr<Connection> conn = acquire(url, deadline);
    bool reused = conn->requests > 0;
    try {
      // ---- the request
      std::string request = fmt::format(
          "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: serverlab-http-get/1\r\nAccept: */*\r\n",
          method, url.target, url.authority());
      if (!body.empty() || method == "POST" || method == "PUT")
        request += fmt::format("Content-Length: {}\r\n", body.size());
      request += "\r\n";
      if (options_.trace != nullptr) {
        std::string_view head = request;
        while (head.size() > 2) {
          auto eol = head.find("\r\n");
          std::fprintf(options_.trace, "> %.*s\n", static_cast<int>(eol), head.data());
          head.remove_prefix(eol + 2);
        }
      }
      request += body;
      arm_timeouts(conn->fd.get(), deadline, "sending the request");
      IoResult w = conn->write(request);
      if (w.is_error()) {
        if (w.error == EAGAIN || w.error == EWOULDBLOCK) throw FetchError("timed out sending the request");
        throw ConnectionLost(fmt::format("sending the request: {}", std::strerror(w.error)));
      }

      // ---- the head (1xx interim responses are skipped)
      Response response;
      response.url = url;
      response.reused = reused;
      std::size_t budget = options_.max_head_bytes;
      for (bool started = false;;) {
        arm_timeouts(conn->fd.get(), deadline, "waiting for the response");
        std::string status_line = read_line(conn->reader, options_.max_line_bytes, started, "status line");
        started = true;
        if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ' ||
            !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
            !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
            !std::isdigit(static_cast<unsigned char>(status_line[11])))
          throw FetchError(fmt::format("not an HTTP/1.x response: '{}'", status_line.substr(0, 60)));
        response.version = status_line.substr(0, 8);
        response.status = std::stoi(status_line.substr(9, 3));
        response.reason = status_line.size() > 13 ? status_line.substr(13) : "";
        budget = budget > status_line.size() + 2 ? budget - status_line.size() - 2 : 0;
        response.headers.clear();
        arm_timeouts(conn->fd.get(), deadline, "reading the response head");
        read_fields(conn->reader, options_, budget, response.headers, "head");
        if (options_.trace != nullptr) {
          std::fprintf(options_.trace, "< %s\n", status_line.c_str());
          for (const Header& h : response.headers)
            std::fprintf(options_.trace, "< %s: %s\n", h.first.c_str(), h.second.c_str());
        }
        if (response.status >= 200 || response.status == 101) break;
      }

      // ---- the body: which of the three framings? (read in full even when dropped,
      // so the connection stays usable)
      const BodySink drop = [](std::string_view) {};
      const ProgressFn no_progress;
      bool keep = keep_body(response);
      const BodySink& sink = keep ? final_sink : drop;
      const ProgressFn& progress = keep ? final_progress : no_progress;
      bool keep_alive = response.version == "HTTP/1.1" && !has_token(response.headers, "Connection", "close");
      bool no_body = method == "HEAD" || response.status == 204 || response.status == 304;
      std::uint64_t received = 0;
      auto on_block = [&](std::size_t n) {
        received += n;
        response.body_bytes = received;
        if (progress) progress(received, std::nullopt);
      };
      if (no_body) {
        // nothing follows the head
      } else if (is_chunked(response.headers)) {
        for (;;) {
          arm_timeouts(conn->fd.get(), deadline, "reading the body");
          std::string size_line = read_line(conn->reader, options_.max_line_bytes, true, "chunk size line");
          std::optional<std::uint64_t> chunk = parse_chunk_size(size_line);
          if (!chunk) throw FetchError(fmt::format("bad chunk size '{}'", size_line.substr(0, 40)));
          const std::uint64_t size = *chunk;
          if (size == 0) break;
          read_counted(conn->reader, conn->fd.get(), size, deadline, sink, on_block, "chunk");
          arm_timeouts(conn->fd.get(), deadline, "reading the body");
          if (!read_line(conn->reader, 2, true, "chunk end").empty())
            throw FetchError("chunk data longer than its size");
        }
        std::size_t trailer_budget = options_.max_head_bytes;
        read_fields(conn->reader, options_, trailer_budget, response.trailers, "trailer");
        for (const Header& h : response.trailers)
          if (options_.trace != nullptr)
            std::fprintf(options_.trace, "< (trailer) %s: %s\n", h.first.c_str(), h.second.c_str());
      } else {
        bool has_length = false;
        std::uint64_t length = parse_content_length(response.headers, &has_length);
        if (has_length) {
          auto counted_block = [&](std::size_t n) {
            received += n;
            response.body_bytes = received;
            if (progress) progress(received, length);
          };
          read_counted(conn->reader, conn->fd.get(), length, deadline, sink, counted_block, "body");
        } else {
          // Close-delimited: the body is whatever comes until the server closes.
          keep_alive = false;
          read_counted(conn->reader, conn->fd.get(), UINT64_MAX, deadline, sink, on_block, "body",
                       true);
        }
      }
      if (keep_alive && conn->reader.buffered() == 0) release(std::move(conn));
      return response;
    } catch (const ConnectionLost& lost) {
      if (reused && fresh_attempt == 0) {
        note(fmt::format("the pooled connection was closed ({}); opening a new one", lost.what()));
        continue;
      }
      throw;
    }
  }
}

Response Fetcher::fetch_hop(const Url& url, const std::string& method, const std::string& body,
                            Clock::time_point deadline, const KeepBody& keep_body,
                            const BodySink& sink, const ProgressFn& progress) {
  const bool retryable = is_idempotent(method);
  for (int attempt = 1;; ++attempt) {
    bool last_try = attempt >= options_.max_tries || !retryable;
    // Decided once the head is in: will this response be retried? Then its body is
    // read and dropped; otherwise it is the answer and its body goes to the caller.
    std::optional<double> retry_wait;
    auto wanted = [&](const Response& r) {
      if (!last_try && (r.status == 503 || r.status == 429)) {
        double wait = retry_delay(options_, attempt, r.header("Retry-After"));
        if (wait <= options_.max_backoff && wait <= seconds_until(deadline)) retry_wait = wait;
        else note(fmt::format("{} {}: asked to wait {:.1f} s, more than we may; giving up",
                              r.status, r.reason, wait));
      }
      return !retry_wait && keep_body(r);
    };
    try {
      Response r = exchange(url, method, body, deadline, wanted, sink, progress);
      r.tries = attempt;
      if (!retry_wait) return r;
      note(fmt::format("{} {}; retry {} of {} in {:.2f} s", r.status, r.reason, attempt,
                       options_.max_tries - 1, *retry_wait));
      std::this_thread::sleep_for(std::chrono::duration<double>(*retry_wait));
    } catch (const ConnectionLost& lost) {
      if (last_try) throw FetchError(lost.what());
      double wait = retry_delay(options_, attempt, std::nullopt);
      if (wait > seconds_until(deadline)) throw FetchError(lost.what());
      note(fmt::format("{}; retry {} of {} in {:.2f} s", lost.what(), attempt, options_.max_tries - 1, wait));
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
  }
}

Response Fetcher::fetch(const Url& start, const BodySink& sink, const ProgressFn& progress) {
  Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(options_.total_timeout));
  Url url = start;
  std::string method = options_.method;
  std::string body = options_.body;
  for (int hops = 0;; ++hops) {
    // A redirect's body (a short "moved" page) is read and dropped.
    auto keep_body = [](const Response& r) { return !(is_redirect(r.status) && r.header("Location")); };
    Response r = fetch_hop(url, method, body, deadline, keep_body, sink, progress);
    r.redirects = hops;
    if (!is_redirect(r.status)) return r;
    auto location = r.header("Location");
    if (!location) return r;  // a 3xx without Location is the final answer
    if (hops >= options_.max_redirects)
      throw FetchError(fmt::format("too many redirects ({})", options_.max_redirects));
    std::string error;
    auto next = resolve_location(url, *location, &error);
    if (!next) throw FetchError(fmt::format("cannot follow Location '{}': {}", *location, error));
    // 303 means "see other, with GET"; 301/302 after a POST historically do the same.
    if ((r.status == 303 && method != "HEAD") ||
        ((r.status == 301 || r.status == 302) && method == "POST")) {
      method = "GET";
      body.clear();
    }
    note(fmt::format("{} {}: following to {} ({})", r.status, r.reason, next->to_string(), method));
    url = std::move(*next);
  }
}

}  // namespace serverlab::fetch
