// http-threadpool: the stage 3 server. The main thread accepts; --threads workers
// pop connections from a bounded queue and serve each with blocking I/O
// (serve_connection, the same driver as stage 2).
//
//   main:    wait(listener | signalfd, tick) -> accept4 -> pool.submit(fd)   (--overload block)
//                                                       or 503 + close       (--overload reject)
//                                           -> rebalance(): fairness, below
//   worker:  pop fd -> serve_connection(fd) -> pop ...
//
// Fairness. A keep-alive connection holds its worker while it idles, so with more
// keep-alive clients than threads the ones in the queue would wait for someone's
// keep-alive timeout. While connections wait in the queue, the main thread asks
// the workers that have held their connection longest to yield it: the worker's
// `yield` flag makes serve_connection end the connection after one more response,
// sent with Connection: close (an idle connection waits kYieldIdle for that request,
// then closes quietly). Never a close where a busy client expects a response: wrk
// would count each one as a read error. A connection is asked only after kMinHold,
// so a new client always gets its first request answered.
//
// Shutdown (SIGINT/SIGTERM, read from a signalfd that every worker also polls):
// stop accepting, let each worker finish its response in flight, close queued
// connections without serving them (lingering close, no RST), join the workers.
// If they have not all finished within --shutdown-timeout (plus the lingering
// close's bound), the process exits anyway.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>

#include "serverlab/flags.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/date.hpp"
#include "serverlab/http/response.hpp"
#include "serverlab/http/serve.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/log.hpp"
#include "serverlab/metrics.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "thread_pool.hpp"

using namespace serverlab;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kMinHold = std::chrono::milliseconds(200);  // before a connection may be asked
constexpr int kTickMs = 50;               // re-check fairness while connections wait
constexpr double kYieldIdle = 0.1;        // a yielding idle connection waits this for a request
constexpr double kLingerAllowance = 3.0;  // serve_connection's lingering close bound, plus slack

// What the main thread knows about each worker (written by that worker only).
struct WorkerSlot {
  std::atomic<bool> yield{false};
  std::atomic<Clock::rep> since{0};  // when its connection started; 0: no connection
};

// Asks as many long-held connections to end as there are connections waiting for
// a worker (minus those already asked). Main thread only.
void rebalance(const WorkerPool<Fd>& pool, WorkerSlot* slots) {
  std::size_t asked = 0;
  for (std::size_t i = 0; i < pool.threads(); ++i) asked += slots[i].yield.load() ? 1 : 0;
  auto latest = (Clock::now() - kMinHold).time_since_epoch().count();
  for (std::size_t want = pool.queued(); want > asked; ++asked) {
    WorkerSlot* oldest = nullptr;
    for (std::size_t i = 0; i < pool.threads(); ++i) {
      auto since = slots[i].since.load();
      if (since != 0 && since <= latest && !slots[i].yield.load() &&
          (oldest == nullptr || since < oldest->since.load())) {
        oldest = &slots[i];
      }
    }
    if (oldest == nullptr) return;  // nobody has had a fair turn yet
    oldest->yield = true;
  }
}

// --overload reject: answer 503 + Retry-After on the main thread, never blocking.
void reject(Fd client, const http::HttpService& service) {
  http::Response r;
  service.error(503, r);
  r.close = true;
  r.add_header("Retry-After", "1");
  Buffer out;
  http::append_response_head(out, r, false, http::current_http_date());
  out.append(r.text);
  (void)::send(client.get(), out.peek(), out.readable_bytes(), MSG_DONTWAIT | MSG_NOSIGNAL);
  // Read what the request already delivered, so close() sends FIN rather than RST.
  ::shutdown(client.get(), SHUT_WR);
  char sink[4096];
  while (::recv(client.get(), sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
  if (Metrics* m = service.metrics()) m->error("overload");
}

}  // namespace

int main(int argc, char** argv) {
  http::HttpConfig config;
  int threads = 64;
  int queue = 256;
  std::string overload = "block";
  Flags flags("http-threadpool",
              "Stage 3: HTTP/1.1 static-file server, acceptor + bounded queue + worker threads");
  http::add_http_flags(flags, config, 8080);
  flags.add("threads", threads, "worker threads (each serves one connection at a time)", 1, 4096);
  flags.add("queue", queue, "accepted connections that may wait for a worker", 1, 1 << 20);
  flags.add_choice("overload", overload, {"block", "reject"},
                   "queue full: block (stop accepting) or reject (503 + Retry-After)");
  flags.parse_or_exit(argc, argv);
  configure_logging(config.server);

  try {
    ignore_sigpipe();
    Fd signals = block_signals({SIGINT, SIGTERM});  // before any thread: workers inherit it
    Metrics metrics;
    http::HttpService service(config, &metrics);
    Fd listener = listen_tcp(config.server.bind, config.server.port);

    auto slots = std::make_unique<WorkerSlot[]>(static_cast<std::size_t>(threads));
    WorkerPool<Fd> pool(static_cast<std::size_t>(threads), static_cast<std::size_t>(queue),
                        [&](Fd client, std::size_t id) {
                          WorkerSlot& slot = slots[id];
                          slot.yield = false;
                          slot.since = Clock::now().time_since_epoch().count();
                          http::ConnectionOptions options;
                          options.yield = &slot.yield;
                          options.yield_idle = kYieldIdle;
                          options.stop_fd = signals.get();
                          options.shutdown_grace = config.server.shutdown_timeout;
                          http::serve_connection(std::move(client), service, options);
                          slot.since = 0;
                        });
    metrics.add_gauge("serverlab_queue_depth", "Accepted connections waiting for a worker.",
                      [&] { return static_cast<double>(pool.queued()); });
    metrics.add_gauge("serverlab_workers_busy", "Worker threads serving a connection.",
                      [&] { return static_cast<double>(pool.busy()); });
    metrics.add_gauge("serverlab_workers", "Worker threads started (--threads).",
                      [&] { return static_cast<double>(pool.threads()); });
    announce_listening(listener.get());

    for (;;) {
      int timeout = pool.queued() > 0 ? kTickMs : -1;
      int ready = wait_readable(signals.get(), listener.get(), timeout);
      if (ready == signals.get()) break;  // a stop request wins over a waiting client
      if (ready == listener.get()) {
        Fd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!client) {
          log::warn("accept4: {}", std::strerror(errno));  // ECONNABORTED, EMFILE, ...
          if (Metrics* m = service.metrics()) m->error("accept");
          continue;
        }
        if (overload == "reject") {
          if (!pool.try_submit(client)) reject(std::move(client), service);
        } else {
          pool.submit(std::move(client));  // blocks while the queue is full
        }
      }
      rebalance(pool, slots.get());
    }

    // The signal stays unread until the workers are done: a pending signal keeps
    // the signalfd readable, and that is what tells every serve_connection to stop.
    listener.reset();  // new clients are refused now, not left in the backlog
    auto limit = std::chrono::duration<double>(config.server.shutdown_timeout + kLingerAllowance);
    if (!pool.stop(limit)) {
      log::warn("{} workers still busy after --shutdown-timeout; exiting anyway", pool.busy());
      std::fflush(nullptr);
      std::_Exit(0);
    }
    log::info("signal {} received, all workers stopped", read_signal(signals.get()));
  } catch (const std::exception& e) {
    log::error("http-threadpool: {}", e.what());
    return 1;
  }
  return 0;
}
