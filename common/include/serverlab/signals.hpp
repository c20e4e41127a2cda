// signals.hpp: process-wide signal set-up for servers.
//
// Servers stop on SIGINT/SIGTERM. Rather than doing work in a signal handler,
// serverlab blocks the signals it cares about and reads them from a signalfd,
// so a signal becomes an ordinary readable descriptor that poll/epoll can wait
// on next to the listening socket (stage 4 puts it straight into its loop).
//
// Call block_signals() in main() BEFORE starting any thread: threads inherit the
// mask, so no thread is ever interrupted by these signals and only the signalfd
// sees them. ignore_sigpipe() makes a write to a reset peer fail with EPIPE
// instead of killing the process.
//
// Who may call: main(), block_signals and ignore_sigpipe before any thread starts;
// read_signal and wait_readable, the thread that waits on the signalfd;
// reset_signals_after_fork, a child right after fork().
#pragma once

#include <initializer_list>

#include "serverlab/fd.hpp"

namespace serverlab {

void ignore_sigpipe();

// Blocks the given signals in the calling thread and returns a signalfd
// (non-blocking, close-on-exec) that reports them.
Fd block_signals(std::initializer_list<int> signals);

// Reads one pending signal from a signalfd; returns its number, or 0 if none.
int read_signal(int signal_fd);

// Waits until fd_a or the signal fd is readable, or timeout_ms passes (-1: forever).
// Returns the fd that is ready (a if both), or -1 on timeout. EINTR is retried.
int wait_readable(int fd_a, int signal_fd, int timeout_ms);

// Restores the default mask and dispositions in a child after fork() (async-signal-safe).
void reset_signals_after_fork() noexcept;

}  // namespace serverlab
