// Lab 11 (week 11), the client's side of the reactor: completing a non-blocking
// connect() as port-scan does (stage4-epoll/port_scan.cpp, finish_connect). connect()
// on a non-blocking socket returns at once with EINPROGRESS; the socket turns writable
// when the handshake ends, and only SO_ERROR says how it ended. Tag:
// [nonblocking-connect]. The stub calls every finished handshake "filtered".
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include <catch2/catch.hpp>

#include "lab_support.hpp"
#include "port_scan.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/socket.hpp"

using serverlab::Fd;
using serverlab::scan::finish_connect;
using serverlab::scan::PortState;

namespace {

// Starts a non-blocking connect to 127.0.0.1:port and waits (bounded) until the
// handshake has ended: the socket is writable, or reports an error.
Fd connect_and_wait(std::uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
  REQUIRE((rc == 0 || errno == EINPROGRESS || errno == ECONNREFUSED));
  pollfd p{fd.get(), POLLOUT, 0};
  REQUIRE(::poll(&p, 1, 5000) == 1);
  return fd;
}

}  // namespace

TEST_CASE("a handshake with a listening port ends Open", "[nonblocking-connect]") {
  Fd listener = serverlab::listen_tcp("127.0.0.1", 0);
  Fd fd = connect_and_wait(serverlab::local_address(listener.get()).port());
  CHECK(finish_connect(fd.get()) == PortState::Open);
}

TEST_CASE("a refused handshake ends Closed", "[nonblocking-connect]") {
  std::uint16_t port;
  {
    Fd gone = serverlab::listen_tcp("127.0.0.1", 0);
    port = serverlab::local_address(gone.get()).port();
  }  // nothing listens there now: the SYN gets a RST
  Fd fd = connect_and_wait(port);
  CHECK(finish_connect(fd.get()) == PortState::Closed);
}

TEST_CASE("SO_ERROR is read, not guessed from writability", "[nonblocking-connect]") {
  // Both sockets are writable after the handshake; only SO_ERROR tells them apart.
  Fd listener = serverlab::listen_tcp("127.0.0.1", 0);
  Fd open = connect_and_wait(serverlab::local_address(listener.get()).port());
  std::uint16_t port;
  {
    Fd gone = serverlab::listen_tcp("127.0.0.1", 0);
    port = serverlab::local_address(gone.get()).port();
  }
  Fd refused = connect_and_wait(port);
  CHECK(finish_connect(open.get()) != finish_connect(refused.get()));
}
