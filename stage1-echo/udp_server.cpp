// udp_server.cpp: echo-server --udp: each datagram goes back to where it came from.
//
// No connections and no threads: one loop waits on the socket and the signalfd,
// receives a datagram without blocking, and sends it back. A failed send is logged
// and the loop goes on. No per-client state, rate limit or amplification guard:
// keep it on loopback.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "echo_server.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/log.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::echo {

int run_udp(const EchoConfig& cfg, int signal_fd) {
  Fd sock = bind_udp(cfg.server.bind, cfg.server.port);
  announce_listening(sock.get());
  char buf[65536];
  for (;;) {
    if (wait_readable(sock.get(), signal_fd, -1) != sock.get()) break;
    SocketAddress from;
    from.length = sizeof from.storage;
    ssize_t n = ::recvfrom(sock.get(), buf, sizeof buf, MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from.storage), &from.length);
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN)
        log::event(log::Level::Warn, "recvfrom failed", {{"error", std::strerror(errno)}});
      continue;
    }
    if (::sendto(sock.get(), buf, static_cast<std::size_t>(n), 0, from.get(), from.length) < 0)
      log::event(log::Level::Warn, "sendto failed",
                 {{"peer", from.to_string()}, {"error", std::strerror(errno)}});
    log::event(log::Level::Debug, "datagram", {{"peer", from.to_string()}, {"bytes", n}});
  }
  log::event(log::Level::Info, "stopping", {});
  return 0;
}

}  // namespace serverlab::echo
