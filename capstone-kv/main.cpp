// kv-server: a Redis-compatible key-value server on stage 4's epoll loop.
//
//   main: flags -> EventLoop + SignalWatcher -> KvServer -> listen -> run()
//   --tls-cert: one TlsContext for every client; --metrics-port: a MetricsEndpoint
//   (metrics_http.hpp) on the same loop, announced on the second stdout line.
//   SIGINT/SIGTERM: stop accepting, send what is queued, close clients, exit 0.
//
// One thread serves every client (Redis's model), or with --model threads stage 3's
// worker pool over a sharded store (threads_server.hpp): see README.md.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>

#include "aof.hpp"
#include "event_loop.hpp"
#include "kv_server.hpp"
#include "metrics_http.hpp"
#include "threads_server.hpp"
#include "rdb.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/log.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/tls/flags.hpp"

using namespace serverlab;

int main(int argc, char** argv) {
  ServerOptions server_options;
  kv::KvOptions options;
  int max_clients = 10000;
  double idle_timeout = 0;
  std::uint64_t output_limit = options.output_limit;
  std::uint64_t max_bulk = options.limits.max_bulk;
  int hz = options.hz;
  int metrics_port = -1;
  tls::ServerFlags tls_flags;
  std::string model = "epoll";
  int threads = 64, shards = 16;

  Flags flags("kv-server",
              "Redis-compatible key-value server (RESP2): one thread on an epoll loop, or stage 3's "
              "pool over a sharded store (--model threads)");
  add_server_flags(flags, server_options, 6379);
  flags.begin_section("kv");
  flags.add("maxclients", max_clients, "refuse clients beyond this many (-ERR max number of clients reached)", 1);
  flags.add_seconds("timeout", idle_timeout, "close a client idle this long (0: never); subscribers and blocked clients are spared");
  flags.add("requirepass", options.requirepass, "password clients must give with AUTH (empty: none)");
  flags.add_size("output-limit", output_limit, "unsent pushed output (pub/sub) a client may hold before it is disconnected");
  flags.add_size("proto-max-bulk-len", max_bulk, "longest bulk string a client may send, and longest string value");
  flags.add("hz", hz, "background task runs a second (active expiry, idle timeout)", 1, 500);
  flags.add_size("maxmemory", options.maxmemory,
                 "memory the allocator may hold before writes are refused or keys evicted (0: no limit)");
  flags.add_choice("maxmemory-policy", options.maxmemory_policy, {"noeviction", "allkeys-lru"},
                   "over --maxmemory: refuse writes (-OOM), or evict the least recently used keys");
  flags.add("dir", options.dir, "directory of the dump and of the append-only file");
  flags.add("dbfilename", options.dbfilename,
            "RDB dump file in --dir: loaded at start, written by SAVE, BGSAVE and at exit "
            "(empty: no persistence)");
  std::string appendonly = "no";
  flags.add_choice("appendonly", appendonly, {"yes", "no"},
                   "log every write to the append-only file in --dir, replayed at start "
                   "(it takes precedence over the dump)");
  flags.add("appendfilename", options.appendfilename, "append-only file in --dir");
  flags.add_choice("appendfsync", options.appendfsync, {"always", "everysec", "no"},
                   "fsync the append-only file before each reply, once a second, or never "
                   "(the kernel decides)");
  flags.add("metrics-port", metrics_port,
            "serve Prometheus /metrics and /health over HTTP on this port of --bind "
            "(-1: off; 0: any free port)", -1, 65535);
  tls::add_server_flags(flags, tls_flags);  // --tls-cert & co., in [tls]
  flags.begin_section("kv");
  flags.add_choice("model", model, {"epoll", "threads"},
                   "epoll: one thread on stage 4's loop (Redis's model); threads: stage 3's pool "
                   "over a sharded store with reader-writer locks (README.md, Two models)");
  flags.add("threads", threads, "--model threads: worker threads, the clients served at once", 1, 1024);
  flags.add("shards", shards, "--model threads: store shards, one reader-writer lock each", 1, 4096);
  flags.add_check([&]() -> std::optional<std::string> {
    if (model == "threads" && options.maxmemory_policy != "noeviction")
      return "--model threads: only --maxmemory-policy noeviction";
    if (model == "threads" && (tls_flags.enabled() || metrics_port >= 0))
      return "--model threads: no TLS or --metrics-port (both run on the event loop)";
    if (options.appendfilename.empty() || options.appendfilename.find('/') != std::string::npos)
      return "--appendfilename: a file name in --dir, without '/'";
    if (model == "threads" && appendonly == "yes")
      return "--model threads: no --appendonly (the file is written by the event loop)";
    if (max_bulk < 1024 * 1024) return "--proto-max-bulk-len: must be at least 1M";
    return std::nullopt;
  });
  flags.parse_or_exit(argc, argv);

  options.max_clients = static_cast<std::size_t>(max_clients);
  options.idle_timeout = idle_timeout;
  options.output_limit = output_limit;
  options.limits.max_bulk = max_bulk;
  options.hz = hz;
  options.appendonly = appendonly == "yes";

  try {
    configure_logging(server_options);
    ignore_sigpipe();
    std::optional<tls::TlsContext> tls_context;
    if (tls_flags.enabled()) {
      tls::ServerOptions tls_options = tls_flags.options();
      tls_options.alpn.clear();  // RESP has no ALPN name clients send; Redis offers none
      tls_context = tls::TlsContext::server(tls_options);
      options.tls = &*tls_context;
    }
    EventLoop loop;
    kv::KvServer* server_ptr = nullptr;
    SignalWatcher signals(loop, {SIGINT, SIGTERM}, [&server_ptr](int) {
      if (server_ptr != nullptr) server_ptr->shutdown();
    });
    kv::KvServer server(loop, options);
    server_ptr = &server;
    std::optional<kv::ThreadsServer> threaded;  // --model threads (reshards the store)
    if (model == "threads")
      threaded.emplace(server, kv::ThreadsOptions{static_cast<std::size_t>(threads),
                                                  static_cast<std::size_t>(shards)});
    if (options.appendonly) {
      kv::start_aof(server);  // replays the file (or starts it from the dump), then logs
    } else if (server.persistence_on()) {
      std::string error;
      server.update_now();
      if (!kv::load_rdb(server.db(), server.dump_path(), server.now(), error))
        throw std::runtime_error("loading the dump: " + error);
      log::info("loaded {} keys from {}", server.db().size(), server.dump_path());
    }

    Fd listener = listen_tcp(server_options.bind, server_options.port,
                             ListenOptions{.backlog = 511, .reuse_port = false, .nonblocking = true});
    announce_listening(listener.get());
    if (threaded) {
      log::info("kv-server ready (--model threads: {} workers, {} shards)", threads, shards);
      const Fd stop_signals = block_signals({SIGINT, SIGTERM});
      threaded->run(std::move(listener), stop_signals.get());
    } else {
      server.listen(std::move(listener));
      std::unique_ptr<kv::MetricsEndpoint> metrics;
      if (metrics_port >= 0) {
        metrics = std::make_unique<kv::MetricsEndpoint>(
            loop, [&server] { return kv::render_prometheus(server); });
        Fd http = listen_tcp(server_options.bind, static_cast<std::uint16_t>(metrics_port),
                             ListenOptions{.backlog = 64, .reuse_port = false, .nonblocking = true});
        std::printf("metrics listening on %s\n", local_address(http.get()).to_string().c_str());
        std::fflush(stdout);  // the second stdout line: tests read the port from it
        metrics->listen(std::move(http));
      }
      log::info("kv-server ready (maxclients {}, hz {})", options.max_clients, options.hz);
      loop.set_before_sleep([&server, &metrics] {
        server.before_sleep();
        if (metrics) metrics->before_sleep();
      });
      loop.run();
      server.before_sleep();
    }
    if (server.persistence_on()) {
      std::string error;
      if (!server.save_on_exit(error)) throw std::runtime_error("saving at exit: " + error);
      log::info("saved {} keys to {}", server.db().size(), server.dump_path());
    }
    log::info("kv-server stopped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kv-server: %s\n", e.what());
    return 1;
  }
  return 0;
}
