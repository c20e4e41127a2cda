// http-prefork: stage 5, a master process and --workers pre-forked worker processes.
//
//   main: flags -> check the configuration once (so a bad --root fails here, with exit 1,
//         not in every worker) -> Master: listen, scoreboard, fork workers -> supervise
//   worker: stage 4's event loop and HTTP driver, fed by the master (passfd) or accepting
//           on a shared / SO_REUSEPORT socket
//
// --max-workers/--min-spare/--max-spare grow and shrink the pool with the load (master.hpp).
// Signals to the master: SIGTERM fast stop, SIGINT/SIGQUIT graceful stop, SIGHUP graceful
// recycle of every worker (see master.hpp and the README's table).
#include <sched.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "master.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/log.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/tls/flags.hpp"
#include "worker.hpp"

using namespace serverlab;

namespace {

int cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

// What is wrong with the scaling flags together, or nullptr.
const char* scaling_error(const MasterOptions& o) {
  if (o.max_workers == 0) return nullptr;
  if (o.max_workers < o.workers) return "--max-workers must be at least --workers";
  if (o.min_spare > o.max_spare) return "--min-spare must not exceed --max-spare";
  if (o.max_workers > o.workers && o.worker.accept == AcceptMode::ReusePort)
    return "--max-workers needs --accept passfd or shared (a reuseport socket without a "
           "worker would hold its share of the clients)";
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  MasterOptions options;
  http::HttpConfig& config = options.worker.config;
  options.workers = cpu_count();
  std::string accept = "passfd";
  std::string cpu_affinity = "off";
  int max_requests = 0;

  Flags flags("http-prefork",
              "HTTP/1.1 static file server: a master and pre-forked worker processes (stage 5)");
  http::add_http_flags(flags, config, 8080);
  flags.add("workers", options.workers,
            "worker processes (by default one per CPU this process may use)", 1, 256);
  flags.add_choice("accept", accept, {"passfd", "shared", "reuseport"},
                   "who accepts: the master passes each connection to a worker (passfd), the "
                   "workers share the listening socket (shared, EPOLLEXCLUSIVE), or each has "
                   "its own SO_REUSEPORT socket (reuseport)");
  flags.add("worker-connections", options.worker.worker_connections,
            "connections one worker serves at once; with every worker full, accepting pauses", 1,
            1 << 20);
  flags.add("max-workers", options.max_workers,
            "grow the pool up to this many workers while short of spare ones (0: no scaling; "
            "passfd and shared modes)",
            0, 256);
  flags.add("min-spare", options.min_spare,
            "with --max-workers: start workers while fewer than this many are idle", 0, 256);
  flags.add("max-spare", options.max_spare,
            "with --max-workers: retire an idle worker (gracefully) each second while more than "
            "this many are idle, down to --workers",
            0, 256);
  flags.add("max-requests-per-worker", max_requests,
            "recycle a worker (gracefully) after this many requests (0: never)", 0);
  flags.add_choice("cpu-affinity", cpu_affinity, {"off", "auto"},
                   "auto: pin worker i to CPU i mod ncpu");
  tls::ServerFlags tls_flags;
  tls::add_server_flags(flags, tls_flags);
  flags.parse_or_exit(argc, argv);
  options.worker.accept = *parse_accept_mode(accept);
  if (const char* wrong = scaling_error(options)) {
    std::fprintf(stderr, "http-prefork: %s\n%s", wrong, flags.usage().c_str());
    return 2;
  }
  options.max_requests = static_cast<std::uint64_t>(max_requests);
  options.cpu_affinity = cpu_affinity == "auto";

  try {
    configure_logging(config.server);
    ignore_sigpipe();
    // Fail fast on a configuration no worker could serve (the workers build their own
    // service after fork: the access log and file cache belong to one process).
    { http::HttpService check(config); }
    // HTTPS: the context is made once, here, before any fork (a bad file: exit 1).
    std::optional<tls::TlsContext> tls;
    if (tls_flags.enabled()) tls = tls::TlsContext::server(tls_flags.options());
    options.worker.tls = tls ? &*tls : nullptr;

    Master master(std::move(options));
    return master.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http-prefork: %s\n", e.what());
    return 1;
  }
}
