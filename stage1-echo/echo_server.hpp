// echo_server.hpp: what the files of echo-server share: its settings and the three
// entry points main() chooses between.
//
//   main.cpp         flags, then the transport and the concurrency model
//   tcp_server.cpp   run_tcp: the accept loop, one worker thread per connection
//                    (at most `max_workers` at once), the graceful stop
//   clients.hpp/.cpp Clients: the live worker threads and their connections
//   session.cpp      run_session: one connection, echoed in the chosen framing
//   udp_server.cpp   run_udp: one datagram in, the same datagram out
//   tls_session.cpp  serve_tls: one connection over TLS (--tls-cert), same framings
//
// Who may call: main() calls run_tcp or run_udp once; run_tcp calls run_session on
// each worker thread. None of them throw for one bad client: a connection's error
// ends that connection only (set-up errors, before serving starts, throw SysError).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "serverlab/flags.hpp"
#include "serverlab/tls/flags.hpp"

namespace serverlab::tls {
class TlsContext;
}

namespace serverlab::echo {

// Every flag's value, filled by main() before any thread starts, then read-only.
struct EchoConfig {
  ServerOptions server;
  std::string framing = "raw";          // raw | line | length
  std::string concurrency = "iterative";  // iterative | thread
  int max_clients = 64;
  double idle_timeout = 300;          // seconds; 0 disables
  std::uint64_t max_frame = 4 << 20;  // longest line or frame payload
  bool udp = false;
  tls::ServerFlags tls_flags;             // --tls-cert ... ([tls]); TCP only
  const tls::TlsContext* tls = nullptr;  // set: every connection speaks TLS (main owns it)
};

// What one connection did, for its "conn close" log line.
struct SessionStats {
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string end = "eof";  // why the connection ended
  bool failed = false;      // end names an error, not a normal close
};

// SIGHUP's hook (docs/CONFIG.md): given the running configuration, returns the one
// for clients accepted from now on, or nullptr to keep it (having logged why).
using EchoReloader = std::function<std::shared_ptr<const EchoConfig>(const EchoConfig& running)>;

// Listens on TCP and serves each connection on a worker thread, with at most
// max_workers at once (1: the iterative model). Returns 0 after SIGINT/SIGTERM on
// signal_fd, once every worker has finished. When signal_fd also reports SIGHUP,
// `reload` is called and its configuration serves the next accepted client on
// (clients already connected keep theirs); SIGUSR1 is logged and ignored.
int run_tcp(const EchoConfig& cfg, std::size_t max_workers, int signal_fd,
            const EchoReloader& reload = {});

// Echoes UDP datagrams until SIGINT/SIGTERM arrives on signal_fd. Returns 0.
int run_udp(const EchoConfig& cfg, int signal_fd);

// Serves one accepted connection to its end and logs its open and close. Between
// messages it also waits on stop_fd: readable means the server is stopping.
// Does not close fd (the caller owns it). Never throws.
void run_session(int fd, const EchoConfig& cfg, int stop_fd);

// The TLS half of run_session (cfg.tls set): the handshake (5 s at most), then the
// same echo in the same framing, over a TlsStream. Fills `stats`; never throws.
void serve_tls(int fd, const EchoConfig& cfg, int stop_fd, SessionStats& stats);

}  // namespace serverlab::echo
