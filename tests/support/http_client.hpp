// http_client.hpp: a small, strict HTTP/1.1 client for black-box tests.
//
// Why: the tests judge servers by the bytes they put on the wire, so they read
// responses themselves instead of trusting a library that would paper over
// framing mistakes. One client serves the conformance suite (tests/http) and the
// per-stage tests, so every suite applies the same framing rules. An HttpClient
// owns one connection and keeps bytes that arrived after a response
// (pipelining), so several responses can be read back in order:
//
//   HttpClient c = HttpClient::connect(server);
//   c.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n");
//   auto a = c.read_response();      // status line, headers, body by Content-Length
//   auto b = c.read_response();
//
//   socket bytes -> buffer_ -> [ head | body ][ head | body ][ partial...
//                               '-- read_response --'        '-- extra_bytes()
//
// Framing rules, as a client must apply them: no body for 1xx, 204, 304 or a
// response to HEAD; otherwise a chunked body, else Content-Length bytes, else
// everything until the peer closes. Every read is bounded by a deadline. How a
// connection ended is kept apart: a FIN (saw_eof() && !saw_reset()) or a RST.
//
// TLS mode (the conformance suite over HTTPS): after HttpClient::use_tls(ctx),
// connect() makes a TLS connection (handshake within 5 s, the server's
// certificate checked for 127.0.0.1) and every send and read goes through it;
// the framing rules and the FIN/RST distinction are the same. fd() is then the
// TCP socket under the TLS session: readiness on it means ciphertext.
//
// Who may call: test threads; an HttpClient is not shared between threads. All
// functions block (up to their deadline); none throws except connect(), which
// throws what ServerProcess::connect throws.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server_process.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/tls/session.hpp"

namespace serverlab::testing {

using namespace std::chrono_literals;

struct HttpResponse {
  std::string version;  // "HTTP/1.1"
  int status = 0;       // 0: no response could be read (see HttpClient::error())
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // in wire order, values trimmed
  std::string body;
  std::string raw;  // the exact bytes of this response (head + body)

  // First value of a header (names compare case-insensitively).
  std::optional<std::string> header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
  bool has(std::string_view name) const { return header_count(name) > 0; }
  // True when the Connection header lists the token `close`.
  bool closes() const;
  // The raw bytes escaped for a failure message (long bodies shortened).
  std::string wire() const;
};

class HttpClient {
 public:
  explicit HttpClient(Fd fd);
  static HttpClient connect(const ServerProcess& server);
  // A plain TCP connection to `server` whose local end is bound to `source`, any
  // address of 127.0.0.0/8 (all are local): how the tests look like many clients to
  // per-address limits. Throws SysError when the bind or the connect fails.
  static HttpClient connect_from(const ServerProcess& server, const std::string& source);

  // From now on, connect() speaks TLS with `context` (a client context; null:
  // plain TCP again). The context must outlive every client. Test thread only.
  static void use_tls(const tls::TlsContext* context);
  static const tls::TlsContext* tls_context();
  bool is_tls() const { return tls_ != nullptr; }

  int fd() const { return fd_.get(); }
  // Closes the connection now (the peer sees a FIN); later reads fail.
  void close() { fd_.reset(); }
  // Closes with a RST (SO_LINGER 0) instead.
  void reset();
  // Sends everything (false if the peer is gone).
  bool send(std::string_view bytes);
  // Sends `bytes` in pieces of `piece` bytes with `gap` between them (TCP_NODELAY
  // is set so each piece leaves as its own segment).
  bool send_slowly(std::string_view bytes, std::size_t piece, std::chrono::milliseconds gap);
  // Half-closes the sending side (the server sees EOF after what was sent).
  void shutdown_write();

  // Reads one response. `head_request`: it answers a HEAD (so it has no body).
  // Interim 1xx responses are returned like any other; call again for the final one.
  std::optional<HttpResponse> read_response(bool head_request = false,
                                        std::chrono::milliseconds deadline = 5s);
  // Reads only the status line and headers (body empty, raw = the head); the
  // body stays unread, for a test that reads it later (wait_for_bytes).
  std::optional<HttpResponse> read_head(std::chrono::milliseconds deadline = 5s);
  // Reads until at least `n` unconsumed bytes are buffered; false on EOF, RST or
  // the deadline first. A test that wants the exact count compares extra_bytes().
  bool wait_for_bytes(std::size_t n, std::chrono::milliseconds deadline = 5s);
  // True when response bytes are buffered or arrive, or the peer ends the
  // connection, within the deadline. Use this, not a poll on fd(): over TLS the
  // socket is also readable for records that carry no data (session tickets).
  bool wait_readable(std::chrono::milliseconds deadline);
  // True when the peer closes (EOF or RST) within the deadline; bytes that arrive
  // before that are kept in extra_bytes().
  bool closed_by_peer(std::chrono::milliseconds deadline = 5s);
  // Bytes received but not consumed by any read_response (e.g. after a close).
  const std::string& extra_bytes() const { return buffer_; }
  // Why the last read failed.
  const std::string& error() const { return error_; }
  // The peer ended the connection (FIN or RST); saw_reset() tells a RST apart.
  bool saw_eof() const { return eof_; }
  bool saw_reset() const { return reset_; }

 private:
  // Reads more bytes into buffer_; false on EOF, error or deadline.
  bool fill(std::chrono::steady_clock::time_point until);
  // Parses the head at the front of buffer_ into `r` (needs the whole head
  // buffered); returns where the body starts, or 0 with error_ set.
  std::size_t parse_head(HttpResponse& r);
  // Fills until buffer_ holds a whole head; returns where it ends (npos on failure).
  std::size_t wait_for_head(std::chrono::steady_clock::time_point until);

  // TLS mode: moves decrypted bytes into buffer_; false when none were ready.
  bool drain_tls();

  Fd fd_;
  std::unique_ptr<tls::TlsSession> tls_;  // null: plain TCP
  std::string buffer_;
  bool eof_ = false;
  bool reset_ = false;
  std::string error_;
};

// One part of a multipart/byteranges body.
struct BodyPart {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string data;
  std::optional<std::string> header(std::string_view name) const;
};

// Splits a multipart body using the boundary from its Content-Type; nullopt when
// the body does not follow RFC 2046's shape.
std::optional<std::vector<BodyPart>> parse_multipart(std::string_view content_type,
                                                     std::string_view body);

// What happened to clients that connected while a server had no descriptor to spare.
struct OutOfFdsReport {
  int served = 0;   // answered all the same (a descriptor came free in time)
  int refused = 0;  // closed with nothing sent: shed, as the spare-descriptor trick does
  std::vector<std::string> problems;  // "client 3 was left hanging", stray bytes, ...
  std::string error;                  // prlimit failed: nothing was tried
};

// Running out of descriptors (EMFILE), the test stages 2, 3 and 4 share. Sets the server's
// RLIMIT_NOFILE soft limit to `limit`, connects `clients` clients that each send `request`,
// waits (bounded) for each to be answered or closed, then puts the old limit back. A refused
// client may be closed before it sends: that is still a refusal, not a problem.
OutOfFdsReport connect_while_out_of_fds(const ServerProcess& server, long limit, int clients,
                                        std::string_view request);

// The lowest descriptor number free in process `pid`: the one its next open or accept
// gets. A limit of that number leaves the process room for no new descriptor.
int lowest_free_fd(pid_t pid);

bool iequals(std::string_view a, std::string_view b);
// Splits a comma-separated header value into trimmed tokens.
std::vector<std::string> split_list(std::string_view value);

}  // namespace serverlab::testing
