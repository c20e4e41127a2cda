// tcp_server.cpp: echo-server's TCP model: an accept loop that hands each connection
// to a worker thread, at most `max_workers` at once, and a graceful stop.
//
//   listen -> loop: wait_readable(listener, or wake_fd when full | signalfd)
//                   accept -> Clients::spawn(run_session)
//          -> SIGINT/SIGTERM: close the listener -> stop_gracefully
//
// The two concurrency models are the same loop with a different limit. Every
// connection runs on a worker thread, so that a blocking read can always be cut
// off at shutdown. `--concurrency iterative` allows ONE worker at a time (CS:APP's
// echoserveri: the next client waits in the listen backlog until the current one
// leaves); `thread` allows up to --max-clients. When the limit is reached the loop
// does not accept: it waits for a worker to finish. Signals are blocked in every
// thread and read from the signalfd by this loop only.
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <thread>

#include "clients.hpp"
#include "echo_server.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/log.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::echo {
namespace {

using Clock = Clients::Clock;

// SIGINT/SIGTERM: stop accepting, let in-flight echoes finish up to the
// shutdown timeout, then cut off whoever is left and wait for every thread.
void stop_gracefully(Clients& clients, int stop_fd, double shutdown_timeout) {
  log::event(log::Level::Info, "stopping", {{"in_flight", clients.live()}});
  const std::uint64_t one = 1;
  (void)!::write(stop_fd, &one, sizeof one);  // idle workers leave at their next boundary
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(shutdown_timeout));
  if (!clients.wait_all(deadline)) {
    log::event(log::Level::Warn, "shutdown timeout: closing connections still busy",
               {{"connections", clients.live()}});
    clients.shutdown_all();
    clients.wait_all(Clock::time_point::max());
  }
  clients.join_finished();
}

}  // namespace

int run_tcp(const EchoConfig& cfg, std::size_t max_workers, int signal_fd,
            const EchoReloader& reload) {
  auto current = std::make_shared<const EchoConfig>(cfg);  // each session keeps its own
  Fd listener = listen_tcp(cfg.server.bind, cfg.server.port);
  Fd stop(check_sys(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd"));
  Clients clients;
  announce_listening(listener.get());  // only once every set-up step has succeeded
  log::event(log::Level::Info, "echo-server ready",
             {{"framing", cfg.framing}, {"concurrency", cfg.concurrency}});

  bool was_full = false;
  for (;;) {
    clients.join_finished();
    const bool full = clients.live() >= max_workers;
    if (full && !was_full && max_workers > 1)
      log::event(log::Level::Warn, "max clients reached: new clients wait",
                 {{"limit", max_workers}});
    was_full = full;

    // When full, do not accept: wait for a worker to finish (or a signal).
    const int wait_on = full ? clients.wake_fd() : listener.get();
    if (wait_readable(wait_on, signal_fd, -1) != wait_on) {
      const int signo = read_signal(signal_fd);
      if (signo == SIGHUP && reload) {
        if (auto next = reload(*current)) current = std::move(next);
        continue;
      }
      if (signo == SIGUSR1) {
        log::info("SIGUSR1: no log file to reopen (echo-server writes to stderr only)");
        continue;
      }
      if (signo == 0 || signo == SIGHUP) continue;  // nothing pending, or no reloader
      log::event(log::Level::Info, "signal", {{"signo", signo}});
      break;
    }
    if (full) continue;

    Fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) {  // ECONNABORTED, EMFILE, ...: this client is lost, the server is not
      log::event(log::Level::Warn, "accept failed", {{"error", std::strerror(errno)}});
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    try {
      const int stop_fd = stop.get();
      clients.spawn(std::move(conn), [session_cfg = current, stop_fd](int fd) {
        run_session(fd, *session_cfg, stop_fd);
      });
    } catch (const std::system_error& e) {
      log::event(log::Level::Error, "cannot start a thread", {{"error", e.what()}});
    }
  }
  listener.reset();  // new connections are refused from here on
  stop_gracefully(clients, stop.get(), cfg.server.shutdown_timeout);
  return 0;
}

}  // namespace serverlab::echo
