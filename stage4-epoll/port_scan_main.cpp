// port_scan_main.cpp: port-scan, a TCP connect() scanner over one epoll instance.
//
//   port-scan [flags] HOST PORTS        e.g. port-scan 127.0.0.1 1-1024
//
// Prints "PORT open" for each open port (with -v also "PORT closed" / "PORT filtered"),
// then one summary line. Refuses any target outside loopback unless --allow names a
// range that holds it; the check runs before any socket is made.
//
// Exit status: 0 scan done; 1 the scanner failed (out of descriptors, ...);
// 2 bad usage (flag, HOST, PORTS) or a target that is not allowed.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "port_scan.hpp"
#include "serverlab/flags.hpp"

namespace {

using serverlab::Flags;
namespace scan = serverlab::scan;

constexpr const char* kSummary =
    "Checks which TCP ports of HOST accept a connection: non-blocking connect() fanned out over epoll.\n"
    "  port-scan [flags] HOST PORTS   e.g. port-scan 127.0.0.1 22,80,8000-8100\n"
    "HOST is a numeric address (or localhost), never looked up. Only loopback (127.0.0.0/8, ::1)\n"
    "is scanned unless --allow CIDR widens it: scan only hosts you are allowed to.\n"
    "Short form: -v (--verbose).";

[[noreturn]] void usage_error(const Flags& flags, const std::string& why) {
  std::fprintf(stderr, "port-scan: %s\n\n%s", why.c_str(), flags.usage().c_str());
  std::exit(2);
}

// The concurrency the descriptor limit allows: each probe holds one fd.
int clamp_to_fd_limit(int wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return wanted;
  long room = static_cast<long>(limit.rlim_cur) - 16;  // stdio, epoll, and some slack
  return static_cast<int>(std::max(1L, std::min<long>(wanted, room)));
}

}  // namespace

int main(int argc, char** argv) {
  int concurrency = 256;
  double timeout = 1.0;
  std::string allow;
  bool verbose = false;
  Flags flags("port-scan", kSummary);
  flags.add("concurrency", concurrency, "handshakes in flight at once", 1, 10000);
  flags.add_seconds("timeout", timeout, "seconds a port may take to answer before it is 'filtered'");
  flags.add("allow", allow, "comma-separated CIDR ranges that may be scanned besides loopback");
  flags.add("verbose", verbose, "print closed and filtered ports too (-v)");

  // Flags knows only --long flags: pull out HOST and PORTS, spell -v long.
  std::vector<std::string> flag_args{"port-scan"};
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-v") arg = "--verbose";
    if (arg == "-h") arg = "--help";
    if (arg.empty() || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    if (!arg.starts_with("--")) usage_error(flags, fmt::format("unknown flag '{}'", arg));
    flag_args.push_back(arg);
    bool takes_value = arg == "--concurrency" || arg == "--timeout" || arg == "--allow" || arg == "--config";
    if (takes_value && i + 1 < argc) flag_args.push_back(argv[++i]);
  }
  std::vector<const char*> flag_argv;
  for (const std::string& a : flag_args) flag_argv.push_back(a.c_str());
  flags.parse_or_exit(static_cast<int>(flag_argv.size()), flag_argv.data());
  if (positional.size() != 2) usage_error(flags, "want exactly HOST and PORTS");
  if (timeout <= 0) usage_error(flags, "--timeout must be more than 0");

  std::string error;
  auto target = scan::parse_target(positional[0], &error);
  if (!target) usage_error(flags, error);
  auto ports = scan::parse_ports(positional[1], &error);
  if (!ports) usage_error(flags, error);

  // The safety check, before any socket exists. Every --allow range is checked for
  // syntax, even when the target is loopback anyway.
  bool allowed = scan::is_loopback(*target);
  for (std::string_view list = allow; !list.empty();) {
    auto comma = list.find(',');
    auto range = scan::parse_cidr(list.substr(0, comma), &error);
    if (!range) usage_error(flags, error);
    allowed = allowed || scan::contains(*range, *target);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  if (!allowed) {
    std::fprintf(stderr,
                 "port-scan: refusing to scan %s: not a loopback address (add --allow CIDR to scan "
                 "a network you are allowed to)\n",
                 target->host().c_str());
    return 2;
  }

  scan::ScanOptions options;
  options.concurrency = clamp_to_fd_limit(concurrency);
  options.timeout = timeout;
  auto started = std::chrono::steady_clock::now();
  std::vector<scan::PortResult> results;
  try {
    results = scan::scan(*target, *ports, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "port-scan: %s\n", e.what());
    return 1;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  int counts[3] = {0, 0, 0};
  for (const scan::PortResult& r : results) {
    ++counts[static_cast<int>(r.state)];
    if (r.state == scan::PortState::Open || verbose)
      std::printf("%u %s\n", static_cast<unsigned>(r.port), scan::to_string(r.state));
  }
  std::printf("%s: %zu ports scanned: %d open, %d closed, %d filtered in %.2f s\n",
              target->host().c_str(), results.size(), counts[0], counts[1], counts[2], seconds);
  return 0;
}
