// socket.hpp: TCP/UDP socket helpers over getaddrinfo (IPv4 and IPv6).
//
// Every socket is made SOCK_CLOEXEC, so a forked worker or exec'd child
// inherits nothing by accident. Listening sockets set SO_REUSEADDR, so a
// restarted server can bind its port again at once (TIME_WAIT is not in the way).
// Port 0 asks the kernel for a free port; local_address() says which one it gave.
//
// Setup functions throw SysError (or std::runtime_error for a name that does not
// resolve). Safe to call from any thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "serverlab/fd.hpp"

namespace serverlab {

// An IPv4 or IPv6 socket address, printable as "127.0.0.1:80" or "[::1]:80".
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  std::string host() const;
  std::uint16_t port() const;
  std::string to_string() const;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

struct ListenOptions {
  int backlog = 511;
  bool reuse_port = false;  // SO_REUSEPORT: several sockets share one port (stage 5)
  bool nonblocking = false;
};

// Binds and listens on host:port ("0.0.0.0", "::", "127.0.0.1", "localhost").
Fd listen_tcp(const std::string& host, std::uint16_t port, const ListenOptions& options = {});
// Binds a UDP socket.
Fd bind_udp(const std::string& host, std::uint16_t port);
// Connects (blocking) to host:port, trying every address getaddrinfo returns.
Fd connect_tcp(const std::string& host, std::uint16_t port);
// A UDP socket connected to host:port (send/recv go to that peer only).
Fd connect_udp(const std::string& host, std::uint16_t port);

SocketAddress local_address(int fd);
SocketAddress peer_address(int fd);

// Splits "host:port", "[v6]:port" or ":port"; nullopt when malformed.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> parse_host_port(std::string_view text);

// Prints "listening on ADDR:PORT" as a line on stdout and flushes it. Every
// server's first stdout line: tests and the bench read the port from it.
void announce_listening(int listen_fd);

void set_nonblocking(int fd, bool on = true);
void set_nodelay(int fd, bool on = true);

}  // namespace serverlab
