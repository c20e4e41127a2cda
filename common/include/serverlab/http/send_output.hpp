// http/send_output.hpp: one step of putting an HttpSession's output on a socket.
//
// Both drivers of a session call it: serve_connection (blocking, stages 2 and 3)
// and stage 4's Connection (non-blocking, also stage 5's workers). The session
// says what to send (HttpSession::output()); this does the system call and tells
// the session how much went:
//
//   head bytes   -> send(2), MSG_NOSIGNAL (a reset peer is an error, not a
//                   signal), MSG_MORE when a file body follows so the head shares
//                   its first segment                    -> session.wrote(n)
//   file region  -> sendfile(2), at most 1 GiB per call, 64-bit offsets, so
//                   files over 4 GiB work                -> session.sent_file(n)
//
// EINTR is retried. Who may call: the thread that owns the session. Never throws.
#pragma once

#include "serverlab/http/session.hpp"

namespace serverlab::http {

enum class SendStep {
  Progress,  // some bytes went (the session has been told)
  Blocked,   // the socket's buffer is full (EAGAIN): wait until it is writable
  Failed,    // the peer is gone, or the file shrank under us: close the connection
};

// Sends some of session.output() on `fd` (non-blocking). Call only when the
// session wants to write.
SendStep send_output(int fd, HttpSession& session);

}  // namespace serverlab::http
