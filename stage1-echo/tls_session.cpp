// tls_session.cpp: one echo connection over TLS (echo-server --tls-cert ... --tls-key ...).
//
//   handshake (TlsStream, 5 s deadline) -> loop:
//     plaintext OpenSSL already decrypted?  use it
//     else wait for the socket, the stop event or the idle timeout, then read_some
//     -> echo in the framing: raw as it comes; line: whole lines; length: whole frames
//   -> close_notify
//
// Same framings, limits and log line as session.cpp's plain echo. One difference in
// the waiting: OpenSSL may hold decrypted bytes the socket no longer shows as
// readable, so the session is asked first (TlsSession::read never blocks), and only
// when it has nothing does the worker wait on the socket and the stop eventfd.
// Who may call: run_session, on the connection's worker thread. Never throws.
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "echo_server.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/tls/session.hpp"
#include "serverlab/tls/stream.hpp"

namespace serverlab::echo {
namespace {

constexpr int kHandshakeMs = 5000;

using tls::TlsSession;

void fail(SessionStats& st, std::string why) {
  st.end = std::move(why);
  st.failed = true;
}

std::uint32_t frame_length(std::string_view header) {
  std::uint32_t n = 0;
  for (char c : header.substr(0, 4)) n = (n << 8) | static_cast<unsigned char>(c);
  return n;
}

// Echoes every whole message at the front of `in` and removes it. False: the
// connection must end (st says why).
bool echo_messages(tls::TlsStream& stream, std::string& in, const EchoConfig& cfg, SessionStats& st) {
  const std::size_t max = static_cast<std::size_t>(cfg.max_frame);
  for (;;) {
    std::size_t size = 0;  // bytes of the next whole message
    if (cfg.framing == "line") {
      const std::size_t nl = in.find('\n');
      if (nl == std::string::npos) {
        if (in.size() > max) return fail(st, fmt::format("line longer than --max-frame ({} bytes)", max)), false;
        return true;
      }
      if (nl + 1 > max) return fail(st, fmt::format("line longer than --max-frame ({} bytes)", max)), false;
      size = nl + 1;
    } else {  // length
      if (in.size() < kFrameHeaderSize) return true;
      const std::uint32_t payload = frame_length(in);
      if (payload > max) return fail(st, fmt::format("frame larger than --max-frame ({} bytes)", max)), false;
      if (in.size() < kFrameHeaderSize + payload) return true;
      size = kFrameHeaderSize + payload;
    }
    IoResult w = stream.write_n(in.data(), size);
    if (!w.is_ok()) return fail(st, fmt::format("write: {}", std::strerror(w.error))), false;
    st.bytes_out += size;
    in.erase(0, size);
  }
}

}  // namespace

void serve_tls(int fd, const EchoConfig& cfg, int stop_fd, SessionStats& st) {
  TlsSession session(*cfg.tls);
  tls::TlsStream stream(fd, session);
  if (!stream.handshake(kHandshakeMs)) {
    fail(st, fmt::format("tls handshake: {} ({})", tls::failure_name(session.failure()), session.error()));
    return;
  }
  const int idle_ms = cfg.idle_timeout > 0 ? static_cast<int>(std::min(cfg.idle_timeout * 1000, 2e9)) : -1;
  std::string in;  // line/length: bytes of a message not yet whole
  char buf[16384];
  for (;;) {
    std::size_t n = 0;
    TlsSession::Io io = session.read(buf, sizeof buf);
    if (io.status == TlsSession::Io::Status::Ok) {
      n = io.bytes;
    } else if (io.status == TlsSession::Io::Status::Closed) {
      break;  // close_notify: a clean end
    } else if (io.status == TlsSession::Io::Status::Failed) {
      fail(st, fmt::format("tls: {}", session.error()));
      return;
    } else {  // WantRead: nothing decrypted is waiting
      if (in.empty()) {
        const int ready = wait_readable(fd, stop_fd, idle_ms);
        if (ready == -1) return fail(st, "idle timeout");
        if (ready == stop_fd) {
          st.end = "server stopping";
          break;
        }
      }
      IoResult r = stream.read_some(buf, sizeof buf);
      if (r.is_eof()) break;
      if (!r.is_ok())
        return fail(st, r.error == EAGAIN ? std::string("read timed out") : fmt::format("read: {}", std::strerror(r.error)));
      n = r.bytes;
    }
    st.bytes_in += n;
    if (cfg.framing == "raw") {
      IoResult w = stream.write_n(buf, n);
      if (!w.is_ok()) return fail(st, fmt::format("write: {}", std::strerror(w.error)));
      st.bytes_out += n;
      continue;
    }
    in.append(buf, n);
    if (!echo_messages(stream, in, cfg, st)) return;
  }
  // At the end: an unterminated last line is echoed (as the plain server does); half
  // a frame is dropped.
  if (!in.empty() && cfg.framing == "line") {
    if (stream.write_n(in).is_ok()) st.bytes_out += in.size();
  } else if (!in.empty()) {
    fail(st, "truncated frame at EOF (dropped)");
  }
  stream.close();
}

}  // namespace serverlab::echo
