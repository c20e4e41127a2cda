// http-prefork: stage 5, a master process and --workers pre-forked worker processes.
//
//   main: flags -> check the configuration once (so a bad --root fails here, with exit 1,
//         not in every worker) -> Master: listen, scoreboard, fork workers -> supervise
//   worker: stage 4's event loop and HTTP driver, fed by the master (passfd) or accepting
//           on a shared / SO_REUSEPORT socket
//
// --max-workers/--min-spare/--max-spare grow and shrink the pool with the load (master.hpp).
// Signals to the master: SIGTERM fast stop, SIGINT/SIGQUIT graceful stop, SIGHUP reload
// (re-read --config, validate it here in the master, then a new generation of workers
// with it while the old one drains; an invalid file changes nothing), SIGUSR1 a new
// generation with the running configuration (reopens the access logs). See master.hpp,
// docs/CONFIG.md and the README's table.
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
#include "serverlab/reload.hpp"
#include "serverlab/signals.hpp"
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

// Everything the flags set: the master's options, and the words that become them.
struct Settings {
  MasterOptions options;
  std::string accept = "passfd";
  std::string cpu_affinity = "off";
  int max_requests = 0;
};

void define_flags(Flags& flags, Settings& s) {
  MasterOptions& options = s.options;
  options.workers = cpu_count();
  http::add_http_flags(flags, options.worker.config, 8080);
  flags.add("workers", options.workers,
            "worker processes (by default one per CPU this process may use)", 1, 256);
  flags.add_choice("accept", s.accept, {"passfd", "shared", "reuseport"},
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
  flags.add("max-requests-per-worker", s.max_requests,
            "recycle a worker (gracefully) after this many requests (0: never)", 0);
  flags.add_choice("cpu-affinity", s.cpu_affinity, {"off", "auto"},
                   "auto: pin worker i to CPU i mod ncpu");
  flags.add_check([&s]() -> std::optional<std::string> {
    s.options.worker.accept = *parse_accept_mode(s.accept);
    s.options.max_requests = static_cast<std::uint64_t>(s.max_requests);
    s.options.cpu_affinity = s.cpu_affinity == "auto";
    if (const char* wrong = scaling_error(s.options)) return std::string(wrong);
    return std::nullopt;
  });
}

// What a reload cannot change in the master: the listening sockets and the lanes.
std::optional<std::string> needs_restart(const Settings& before, const Settings& after) {
  const MasterOptions& a = before.options;
  const MasterOptions& b = after.options;
  if (auto c = http::listener_change(a.worker.config, b.worker.config)) return c;
  if (auto c = changed("accept", before.accept, after.accept)) return c;
  if (auto c = changed("workers", a.workers, b.workers)) return c;
  if (auto c = changed("max-workers", a.max_workers, b.max_workers)) return c;
  if (auto c =
          changed("worker-connections", a.worker.worker_connections, b.worker.worker_connections))
    return c;
  return changed("cpu-affinity", before.cpu_affinity, after.cpu_affinity);
}

}  // namespace

int main(int argc, char** argv) {
  ConfigLoader<Settings> loader(
      "http-prefork",
      "HTTP/1.1 static file server: a master and pre-forked worker processes (stage 5)",
      define_flags, argc, argv);
  Settings settings = loader.load_or_exit();
  MasterOptions options = settings.options;
  const http::HttpConfig& config = options.worker.config;

  try {
    configure_logging(config.server);
    ignore_sigpipe();
    // Fail fast on a configuration no worker could serve (the workers build their own
    // service after fork: the access log and file cache belong to one process).
    { http::HttpService check(config); }
    // HTTPS: the context is made once, here, before any fork (a bad file: exit 1).
    std::optional<tls::TlsContext> tls;
    if (config.tls.enabled()) {
      tls::ServerOptions tls_options = config.tls.options();
      tls_options.alpn = {"h2", "http/1.1"};  // HTTP/2 when the client offers it (ALPN)
      tls = tls::TlsContext::server(tls_options);
    }
    options.worker.tls = tls ? &*tls : nullptr;
    const tls::TlsContext* tls_context = options.worker.tls;  // every generation serves with it

    Master master(std::move(options));
    // SIGHUP: the master validates the file as a start would (flags, checks, and a
    // throwaway service), then hands the result to the master.
    master.set_reloader([&loader, &settings,
                         tls_context](const MasterOptions&) -> std::optional<MasterOptions> {
      std::optional<Settings> next = reload_settings(loader, settings, needs_restart);
      if (!next) return std::nullopt;
      try {
        http::HttpService check(next->options.worker.config);
      } catch (const std::exception& e) {
        log::error("SIGHUP: configuration not reloaded, the running one keeps serving: {}",
                   e.what());
        return std::nullopt;
      }
      settings = std::move(*next);
      configure_logging(settings.options.worker.config.server);
      MasterOptions reloaded = settings.options;
      reloaded.worker.tls = tls_context;  // TLS settings cannot change (listener_change)
      return reloaded;
    });
    return master.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http-prefork: %s\n", e.what());
    return 1;
  }
}
