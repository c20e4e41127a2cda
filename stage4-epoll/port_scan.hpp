// port_scan.hpp: the pieces of port-scan, a TCP connect() scanner (stage 4's client tool).
//
// What it teaches: the other side of an epoll server. A non-blocking connect() returns
// EINPROGRESS at once; the socket becomes writable when the handshake ends, and
// SO_ERROR then says how it ended (0: open, ECONNREFUSED: closed). One thread keeps up
// to `concurrency` handshakes in flight with one epoll instance, and gives up on a port
// whose handshake has not ended within `timeout` (filtered: no answer at all).
//
// Why its own loop and not stage 4's EventLoop: a scan is a single burst with one kind
// of event and one deadline per socket, all equal; forty lines of epoll_wait read more
// plainly here than handlers and timers, and keep the client apart from the server's loop.
//
// Safety: a scanner can be pointed at anyone, so the target must be a numeric address
// (no DNS lookup, nothing leaves the host before the check) inside loopback
// (127.0.0.0/8, ::1) or inside a range the user allowed on purpose (--allow CIDR).
//
// Who may call: any thread; scan() blocks until every port has an answer or timed out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/socket.hpp"

namespace serverlab::scan {

// "22,80,8000-8100" -> the ports, sorted, without duplicates. nullopt and *error on
// anything else (empty items, 0, > 65535, reversed ranges, junk).
std::optional<std::vector<std::uint16_t>> parse_ports(std::string_view text, std::string* error);

// An address range: "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128).
struct Cidr {
  int family = 0;            // AF_INET or AF_INET6
  unsigned char bytes[16]{};  // the network address (4 bytes used for IPv4)
  int prefix = 0;            // leading bits that must match
};
std::optional<Cidr> parse_cidr(std::string_view text, std::string* error);
bool contains(const Cidr& range, const SocketAddress& address);

// A numeric IPv4/IPv6 address or "localhost" (127.0.0.1), with port 0. No DNS.
std::optional<SocketAddress> parse_target(std::string_view host, std::string* error);

// True for 127.0.0.0/8 and ::1 (and ::ffff:127.x.y.z).
bool is_loopback(const SocketAddress& address);

enum class PortState { Open, Closed, Filtered };
const char* to_string(PortState state);

// Completes a non-blocking connect() on `fd` once epoll (or poll) reported it writable,
// or with EPOLLERR/EPOLLHUP: asks the socket how the handshake ended (SO_ERROR) and
// classifies it: 0 is Open, ECONNREFUSED is Closed, any other error (ETIMEDOUT,
// EHOSTUNREACH, ...) is Filtered. Call it once per socket (reading SO_ERROR clears it).
// [lab11:nonblocking-connect]
PortState finish_connect(int fd);

struct PortResult {
  std::uint16_t port = 0;
  PortState state = PortState::Filtered;
};

struct ScanOptions {
  int concurrency = 256;   // handshakes in flight at once
  double timeout = 1.0;    // seconds a port may take to answer before it counts as filtered
};

// Probes every port of `target` (its port field is ignored). Results in port order.
// Throws SysError when the scanner itself cannot go on (epoll_create1, socket: EMFILE).
std::vector<PortResult> scan(const SocketAddress& target, const std::vector<std::uint16_t>& ports,
                             const ScanOptions& options);

}  // namespace serverlab::scan
