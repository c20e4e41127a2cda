#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <thread>

#include "serverlab/sys_error.hpp"
#include "serverlab/tls/stream.hpp"

namespace serverlab::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::string> find_header(const std::vector<std::pair<std::string, std::string>>& h,
                                       std::string_view name) {
  for (const auto& [k, v] : h) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

// Parses "Name: value\r\n" lines of a header block (without the final empty line).
bool parse_header_lines(std::string_view block,
                        std::vector<std::pair<std::string, std::string>>& out) {
  while (!block.empty()) {
    auto eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view{} : block.substr(eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    std::string_view name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) return false;
    out.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
  }
  return true;
}

int remaining_ms(Clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = trim(value.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  return find_header(headers, name);
}

std::size_t HttpResponse::header_count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [name](const auto& kv) { return iequals(kv.first, name); }));
}

bool HttpResponse::closes() const {
  for (const auto& [k, v] : headers) {
    if (!iequals(k, "Connection")) continue;
    for (const auto& token : split_list(v)) {
      if (iequals(token, "close")) return true;
    }
  }
  return false;
}

std::string HttpResponse::wire() const {
  constexpr std::size_t kShown = 1500;
  if (raw.size() <= kShown) return escape_bytes(raw);
  return escape_bytes(std::string_view(raw).substr(0, kShown)) + "...(" +
         std::to_string(raw.size()) + " bytes in all)";
}

std::optional<std::string> BodyPart::header(std::string_view name) const {
  return find_header(headers, name);
}

HttpClient::HttpClient(Fd fd) : fd_(std::move(fd)) {}

namespace {
const tls::TlsContext* g_tls_context = nullptr;  // see HttpClient::use_tls
}  // namespace

void HttpClient::use_tls(const tls::TlsContext* context) { g_tls_context = context; }
const tls::TlsContext* HttpClient::tls_context() { return g_tls_context; }

HttpClient HttpClient::connect(const ServerProcess& server) {
  HttpClient c(server.connect());
  if (g_tls_context == nullptr) return c;
  c.tls_ = std::make_unique<tls::TlsSession>(*g_tls_context, "127.0.0.1");
  tls::TlsStream stream(c.fd_.get(), *c.tls_);
  if (!stream.handshake(5000)) {
    c.error_ = "TLS handshake failed: " + c.tls_->error();
    c.fd_.reset();
  }
  return c;
}

HttpClient HttpClient::connect_from(const ServerProcess& server, const std::string& source) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw SysError("socket");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (::inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1)
    throw std::runtime_error("bad address " + source);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
    throw SysError("bind " + source);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(server.port());
  ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0)
    throw SysError("connect from " + source);
  return HttpClient(std::move(fd));
}

bool HttpClient::send(std::string_view bytes) {
  if (!tls_) return send_all(fd_.get(), bytes);
  if (!fd_.valid()) return false;
  if (tls_->write(bytes).status != tls::TlsSession::Io::Status::Ok) return false;
  return send_all(fd_.get(), tls_->take_output());
}

bool HttpClient::wait_readable(std::chrono::milliseconds deadline) {
  if (!buffer_.empty() || eof_) return true;
  return fill(Clock::now() + deadline) || eof_;
}

void HttpClient::reset() {
  if (!fd_.valid()) return;
  reset_connection(fd_);
}

bool HttpClient::drain_tls() {
  char buf[16384];
  bool got = false;
  for (;;) {
    tls::TlsSession::Io io = tls_->read(buf, sizeof buf);
    if (io.status != tls::TlsSession::Io::Status::Ok) break;
    buffer_.append(buf, io.bytes);
    got = true;
  }
  if (tls_->pending_output() > 0) (void)send_all(fd_.get(), tls_->take_output());  // e.g. close_notify
  return got;
}

bool HttpClient::send_slowly(std::string_view bytes, std::size_t piece,
                             std::chrono::milliseconds gap) {
  int one = 1;
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  piece = std::max<std::size_t>(piece, 1);
  while (!bytes.empty()) {
    std::size_t n = std::min(piece, bytes.size());
    if (!send(bytes.substr(0, n))) return false;
    bytes.remove_prefix(n);
    if (!bytes.empty()) std::this_thread::sleep_for(gap);
  }
  return true;
}

void HttpClient::shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }

