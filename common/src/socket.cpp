#include "serverlab/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "serverlab/log.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab {
namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

AddrInfoPtr resolve(const std::string& host, std::uint16_t port, int socktype, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  const char* node = host.empty() ? nullptr : host.c_str();
  if (int rc = ::getaddrinfo(node, service.c_str(), &hints, &result); rc != 0) {
    throw std::runtime_error("getaddrinfo " + host + ": " + gai_strerror(rc));
  }
  return AddrInfoPtr(result);
}

void set_int_option(int fd, int level, int name, int value, const char* what) {
  check_sys(::setsockopt(fd, level, name, &value, sizeof value), what);
}

// Tries each resolved address until `attempt` succeeds; rethrows the last error.
template <typename Attempt>
Fd first_working(const AddrInfoPtr& list, int extra_type_flags, Attempt attempt) {
  int last_errno = 0;
  const char* last_call = "socket";
  for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | extra_type_flags,
                   ai->ai_protocol));
    if (!fd) {
      last_errno = errno;
      last_call = "socket";
      continue;
    }
    if (const char* failed = attempt(fd.get(), ai); failed == nullptr) return fd;
    else last_call = failed;
    last_errno = errno;
  }
  throw SysError(last_call, last_errno);
}

}  // namespace

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
  } else if (storage.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
  } else {
    return "?";
  }
  return text;
}

std::uint16_t SocketAddress::port() const {
  if (storage.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (storage.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::string SocketAddress::to_string() const {
  if (storage.ss_family == AF_INET6) return "[" + host() + "]:" + std::to_string(port());
  return host() + ":" + std::to_string(port());
}

Fd listen_tcp(const std::string& host, std::uint16_t port, const ListenOptions& options) {
  AddrInfoPtr list = resolve(host, port, SOCK_STREAM, true);
  return first_working(list, options.nonblocking ? SOCK_NONBLOCK : 0,
                       [&](int fd, addrinfo* ai) -> const char* {
                         set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt SO_REUSEADDR");
                         if (options.reuse_port)
                           set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt SO_REUSEPORT");
                         if (::bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) return "bind";
                         if (::listen(fd, options.backlog) < 0) return "listen";
                         return nullptr;
                       });
}

Fd bind_udp(const std::string& host, std::uint16_t port) {
  AddrInfoPtr list = resolve(host, port, SOCK_DGRAM, true);
  return first_working(list, 0, [&](int fd, addrinfo* ai) -> const char* {
    set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt SO_REUSEADDR");
    return ::bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? "bind" : nullptr;
  });
}

Fd connect_tcp(const std::string& host, std::uint16_t port) {
  AddrInfoPtr list = resolve(host, port, SOCK_STREAM, false);
  return first_working(list, 0, [](int fd, addrinfo* ai) -> const char* {
    while (::connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
      if (errno != EINTR) return "connect";
    }
    return nullptr;
  });
}

Fd connect_udp(const std::string& host, std::uint16_t port) {
  AddrInfoPtr list = resolve(host, port, SOCK_DGRAM, false);
  return first_working(list, 0, [](int fd, addrinfo* ai) -> const char* {
    return ::connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? "connect" : nullptr;
  });
}

SocketAddress local_address(int fd) {
  SocketAddress addr;
  addr.length = sizeof addr.storage;
  check_sys(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr.storage), &addr.length),
            "getsockname");
  return addr;
}

SocketAddress peer_address(int fd) {
  SocketAddress addr;
  addr.length = sizeof addr.storage;
  check_sys(::getpeername(fd, reinterpret_cast<sockaddr*>(&addr.storage), &addr.length),
            "getpeername");
  return addr;
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6 needs []
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) out.host = "127.0.0.1";
  if (port_text.empty() || port_text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

void announce_listening(int listen_fd) {
  std::printf("listening on %s\n", local_address(listen_fd).to_string().c_str());
  std::fflush(stdout);
}

void set_nonblocking(int fd, bool on) {
  int flags = check_sys(::fcntl(fd, F_GETFL), "fcntl F_GETFL");
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  check_sys(::fcntl(fd, F_SETFL, flags), "fcntl F_SETFL");
}

void set_nodelay(int fd, bool on) {
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "setsockopt TCP_NODELAY");
}

AcceptFailure classify_accept_error(int err) {
  switch (err) {
    case EAGAIN:
#if EAGAIN != EWOULDBLOCK
    case EWOULDBLOCK:
#endif
      return AcceptFailure::Drained;
    case EINTR:
    case ECONNABORTED:  // the client gave up while it waited in the backlog
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return AcceptFailure::Retry;
    case EMFILE:
    case ENFILE:
      return AcceptFailure::OutOfFds;
    default:
      return AcceptFailure::Resources;
  }
}

namespace {

Fd open_spare() { return Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

long long now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

SpareFd::SpareFd() : spare_(open_spare()) {
  if (!spare_) throw SysError("open /dev/null");
}

bool SpareFd::shed_one(int listen_fd) {
  if (last_log_ms_ < 0 || now_ms() - last_log_ms_ >= 1000) {
    log::warn("out of file descriptors: refusing new clients");
    last_log_ms_ = now_ms();
  }
  spare_.reset();
  const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) ::close(fd);
  spare_ = open_spare();
  return fd >= 0 && spare_;
}

bool drain_for_linger(int fd, std::size_t& budget) {
  char sink[16 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      if (got >= budget) return true;
      budget -= got;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    return true;  // EOF or an error: the peer has everything it will read
  }
}

void lingering_close(int fd) {
  using Clock = std::chrono::steady_clock;
  ::shutdown(fd, SHUT_WR);
  const auto until = Clock::now() + std::chrono::milliseconds(kLingerMs);
  std::size_t budget = kLingerBytes;
  while (!drain_for_linger(fd, budget)) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) == 0) return;  // EINTR: drain and look again
  }
}

}  // namespace serverlab
