// http/middleware_state.hpp: MiddlewareState, what the middleware remembers
// between requests (the rate limiter's buckets, the /api/notes store, the open
// connections per client address), kept OUTSIDE the HttpService so that a
// reload, which builds a new service, does not forget it.
//
//   main():   auto state = std::make_shared<MiddlewareState>(&metrics);
//             HttpService first(config, &metrics, state);
//   SIGHUP:   HttpService next(new_config, &metrics, state);   // same buckets, notes, counts
//
// What carries over a reload:
//   the notes            always (the store does not depend on any setting)
//   the token buckets    when every --rate-limit* setting is unchanged; a changed
//                        one makes a new limiter (fresh, full buckets), since a
//                        bucket's state means nothing under another rate or size
//   connection counts    always; a new --max-conns-per-ip applies to the next accept
// A service made without a state makes its own (one-off servers, tests).
//
// Metrics: the rate-limit and connection-limit gauges are registered here, once,
// the first time each is turned on (a registry refuses a name twice, so a service
// must not register them itself). They read whatever limiter is current.
//
// Who may call: the HttpService constructor (from main or the reloading thread),
// and the gauges from any thread; everything here is thread-safe. The state must
// outlive the services made with it and be destroyed before the Metrics it was
// given (declare it after the Metrics).
#pragma once

#include <memory>
#include <mutex>

#include "serverlab/fd.hpp"
#include "serverlab/http/rate_limit.hpp"
#include "serverlab/metrics.hpp"

namespace serverlab::http {

class NotesApi;

class MiddlewareState {
 public:
  // `metrics` may be null (no gauges).
  explicit MiddlewareState(Metrics* metrics = nullptr);
  ~MiddlewareState();
  MiddlewareState(const MiddlewareState&) = delete;
  MiddlewareState& operator=(const MiddlewareState&) = delete;

  // The limiter for `options`: the last one handed out when its options are the
  // same (its buckets carry on), else a new one that becomes the current one.
  std::shared_ptr<RateLimiter> rate_limiter(const RateLimiter::Options& options);
  // The notes store: made on the first call, the same one afterwards.
  std::shared_ptr<NotesApi> notes();
  // Sets --max-conns-per-ip (0: off) on connections().
  void set_connection_limit(int limit);
  ConnectionLimiter& connections() { return connections_; }

 private:
  void add_limiter_gauges();

  Metrics* metrics_;
  std::mutex mutex_;
  std::shared_ptr<RateLimiter> limiter_;  // guarded by mutex_
  std::shared_ptr<NotesApi> notes_;       // guarded by mutex_
  bool limiter_gauges_ = false;           // guarded by mutex_
  bool connection_gauges_ = false;        // guarded by mutex_
  ConnectionLimiter connections_;
};

class HttpService;

// Refuses a connection that ConnectionLimiter::acquire turned away, without
// blocking: a best-effort 429 Too Many Requests with Retry-After: 1 and
// Connection: close (one non-blocking send, before the request is read), then
// shutdown and a one-pass lingering close. Over HTTPS the connection is closed
// without a word: a 429 would have to wait for a TLS handshake, which is the
// very work the limit is there to refuse. Any thread (an accept path).
void refuse_over_connection_limit(Fd client, const HttpService& service, bool tls);

}  // namespace serverlab::http
