// http/request_id.hpp: X-Request-Id, a name for one request that the client,
// the server's logs and the response all share.
//
//   client sends "X-Request-Id: abc-123" (valid) --> that ID
//   client sends none, or an invalid one         --> a new ID, e.g. "5f0c3a9e1b27d4c6-0000002a"
//   the response carries "X-Request-Id: <id>"; the access log and the error log
//   records of that request carry it too.
//
// Valid: 1 to kMaxRequestIdLength bytes of [A-Za-z0-9] and - _ . : + / = @, so
// an ID can never break a log line, a header or a JSON string, and a client
// cannot make the server store a long one. An invalid ID is replaced, not
// refused (the request is still served).
//
// A new ID is a 64-bit random prefix per thread (from getrandom(2), drawn on the
// thread's first ID) and a per-thread counter: unique across threads, stage 5's
// worker processes and restarts without any shared state or lock.
//
// Who may call: any thread. No allocation when `out` has the capacity (the
// session reuses one string per connection).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "serverlab/http/middleware.hpp"

namespace serverlab::http {

inline constexpr std::size_t kMaxRequestIdLength = 128;

// True when `id` may be used as sent (see the rules above).
bool valid_request_id(std::string_view id);
// Replaces `out` with a new ID (25 bytes: 16 hex digits, '-', 8 hex digits).
void make_request_id(std::string& out);

// The chain's first step (--request-id on): takes or makes the ID before the
// request is handled, and adds it to the response after.
class RequestIdMiddleware final : public Middleware {
 public:
  std::string_view name() const override { return "request-id"; }
  bool before(Exchange& exchange, const Request& request, Response& response) const override;
  void after(Exchange& exchange, const Request& request, Response& response) const override;
};

}  // namespace serverlab::http
