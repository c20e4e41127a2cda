// http/serve.hpp: serve_connection, the blocking driver of an HttpSession
// (stage 2 calls it from its accept loop, stage 3 from worker threads).
//
//   serve_connection(fd):
//     loop until the session wants Close (or the connection parks, below):
//       Write -> send_output: send(2) the head bytes / sendfile(2) the body (chunks <= 1 GiB,
//                64-bit offsets, so files over 4 GiB work)
//       Read  -> Buffer::read_from -> session.on_input() / on_eof()
//       would block -> poll(2) until readable/writable, the session's deadline,
//                      or the stop signal
//     lingering close when the session asks for it (see socket.hpp)
//
// The socket is switched to non-blocking so every wait is a poll with a
// deadline: a client that stops reading or sending cannot hold the thread
// past the session's timeouts. "Blocking" means the calling thread is tied up
// for as long as it serves the connection.
//
// Stopping: when options.stop_fd (a signalfd or eventfd that is never read here)
// is readable during a wait, an idle connection closes at once and a busy one
// finishes its current response (with Connection: close) within
// options.shutdown_grace seconds. It is watched only while the call waits: a
// connection that never has to wait notices it at its next wait.
//
// Parking (stage 3): a keep-alive connection between requests needs no thread.
// When the session is idle (its last response sent, no request bytes buffered,
// nothing to read) for options.park_idle seconds, or at once when *options.park_now
// is true, serve_connection returns the connection instead of waiting: the caller
// keeps it somewhere cheap (stage 3's poll set) and calls serve_connection again,
// with options.resume = the returned carry, when its next request has arrived.
// Parking never closes anything, so a client sees no difference.
//
// TLS (options.tls set): the connection starts with a TLS handshake, which must
// finish within --header-timeout (then the header timeout starts again for the
// first request); every byte then goes through an http::TlsTransport: file
// bodies are read and encrypted in 16 KiB records (no sendfile), and ciphertext
// waiting to be sent goes before anything else. A failed handshake is counted
// in the context's counters; plain HTTP gets kPlainHttpResponse (a 400 in clear
// text) and a lingering close. The client certificate's subject goes to the
// access log. A TLS connection never parks (its TLS state would have to travel
// with it): it keeps its thread until it closes. options.preread, with TLS, is
// ciphertext (the start of the ClientHello).
//
// Metrics: the caller counts connections (opened / closed); this counts requests.
// Who may call: any thread; one call at a time per connection. Never throws; it
// closes fd unless it returns it parked.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>

#include "serverlab/fd.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/http/session.hpp"
#include "serverlab/tls/context.hpp"

namespace serverlab::http {

struct ConnectionOptions {
  int stop_fd = -1;
  double shutdown_grace = 5.0;
  std::string peer;       // client host for the access log; empty: asked from the socket
  double park_idle = -1;  // see "Parking"; < 0: never park when idle
  const std::atomic<bool>* park_now = nullptr;  // see "Parking"; null: never asked
  std::optional<HttpSession::Carry> resume;     // a parked connection's carry; none: new
  std::string_view preread;  // bytes the caller already read from fd: parsed before any read
  const tls::TlsContext* tls = nullptr;  // set: serve HTTPS (see "TLS"); must outlive the call
};

// A connection handed back idle: its socket and what its session must remember.
struct ParkedConnection {
  Fd fd;
  HttpSession::Carry carry;
  std::string peer;
};

std::optional<ParkedConnection> serve_connection(Fd fd, const HttpService& service,
                                                 const ConnectionOptions& options);

}  // namespace serverlab::http