bool HttpClient::fill(Clock::time_point until) {
  if (eof_) return false;
  if (!fd_.valid()) {
    error_ = "the connection was closed by the test";
    return false;
  }
  char buf[65536];
  for (;;) {
    if (tls_) {
      if (drain_tls()) return true;
      const auto state = tls_->state();
      if (state == tls::TlsSession::State::Closed || state == tls::TlsSession::State::Failed) {
        eof_ = true;  // close_notify (Closed), or the TCP end after a cut record (Failed)
        error_ = state == tls::TlsSession::State::Closed
                     ? "connection closed by the server (close_notify)"
                     : "TLS failed: " + tls_->error();
        return false;
      }
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(until));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      error_ = "timed out waiting for bytes";
      return false;
    }
    if (n < 0) {
      error_ = "poll failed";
      return false;
    }
    ssize_t r = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      eof_ = true;
      reset_ = r < 0;
      error_ = r == 0 ? "connection closed by the server" : "connection reset by the server";
      return false;
    }
    if (tls_) {
      tls_->feed({buf, static_cast<std::size_t>(r)});
      continue;  // decrypted at the top of the loop
    }
    buffer_.append(buf, static_cast<std::size_t>(r));
    return true;
  }
}

std::size_t HttpClient::wait_for_head(Clock::time_point until) {
  std::size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(until)) {
      if (!buffer_.empty())
        error_ += " (incomplete head: '" + escape_bytes(buffer_) + "')";
      return std::string::npos;
    }
  }
  return head_end;
}

std::size_t HttpClient::parse_head(HttpResponse& r) {
  const std::size_t head_end = buffer_.find("\r\n\r\n");
  std::string_view head(buffer_.data(), head_end + 2);
  auto eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.1 200 OK": version SP 3DIGIT SP reason
  auto sp1 = status_line.find(' ');
  if (sp1 == std::string_view::npos || status_line.size() < sp1 + 4) {
    error_ = "malformed status line '" + escape_bytes(status_line) + "'";
    return 0;
  }
  r.version = std::string(status_line.substr(0, sp1));
  auto code = status_line.substr(sp1 + 1, 3);
  auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), r.status);
  if (ec != std::errc{} || ptr != code.data() + 3 || !r.version.starts_with("HTTP/1.") ||
      (status_line.size() > sp1 + 4 && status_line[sp1 + 4] != ' ')) {
    error_ = "malformed status line '" + escape_bytes(status_line) + "'";
    return 0;
  }
  if (status_line.size() > sp1 + 5) r.reason = std::string(status_line.substr(sp1 + 5));
  if (!parse_header_lines(head.substr(eol + 2, head.size() - eol - 4), r.headers)) {
    error_ = "malformed header block '" + escape_bytes(head) + "'";
    return 0;
  }
  return head_end + 4;
}

std::optional<HttpResponse> HttpClient::read_head(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  error_.clear();
  if (wait_for_head(until) == std::string::npos) return std::nullopt;
  HttpResponse r;
  const std::size_t body_start = parse_head(r);
  if (body_start == 0) return std::nullopt;
  r.raw = buffer_.substr(0, body_start);
  buffer_.erase(0, body_start);
  return r;
}

bool HttpClient::wait_for_bytes(std::size_t n, std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  error_.clear();
  while (buffer_.size() < n) {
    if (!fill(until)) return false;
  }
  return true;
}

std::optional<HttpResponse> HttpClient::read_response(bool head_request,
                                                      std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  error_.clear();
  if (wait_for_head(until) == std::string::npos) return std::nullopt;
  HttpResponse r;
  const std::size_t body_start = parse_head(r);
  if (body_start == 0) return std::nullopt;

  const bool no_body =
      head_request || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  std::size_t consumed = body_start;
  auto te = r.header("Transfer-Encoding");
  auto cl = r.header("Content-Length");
  if (no_body) {
    // nothing
  } else if (te && iequals(trim(*te), "chunked")) {
    // Decode chunks: size CRLF data CRLF ... 0 CRLF [trailers] CRLF
    std::size_t pos = body_start;
    for (;;) {
      std::size_t line_end;
      while ((line_end = buffer_.find("\r\n", pos)) == std::string::npos) {
        if (!fill(until)) return std::nullopt;
      }
      std::size_t size = 0;
      std::string_view line(buffer_.data() + pos, line_end - pos);
      line = line.substr(0, line.find(';'));
      auto [p, e] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
      if (e != std::errc{} || p == line.data()) {
        error_ = "bad chunk size line";
        return std::nullopt;
      }
      pos = line_end + 2;
      if (size == 0) {
        std::size_t trailer_end;
        while ((trailer_end = buffer_.find("\r\n", pos)) == std::string::npos ||
               trailer_end != pos) {
          if (trailer_end != std::string::npos) {
            pos = trailer_end + 2;  // skip a trailer line
            continue;
          }
          if (!fill(until)) return std::nullopt;
        }
        consumed = pos + 2;
        break;
      }
      while (buffer_.size() < pos + size + 2) {
        if (!fill(until)) return std::nullopt;
      }
      r.body.append(buffer_, pos, size);
      pos += size + 2;
    }
  } else if (cl) {
    if (r.header_count("Content-Length") != 1) {
      error_ = "several Content-Length headers in a response";
      return std::nullopt;
    }
    std::size_t length = 0;
    auto [p, e] = std::from_chars(cl->data(), cl->data() + cl->size(), length);
    if (e != std::errc{} || p != cl->data() + cl->size()) {
      error_ = "bad Content-Length '" + *cl + "'";
      return std::nullopt;
    }
    while (buffer_.size() < body_start + length) {
      if (!fill(until)) {
        error_ += " after " + std::to_string(buffer_.size() - body_start) + " of " +
                  std::to_string(length) + " body bytes";
        return std::nullopt;
      }
    }
    r.body = buffer_.substr(body_start, length);
    consumed = body_start + length;
  } else {
    while (fill(until)) {
    }
    if (!eof_) return std::nullopt;  // the deadline passed before the close
    r.body = buffer_.substr(body_start);
    consumed = buffer_.size();
  }
  r.raw = buffer_.substr(0, consumed);
  buffer_.erase(0, consumed);
  return r;
}

