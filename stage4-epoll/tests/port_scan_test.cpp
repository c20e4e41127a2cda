// Tests of port-scan (stage 4's client tool). Loopback only: the test opens listening
// sockets on 127.0.0.1 port 0 for "open", and ports it has just closed for "closed".
// The refusal of a non-loopback target uses 192.0.2.1 (TEST-NET-1, a documentation
// address) and shows that nothing was attempted: port-scan exits 2 with the refusal line
// and prints no port, where a probe would have printed one and exited 0 (or, with its
// 60 s timeout, outlasted the 10 s watchdog). That test runs port-scan in a network
// namespace of its own with no interface up, so that even a broken check cannot send a
// packet anywhere: the test fails, and nothing leaves the machine.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "port_scan.hpp"
#include "serverlab/socket.hpp"
#include "server_process.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::ProgramResult;
using serverlab::testing::run_program;
namespace scan = serverlab::scan;

ProgramResult port_scan(std::vector<std::string> args, std::chrono::milliseconds deadline = 30s) {
  args.insert(args.begin(), serverlab::testing::binary_from_env("PORT_SCAN_BIN", PORT_SCAN_DEFAULT_BIN));
  return run_program(args, "", deadline);
}

// port-scan in a new network namespace (`unshare --net`): only a loopback interface, down,
// so every address is unreachable. nullopt when no namespace can be made here (unshare
// needs root, or unprivileged user namespaces for the second form).
std::optional<ProgramResult> port_scan_isolated(const std::vector<std::string>& args,
                                                std::chrono::milliseconds deadline) {
  for (std::vector<std::string> prefix :
       {std::vector<std::string>{"/usr/bin/unshare", "--net", "--"},
        {"/usr/bin/unshare", "--user", "--map-root-user", "--net", "--"}}) {
    std::vector<std::string> probe = prefix;
    probe.push_back("/bin/true");
    if (run_program(probe, "", 10s).status != 0) continue;
    prefix.push_back(
        serverlab::testing::binary_from_env("PORT_SCAN_BIN", PORT_SCAN_DEFAULT_BIN));
    prefix.insert(prefix.end(), args.begin(), args.end());
    return run_program(prefix, "", deadline);
  }
  return std::nullopt;
}

std::uint16_t port_of(const Fd& fd) { return serverlab::local_address(fd.get()).port(); }

// A port nothing listens on: bound, then closed again.
std::uint16_t closed_port() {
  Fd probe = serverlab::listen_tcp("127.0.0.1", 0);
  return port_of(probe);
}

std::string line(std::uint16_t port, const char* state) { return std::to_string(port) + " " + state + "\n"; }

