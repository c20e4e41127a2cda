// http/serve.hpp: serve_connection, the blocking driver of an HttpSession
// (stage 2 calls it from its accept loop, stage 3 from worker threads).
//
//   serve_connection(fd):
//     loop until the session wants Close:
//       Write -> send_output: send(2) the head bytes / sendfile(2) the body (chunks <= 1 GiB,
//                64-bit offsets, so files over 4 GiB work)
//       Read  -> Buffer::read_from -> session.on_input() / on_eof()
//       would block -> poll(2) until readable/writable, the session's deadline,
//                      or the stop signal
//     lingering close when the session asks for it (shutdown(SHUT_WR), drain briefly)
//
// The socket is switched to non-blocking so every wait is a poll with a
// deadline: a client that stops reading or sending cannot hold the thread
// past the session's timeouts. "Blocking" means the calling thread is tied up
// for the connection's whole life.
//
// Stopping: when *options.stopping becomes true or options.stop_fd becomes
// readable (a signalfd or eventfd that is never read here), an idle connection
// closes at once and a busy one finishes its current response (with
// Connection: close) within options.shutdown_grace seconds.
//
// Yielding (stage 3's fairness, a gentler stop): when *options.yield becomes
// true the connection ends after one more response, which says Connection: close.
// The stop above cannot give that promise: by the time it is seen, the response
// in progress may already carry keep-alive, or the next request may already be on
// its way to an "idle" connection, and a client that sends requests back to back
// would see a close where it expects a response. So a yielding connection that is
// idle waits up to options.yield_idle seconds for that next request (and answers
// it with Connection: close); only a client silent for that long is closed quietly.
//
// Who may call: any thread; one call per connection. Never throws; it closes fd.
#pragma once

#include <atomic>
#include <string>

#include "serverlab/fd.hpp"
#include "serverlab/http/service.hpp"

namespace serverlab::http {

struct ConnectionOptions {
  const std::atomic<bool>* stopping = nullptr;
  int stop_fd = -1;
  double shutdown_grace = 5.0;
  const std::atomic<bool>* yield = nullptr;  // see "Yielding" above
  double yield_idle = 0.1;
  std::string peer;  // client host for the access log; empty: asked from the socket
};

void serve_connection(Fd fd, const HttpService& service, const ConnectionOptions& options);

}  // namespace serverlab::http