bool HttpClient::closed_by_peer(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (fill(until)) {
  }
  return eof_;
}

std::optional<std::vector<BodyPart>> parse_multipart(std::string_view content_type,
                                                     std::string_view body) {
  auto at = content_type.find("boundary=");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view boundary = content_type.substr(at + 9);
  boundary = boundary.substr(0, boundary.find(';'));
  boundary = trim(boundary);
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
    boundary = boundary.substr(1, boundary.size() - 2);
  }
  if (boundary.empty()) return std::nullopt;
  const std::string delimiter = "--" + std::string(boundary);

  // The body is: [preamble] --B CRLF part CRLF --B CRLF part CRLF --B-- [epilogue]
  auto pos = body.find(delimiter);
  if (pos == std::string_view::npos) return std::nullopt;
  std::vector<BodyPart> parts;
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return parts;  // the close delimiter
    if (body.substr(pos, 2) != "\r\n") return std::nullopt;
    pos += 2;
    auto head_end = body.find("\r\n\r\n", pos);
    // A part with no headers starts with its empty line directly.
    BodyPart part;
    std::size_t data_start;
    if (body.substr(pos, 2) == "\r\n") {
      data_start = pos + 2;
    } else {
      if (head_end == std::string_view::npos) return std::nullopt;
      if (!parse_header_lines(body.substr(pos, head_end - pos), part.headers)) return std::nullopt;
      data_start = head_end + 4;
    }
    auto next = body.find("\r\n" + delimiter, data_start);
    if (next == std::string_view::npos) return std::nullopt;
    part.data = std::string(body.substr(data_start, next - data_start));
    parts.push_back(std::move(part));
    pos = next + 2;
  }
}

OutOfFdsReport connect_while_out_of_fds(const ServerProcess& server, long limit, int clients,
                                        std::string_view request) {
  OutOfFdsReport report;
  rlimit old{};
  if (::prlimit(server.pid(), RLIMIT_NOFILE, nullptr, &old) != 0) {
    report.error = std::string("prlimit: ") + std::strerror(errno);
    return report;
  }
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(limit);
  if (::prlimit(server.pid(), RLIMIT_NOFILE, &tight, nullptr) != 0) {
    report.error = std::string("prlimit: ") + std::strerror(errno);
    return report;
  }
  std::vector<HttpClient> open;
  for (int i = 0; i < clients; ++i) open.push_back(HttpClient::connect(server));
  std::vector<bool> sent;  // a refused client may be closed before it sends
  for (HttpClient& c : open) sent.push_back(c.send(request));
  for (std::size_t i = 0; i < open.size(); ++i) {
    if (sent[i] && open[i].read_response(false, 5s)) {
      ++report.served;
      continue;
    }
    const std::string who = "client " + std::to_string(i);
    if (!open[i].extra_bytes().empty())
      report.problems.push_back(who + " got stray bytes: " + escape_bytes(open[i].extra_bytes()));
    if (!wait_for_eof(open[i].fd(), 2s)) report.problems.push_back(who + " was left hanging");
    ++report.refused;
  }
  open.clear();
  if (::prlimit(server.pid(), RLIMIT_NOFILE, &old, nullptr) != 0)
    report.error = std::string("prlimit (restoring): ") + std::strerror(errno);
  return report;
}

int lowest_free_fd(pid_t pid) {
  std::set<int> open;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    open.insert(std::stoi(entry.path().filename().string()));
  int n = 0;
  while (open.count(n) != 0) ++n;
  return n;
}

}  // namespace serverlab::testing
