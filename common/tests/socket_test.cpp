// Socket helpers: port 0, IPv4/IPv6, SO_REUSEADDR restarts, CLOEXEC, parsing.
#include "serverlab/socket.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <stdexcept>

#include "serverlab/rio.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {
namespace {

std::string exchange(int a, int b, const std::string& msg) {
  if (!write_n(a, msg).is_ok()) return "<write failed>";
  std::string got(msg.size(), '\0');
  IoResult r = read_n(b, got.data(), got.size());
  got.resize(r.bytes);
  return got;
}

TEST(Socket, PortZeroGetsARealPortAndConnectionsWork) {
  Fd listener = listen_tcp("127.0.0.1", 0);
  SocketAddress addr = local_address(listener.get());
  EXPECT_NE(addr.port(), 0);
  EXPECT_EQ(addr.host(), "127.0.0.1");
  EXPECT_EQ(addr.to_string(), "127.0.0.1:" + std::to_string(addr.port()));

  Fd client = connect_tcp("127.0.0.1", addr.port());
  Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server.valid());
  EXPECT_EQ(exchange(client.get(), server.get(), "ping"), "ping");
  EXPECT_EQ(exchange(server.get(), client.get(), "pong"), "pong");
  EXPECT_EQ(peer_address(server.get()).port(), local_address(client.get()).port());
}

TEST(Socket, Ipv6LoopbackWorksWhenAvailable) {
  Fd listener;
  try {
    listener = listen_tcp("::1", 0);
  } catch (const std::exception& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  SocketAddress addr = local_address(listener.get());
  EXPECT_EQ(addr.host(), "::1");
  EXPECT_EQ(addr.to_string(), "[::1]:" + std::to_string(addr.port()));
  Fd client = connect_tcp("::1", addr.port());
  Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_EQ(exchange(client.get(), server.get(), "v6"), "v6");
  auto hp = parse_host_port(addr.to_string());
  ASSERT_TRUE(hp.has_value());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, addr.port());
}

TEST(Socket, SocketsAreCloseOnExec) {
  Fd listener = listen_tcp("127.0.0.1", 0);
  Fd client = connect_tcp("127.0.0.1", local_address(listener.get()).port());
  Fd udp = bind_udp("127.0.0.1", 0);
  for (int fd : {listener.get(), client.get(), udp.get()})
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << "fd " << fd;
}

TEST(Socket, BindingABusyPortThrowsSysErrorNamingBind) {
  Fd first = listen_tcp("127.0.0.1", 0);
  const std::uint16_t port = local_address(first.get()).port();
  try {
    Fd second = listen_tcp("127.0.0.1", port);
    FAIL() << "a second listener on the same port was allowed";
  } catch (const SysError& e) {
    EXPECT_EQ(e.error(), EADDRINUSE);
    EXPECT_NE(std::string(e.what()).find("bind"), std::string::npos) << e.what();
  }
}

TEST(Socket, ReuseAddrLetsAServerRebindRightAfterClosing) {
  std::uint16_t port = 0;
  {
    Fd listener = listen_tcp("127.0.0.1", 0);
    port = local_address(listener.get()).port();
    Fd client = connect_tcp("127.0.0.1", port);
    Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_EQ(exchange(client.get(), server.get(), "x"), "x");
    server.reset();  // the server closes first: its side goes to TIME_WAIT
    char c;
    ASSERT_EQ(::read(client.get(), &c, 1), 0);
  }
  Fd again = listen_tcp("127.0.0.1", port);
  EXPECT_EQ(local_address(again.get()).port(), port);
}

TEST(Socket, ReusePortLetsTwoListenersShareAPort) {
  ListenOptions opts;
  opts.reuse_port = true;
  Fd a = listen_tcp("127.0.0.1", 0, opts);
  Fd b = listen_tcp("127.0.0.1", local_address(a.get()).port(), opts);
  EXPECT_EQ(local_address(a.get()).port(), local_address(b.get()).port());
}

TEST(Socket, NonblockingListenerAcceptsWouldBlock) {
  ListenOptions opts;
  opts.nonblocking = true;
  Fd l = listen_tcp("127.0.0.1", 0, opts);
  EXPECT_EQ(::accept(l.get(), nullptr, nullptr), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
}

TEST(Socket, ConnectToAClosedPortThrowsConnectionRefused) {
  std::uint16_t port = 0;
  { Fd l = listen_tcp("127.0.0.1", 0); port = local_address(l.get()).port(); }
  try {
    Fd c = connect_tcp("127.0.0.1", port);
    FAIL() << "connected to a port nobody listens on";
  } catch (const SysError& e) {
    EXPECT_EQ(e.error(), ECONNREFUSED);
    EXPECT_NE(std::string(e.what()).find("connect"), std::string::npos);
  }
}

TEST(Socket, UnresolvableHostThrows) {
  EXPECT_THROW(listen_tcp("no.such.host.invalid", 0), std::runtime_error);
}

TEST(Socket, UdpRoundTrip) {
  Fd server = bind_udp("127.0.0.1", 0);
  Fd client = connect_udp("127.0.0.1", local_address(server.get()).port());
  ASSERT_EQ(::send(client.get(), "dgram", 5, 0), 5);
  char buf[16];
  SocketAddress from;
  from.length = sizeof from.storage;
  ssize_t n = ::recvfrom(server.get(), buf, sizeof buf, 0,
                         reinterpret_cast<sockaddr*>(&from.storage), &from.length);
  ASSERT_EQ(n, 5);
  EXPECT_EQ(std::string(buf, 5), "dgram");
  EXPECT_EQ(from.port(), local_address(client.get()).port());
}

TEST(Socket, SetNonblockingAndNodelayToggle) {
  Fd l = listen_tcp("127.0.0.1", 0);
  Fd c = connect_tcp("127.0.0.1", local_address(l.get()).port());
  set_nonblocking(c.get());
  EXPECT_TRUE(::fcntl(c.get(), F_GETFL) & O_NONBLOCK);
  set_nonblocking(c.get(), false);
  EXPECT_FALSE(::fcntl(c.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_NO_THROW(set_nodelay(c.get()));
  EXPECT_THROW(set_nodelay(-1), SysError);
}

TEST(ParseHostPort, AcceptsIpv4NamesBracketedIpv6AndBarePort) {
  auto a = parse_host_port("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = parse_host_port("localhost:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "localhost");
  EXPECT_EQ(b->port, 0);
  auto c = parse_host_port("[::1]:443");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 443);
  auto d = parse_host_port(":65535");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "127.0.0.1");
  EXPECT_EQ(d->port, 65535);
}

TEST(ParseHostPort, RejectsMalformedAddresses) {
  for (const char* bad : {"", "localhost", "host:", "host:65536", "host:12a", "host:-1",
                          "::1:80", "[::1]", "[::1]80", "[::1:80", "host:123456"})
    EXPECT_FALSE(parse_host_port(bad).has_value()) << "accepted '" << bad << "'";
}

TEST(Announce, PrintsTheBoundAddressAsOneStdoutLine) {
  Fd l = listen_tcp("127.0.0.1", 0);
  ::testing::internal::CaptureStdout();
  announce_listening(l.get());
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "listening on 127.0.0.1:" + std::to_string(local_address(l.get()).port()) + "\n");
}

}  // namespace
}  // namespace serverlab
