// worker.hpp: one pre-forked worker process of http-prefork (stage 5).
//
// Why: the master only accepts and supervises; the HTTP work happens in worker processes,
// each running stage 4's event loop and HTTP driver (EpollHttpServer) unchanged. A worker
// gets its connections in one of three ways (--accept):
//
//   passfd     the master accepts and sends each connection over the worker's channel
//              (a SOCK_SEQPACKET socketpair, SCM_RIGHTS); the channel is one more event
//              source in the worker's loop, and the worker accepts nothing itself
//   shared     every worker accepts on the one listening socket it inherited, registered
//              with EPOLLEXCLUSIVE so a new connection wakes one worker, not all of them
//   reuseport  every worker accepts on its own SO_REUSEPORT socket (made by the master, one
//              per worker position, so a replacement worker takes over the same queue)
//
// In every mode the channel also tells the worker that the master is gone (EOF): the
// worker then drains and exits, so no orphan keeps serving.
//
// The worker posts to its scoreboard slot: requests and bytes through a Metrics::Observer
// (so a request is counted before its response leaves); its open connections after every
// passed connection and once per loop iteration, with a heartbeat and its state; and in
// passfd mode how many connections it took from the channel.
//
// Signals (sent by the master; blocked, read from a signalfd in the loop):
//   SIGTERM          fast: close every connection now, exit 0
//   SIGQUIT, SIGINT  graceful: take what is queued in the channel, stop accepting, give
//                    connections that have not sent their first request a moment to do
//                    so, then stop (idle ones close, busy ones finish), exit 0
//
// Who may call: run_worker() only in the child, right after fork() in a single-threaded
// master. It never returns: it closes every descriptor it inherited except its own, runs,
// and ends the process with _exit() so none of the master's objects is destroyed in the
// child (their destructors would act on the master's shared epoll instance).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "scoreboard.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/tls/context.hpp"

namespace serverlab {

enum class AcceptMode { PassFd, Shared, ReusePort };

std::optional<AcceptMode> parse_accept_mode(std::string_view name);  // passfd|shared|reuseport
std::string_view accept_mode_name(AcceptMode mode);

// A worker that cannot start because of its configuration (bad --root, unwritable access
// log) exits with this code (sysexits' EX_CONFIG); the master does not respawn it.
inline constexpr int kWorkerExitFatalConfig = 78;

// How long a draining worker waits for its connections to send a first request before it
// stops serving idle ones (it stops sooner when no connection is open).
inline constexpr std::int64_t kDrainSettleMs = 500;

// Settings every worker shares, fixed before the first fork.
struct WorkerOptions {
  http::HttpConfig config;
  AcceptMode accept = AcceptMode::PassFd;
  int worker_connections = 1024;  // shared/reuseport: the worker stops accepting at this many
  // HTTPS: the context main() made before the first fork (so every worker has the
  // same certificate and session-ticket key: a ticket from one worker resumes on
  // another). Null: plain HTTP.
  const tls::TlsContext* tls = nullptr;
};

// What one spawn gets.
struct WorkerLaunch {
  std::size_t slot = 0;  // its scoreboard slot
  int channel_fd = -1;   // its end of the channel to the master
  int listen_fd = -1;    // shared/reuseport: the socket to accept on; passfd: -1
  int cpu = -1;          // pin to this CPU (--cpu-affinity auto); -1: no pinning
};

// The child's whole life. Never returns; exits 0 after a clean stop, 1 on an unexpected
// error, kWorkerExitFatalConfig when the configuration cannot be served.
[[noreturn]] void run_worker(const WorkerOptions& options, const WorkerLaunch& launch,
                             Scoreboard& board);

}  // namespace serverlab
