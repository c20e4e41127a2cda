// http_fetch.hpp: a blocking HTTP/1.1 client, the other end of what stage 2 serves.
//
// What it teaches: everything a careful client must do that a server never sees.
//   - a deadline for connect and one for the whole exchange (a server may stall);
//   - retries only where they are safe (idempotent methods, after a connection
//     error, 503 or 429), spaced by exponential backoff with jitter, honouring
//     Retry-After, and bounded;
//   - redirects followed by hand: a hop limit, relative Locations resolved, 303 -> GET;
//   - the three ways a response body ends: Content-Length, chunked (with trailers)
//     and "until the server closes";
//   - keep-alive: several requests to one host reuse one connection from a small pool.
//
// Built on common/: write_n sends the request, Fd owns each socket, TlsStream carries
// https://. A small reader with BufferedReader's results (rio.hpp) reads the head line by
// line and the body in blocks, from the socket or from the TlsStream alike.
//
// HTTPS: an https:// URL runs the same exchange over common's blocking TlsStream; the
// server's certificate is verified (against Options::ca_file, or the system's store)
// and must name the URL's host. A handshake failure is one FetchError line and is not
// retried (a certificate does not fix itself).
//
// Limits: IPv4 and IPv6 hosts; TLS 1.2 and 1.3 as common's TlsContext allows;
// no proxies, cookies or authentication; no compression (nothing is asked for).
// The total timeout is enforced on every read and write (SO_RCVTIMEO/SO_SNDTIMEO set to
// what remains), so a drip-feeding server can overrun it by at most one block's wait.
//
// Who may call: one thread per Fetcher (it owns its pool). Errors are FetchError
// exceptions carrying one printable line; nothing else is thrown on purpose.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serverlab/fd.hpp"
#include "serverlab/rio.hpp"

namespace serverlab::tls {
class TlsContext;
}

namespace serverlab::fetch {

// An http:// or https:// URL split into what a request needs.
struct Url {
  bool https = false;
  std::string host;         // as written, without brackets for IPv6
  std::uint16_t port = 80;  // 443 by default for https
  std::string target = "/";  // path plus "?query"; never empty; no fragment

  // "http[s]://host[:port]/target" (the port only when it is not the scheme's default).
  std::string to_string() const;
  // The Host header value: "host" or "host:port" ("[v6]:port" for IPv6).
  std::string authority() const;
};

// Parses an absolute http:// or https:// URL. On failure returns nullopt and sets
// *error to a short reason ("unsupported scheme 'ftp'", "bad port '0'", ...).
std::optional<Url> parse_url(std::string_view text, std::string* error);

// Resolves a Location header against the URL it came from: absolute http(s):// URLs,
// "//host/path", "/path", "path" (relative to the base's directory), "?query".
// Dot segments ("." and "..") are removed. nullopt when it cannot be followed.
std::optional<Url> resolve_location(const Url& base, std::string_view location,
                                    std::string* error);

// One header field, as received (names compare case-insensitively).
using Header = std::pair<std::string, std::string>;

// What came back for one URL (after redirects and retries).
struct Response {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  std::vector<Header> headers;
  std::vector<Header> trailers;  // from a chunked body
  std::uint64_t body_bytes = 0;
  Url url;               // the URL that answered (the last hop)
  int tries = 0;         // attempts at that last hop
  int redirects = 0;     // hops followed
  bool reused = false;   // the final exchange ran on a pooled connection

  // The first value of `name`, case-insensitively.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct Options {
  std::string method = "GET";          // GET and HEAD are the idempotent ones we retry
  std::string body;                    // sent with Content-Length when not empty
  double connect_timeout = 5.0;        // seconds, per connection attempt
  double total_timeout = 30.0;         // seconds, per URL, retries and redirects included
  int max_redirects = 5;               // hops before "too many redirects"
  int max_tries = 3;                   // attempts per hop (1 = no retry)
  double backoff = 0.25;               // first retry waits about this long (seconds)
  double max_backoff = 8.0;            // cap on one wait (Retry-After included)
  std::size_t max_head_bytes = 64 * 1024;  // status line + headers (or trailers)
  std::size_t max_line_bytes = 8 * 1024;   // one header line, one chunk-size line
  std::size_t pool_size = 4;           // idle keep-alive connections kept
  std::FILE* trace = nullptr;          // -v: the exchange, "> " sent, "< " received, "* " notes
  std::string ca_file;                 // https: PEM CAs to trust (empty: the system's store)
};

// Receives body bytes as they arrive (the Fetcher writes nothing itself).
using BodySink = std::function<void(std::string_view bytes)>;
// Called after each block of body: bytes so far, and the total when it is known.
using ProgressFn = std::function<void(std::uint64_t received, std::optional<std::uint64_t> total)>;

// Any failure: the message is one line ("connect to 127.0.0.1:8080: Connection refused",
// "body truncated: 10 of 100 bytes", "too many redirects (5)", ...).
class FetchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A small pool of idle keep-alive connections, keyed by host and port.
class Fetcher {
 public:
  explicit Fetcher(Options options);
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Fetches url: follows redirects, retries what is safe to retry, passes the final
  // response's body to `sink`. The body of a redirect or of a response that is retried
  // is read and dropped. Throws FetchError. The final status may be anything (404
  // included): the caller decides whether that is a failure.
  Response fetch(const Url& url, const BodySink& sink, const ProgressFn& progress = {});

 private:
  struct Connection;
  using Clock = std::chrono::steady_clock;

  // Asked once the head is read: does this response's body go to the caller's sink?
  using KeepBody = std::function<bool(const Response&)>;

  // One request/response on one connection; the Response's status decides what is next.
  Response exchange(const Url& url, const std::string& method, const std::string& body,
                    Clock::time_point deadline, const KeepBody& keep_body, const BodySink& sink,
                    const ProgressFn& progress);
  // One hop with its retries.
  Response fetch_hop(const Url& url, const std::string& method, const std::string& body,
                     Clock::time_point deadline, const KeepBody& keep_body, const BodySink& sink,
                     const ProgressFn& progress);

  std::unique_ptr<Connection> acquire(const Url& url, Clock::time_point deadline);
  void release(std::unique_ptr<Connection> conn);
  void note(const std::string& line) const;

  // The TLS client context, made at the first https:// URL (throws FetchError).
  const tls::TlsContext& tls_context();

  Options options_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::unique_ptr<tls::TlsContext> tls_;
};

// The size on a chunked body's size line ("1a", "1A;name=value", "0"): the hex digits
// before any ';' (chunk extensions are skipped), spaces and tabs around them allowed.
// nullopt for anything else: no digits, a non-hex character, more than 16 hex digits
// (a size over 2^64 - 1). Exposed for tests. [lab03:chunk-size]
std::optional<std::uint64_t> parse_chunk_size(std::string_view line);

// The wait before retry number `retry` (1 = the first retry): backoff * 2^(retry-1),
// capped at max_backoff, times a random factor in [0.5, 1] (the jitter that keeps many
// clients from retrying in step). A Retry-After value (seconds, or an HTTP date) takes
// the place of the computed delay. Exposed for tests. [lab04:backoff]
double retry_delay(const Options& options, int retry, std::optional<std::string_view> retry_after);

}  // namespace serverlab::fetch
