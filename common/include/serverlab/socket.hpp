// socket.hpp: TCP/UDP socket helpers over getaddrinfo (IPv4 and IPv6).
//
// Every socket is made SOCK_CLOEXEC, so a program started with exec(2) inherits
// none of them by accident. CLOEXEC acts on exec only: a fork(2)ed child (stage 5's
// workers) still holds a copy of every descriptor open at the fork, and must close
// the ones it should not keep itself. Listening sockets set SO_REUSEADDR, so a
// restarted server can bind its port again at once (TIME_WAIT is not in the way).
// Port 0 asks the kernel for a free port; local_address() says which one it gave.
//
// Setup functions throw SysError (or std::runtime_error for a name that does not
// resolve). Who may call: any thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
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

// ---- accept4(2) failures: one triage for every server; each reacts its own way.
enum class AcceptFailure {
  Retry,      // EINTR, ECONNABORTED, EPROTO and the network errors Linux passes on
              // from the new socket (accept(2), "Error handling"): try the next client now
  Drained,    // EAGAIN / EWOULDBLOCK: nobody is waiting (non-blocking listeners only)
  OutOfFds,   // EMFILE / ENFILE: the waiting client keeps the listener readable, so a
              // loop that only retries spins; shed it (SpareFd below) or stop accepting
  Resources,  // ENOBUFS, ENOMEM and anything else: transient; back off, try again later
};
AcceptFailure classify_accept_error(int err);

// The spare-descriptor trick for AcceptFailure::OutOfFds: one descriptor (/dev/null)
// kept in reserve. shed_one() gives it up, accepts the waiting client, closes it at
// once (the client sees a clean close, not a hang), and takes the spare back. Logs
// at most once a second. Returns false when even that found no room (another
// process took the descriptor): the caller should wait a little before the next
// accept rather than spin. One owner thread; throws SysError if /dev/null won't open.
class SpareFd {
 public:
  SpareFd();
  bool shed_one(int listen_fd);

 private:
  Fd spare_;
  long long last_log_ms_ = -1;
};

// ---- Lingering close (nginx's name): shut the write side, then read and drop what
// the peer still sends, bounded in bytes and time, before close(). Closing a socket
// with unread input makes the kernel send RST, and a RST can destroy a response the
// peer has not read yet (a 400 sent before the rest of a bad request, a 503, ...).
inline constexpr int kLingerMs = 2000;
inline constexpr std::size_t kLingerBytes = std::size_t{1} << 20;

// One non-blocking pass: reads and drops input until it would block, taking what it
// read off `budget`. True when lingering is over (EOF, an error, the budget spent);
// false when more may come (wait for readable, call again). For event loops and for
// a thread that must not block (stage 3's acceptor).
bool drain_for_linger(int fd, std::size_t& budget);
// The blocking form (stages 2-3): shutdown(SHUT_WR), then drain until EOF,
// kLingerBytes or kLingerMs, whichever comes first. The caller closes fd after.
void lingering_close(int fd);

}  // namespace serverlab
