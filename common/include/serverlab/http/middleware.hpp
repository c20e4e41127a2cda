// http/middleware.hpp: the middleware chain HttpService runs around every
// request it handles, and the per-request Exchange the steps share.
//
//   request --> [1 request ID] --> [2 access log] --> [3 rate limit] --> [4 auth]
//           --> [5 metrics] --> router / static files
//   response <-- after() hooks, in the reverse order <-----------------------+
//
// Each step is a Middleware: before() runs on the way in and may answer the
// request itself (a 429, a 401) by filling the Response and returning false;
// the steps after it and the handler are then skipped. after() runs on the way
// out for every step whose before() ran, innermost first, and may add headers.
//
// Two steps do their work in the session, not here, because they need what only
// the session knows once the response is queued (the bytes sent, the time taken)
// and because they must also see protocol errors that never reach a handler:
// the access log (one line per response, session.cpp queue_response) and the
// metrics (Metrics::request_done, same place). Their places in the chain say
// what they see: the access log sees every response, including a 429 or 401;
// metrics count every response too. docs/MIDDLEWARE.md has the whole picture.
//
// Cost: a chain is a short vector of pointers built once at start-up; a request
// pays one virtual call per step that is on, and no allocation.
//
// Who may call: HttpService builds and runs the chain. A Middleware's before()
// and after() are called from any number of threads at once (stage 3): they
// must be thread-safe and must not block on I/O.
#pragma once

#include <string>
#include <string_view>

#include "serverlab/http/request.hpp"
#include "serverlab/http/response.hpp"

namespace serverlab::http {

// What the steps of one request share. Made by the session for each request;
// lives until the response is queued.
struct Exchange {
  std::string_view peer;            // the client's address, "127.0.0.1" (may be empty)
  std::string_view path;            // the normalized path (set by HttpService before the chain)
  std::string_view body;            // the request body, for routes that read one (else empty)
  std::string* request_id = nullptr;  // the session's storage for X-Request-Id; null: no IDs
};

class Middleware {
 public:
  virtual ~Middleware() = default;
  // Name for docs, logs and tests ("request-id", "rate-limit").
  virtual std::string_view name() const = 0;
  // True: go on. False: `response` holds the answer; later steps are skipped.
  virtual bool before(Exchange& exchange, const Request& request, Response& response) const = 0;
  // Called on the way out, whatever answered. Default: nothing.
  virtual void after(Exchange& exchange, const Request& request, Response& response) const {
    (void)exchange;
    (void)request;
    (void)response;
  }
};

}  // namespace serverlab::http