TEST(PortScanUsage, HelpAndBadInput) {
  ProgramResult r = port_scan({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("HOST PORTS"), std::string::npos) << r.out;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"127.0.0.1"}, {"127.0.0.1", "0"}, {"127.0.0.1", "80-22"},
        {"127.0.0.1", "1-70000"}, {"127.0.0.1", "22,,80"}, {"127.0.0.1", "http"},
        {"127.0.0.1", "80", "--bogus"}, {"-x", "127.0.0.1", "80"}, {"127.0.0.1", "80", "extra"},
        {"127.0.0.1", "80", "--timeout", "0"}, {"127.0.0.1", "80", "--allow", "10.0.0.0/99"}}) {
    r = port_scan(args);
    EXPECT_EQ(r.status, 2) << testing::PrintToString(args) << r.err;
    EXPECT_NE(r.err.find("Usage: port-scan"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(PortScanSafety, RefusesANonLoopbackTargetBeforeSendingAnything) {
  // A probe would print "80 filtered" and exit 0, or (60 s timeout) outlast the 10 s
  // watchdog; exit 2, the refusal line and no output show nothing was tried.
  for (std::vector<std::string> args :
       {std::vector<std::string>{"192.0.2.1", "80", "--timeout", "60"},
        {"192.0.2.1", "80", "--timeout", "60", "--allow", "10.0.0.0/8"},
        {"2001:db8::1", "80", "--timeout", "60"}}) {
    std::optional<ProgramResult> isolated = port_scan_isolated(args, 10s);
    if (!isolated)
      GTEST_SKIP() << "environment: no network namespace (unshare --net) to run this in";
    const ProgramResult& r = *isolated;
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.substr(0, r.err.find('\n')),
              "port-scan: refusing to scan " + args[0] +
                  ": not a loopback address (add --allow CIDR to scan a network you are allowed to)");
  }
  ProgramResult r = port_scan({"scanme.invalid", "80"}, 10s);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("not a numeric IPv4/IPv6 address (names are not looked up)"), std::string::npos)
      << r.err;
}

TEST(PortScan, ReportsOpenAndClosedPorts) {
  Fd a = serverlab::listen_tcp("127.0.0.1", 0);
  Fd b = serverlab::listen_tcp("127.0.0.1", 0);
  Fd c = serverlab::listen_tcp("127.0.0.1", 0);
  std::uint16_t gone1 = closed_port(), gone2 = closed_port();
  std::vector<std::uint16_t> open = {port_of(a), port_of(b), port_of(c)};
  std::vector<std::uint16_t> all = {open[0], open[1], open[2], gone1, gone2};
  std::sort(open.begin(), open.end());
  std::sort(all.begin(), all.end());
  std::string list = std::to_string(open[0]) + "-" + std::to_string(open[0]) + "," +
                     std::to_string(open[1]) + "," + std::to_string(open[2]) + "," +
                     std::to_string(gone1) + "," + std::to_string(gone2);

  for (const char* concurrency : {"1", "64"}) {
    ProgramResult r = port_scan({"127.0.0.1", list, "--concurrency", concurrency});
    EXPECT_EQ(r.status, 0) << r.err;
    std::string want;
    for (std::uint16_t p : open) want += line(p, "open");
    EXPECT_TRUE(r.out.starts_with(want)) << r.out;
    EXPECT_NE(r.out.find("127.0.0.1: 5 ports scanned: 3 open, 2 closed, 0 filtered in "), std::string::npos)
        << r.out;

    r = port_scan({"-v", "127.0.0.1", list, "--concurrency", concurrency});
    EXPECT_EQ(r.status, 0) << r.err;
    want.clear();
    for (std::uint16_t p : all)
      want += line(p, std::find(open.begin(), open.end(), p) != open.end() ? "open" : "closed");
    EXPECT_TRUE(r.out.starts_with(want)) << r.out;
  }
}

TEST(PortScan, AListenerThatDropsSynsIsFiltered) {
  // Backlog 0 and nobody accepting: once the accept queue holds one connection, the
  // kernel drops further SYNs, so our handshake gets no answer at all -- which is
  // what a firewall that drops packets looks like from outside.
  serverlab::ListenOptions options;
  options.backlog = 0;
  Fd full = serverlab::listen_tcp("127.0.0.1", 0, options);
  std::vector<Fd> fillers;
  for (int i = 0; i < 3; ++i) {
    fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    auto to = serverlab::local_address(full.get());
    ::connect(fillers.back().get(), to.get(), to.length);  // EINPROGRESS expected
  }
  std::uint16_t gone = closed_port();
  ProgramResult r = port_scan({"-v", "127.0.0.1", std::to_string(port_of(full)) + "," + std::to_string(gone),
                               "--timeout", "0.3"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(line(port_of(full), "filtered")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(line(gone, "closed")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 open, 1 closed, 1 filtered"), std::string::npos) << r.out;
}

TEST(PortScan, LocalhostAndIpv6Loopback) {
  Fd a = serverlab::listen_tcp("127.0.0.1", 0);
  ProgramResult r = port_scan({"localhost", std::to_string(port_of(a))});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with(line(port_of(a), "open"))) << r.out;

  Fd v6;
  try {
    v6 = serverlab::listen_tcp("::1", 0);
  } catch (const std::exception&) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  r = port_scan({"::1", std::to_string(port_of(v6))});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with(line(port_of(v6), "open"))) << r.out;
}

TEST(PortScanParsing, PortsAndRanges) {
  std::string error;
  auto ports = scan::parse_ports("80,22,8000-8002,22", &error);
  ASSERT_TRUE(ports) << error;
  EXPECT_EQ(*ports, (std::vector<std::uint16_t>{22, 80, 8000, 8001, 8002}));
  EXPECT_EQ(scan::parse_ports("1-65535", &error)->size(), 65535u);
  for (const char* bad : {"", "0", "65536", "9-8", "1-", "-5", "a", "1,,2", "1 ,2", "80-90-100"})
    EXPECT_FALSE(scan::parse_ports(bad, &error)) << bad;
}

TEST(PortScanParsing, CidrAndLoopback) {
  std::string error;
  auto target = [&](const char* host) { return scan::parse_target(host, &error).value(); };
  EXPECT_TRUE(scan::is_loopback(target("127.0.0.1")));
  EXPECT_TRUE(scan::is_loopback(target("127.255.0.9")));
  EXPECT_TRUE(scan::is_loopback(target("::1")));
  EXPECT_TRUE(scan::is_loopback(target("::ffff:127.0.0.1")));
  EXPECT_TRUE(scan::is_loopback(target("localhost")));
  EXPECT_FALSE(scan::is_loopback(target("128.0.0.1")));
  EXPECT_FALSE(scan::is_loopback(target("192.0.2.1")));
  EXPECT_FALSE(scan::is_loopback(target("::2")));

  auto net = scan::parse_cidr("192.0.2.0/25", &error).value();
  EXPECT_TRUE(scan::contains(net, target("192.0.2.127")));
  EXPECT_FALSE(scan::contains(net, target("192.0.2.128")));
  EXPECT_FALSE(scan::contains(net, target("::1")));
  EXPECT_TRUE(scan::contains(scan::parse_cidr("0.0.0.0/0", &error).value(), target("192.0.2.1")));
  EXPECT_TRUE(scan::contains(scan::parse_cidr("2001:db8::/32", &error).value(), target("2001:db8::7")));
  for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "::1/129", "x/1", "10.0.0.0/"})
    EXPECT_FALSE(scan::parse_cidr(bad, &error)) << bad;
}

}  // namespace
