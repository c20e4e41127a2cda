// http/router.hpp: Router, which maps (method, path) to a handler.
//
//   add(Exact,  "/-/health",  {GET},               h1)
//   add(Prefix, "/api/notes", {GET, POST},         h2)   "/api/notes" and "/api/notes/..."
//   add(Prefix, "/api/notes", {PUT, DELETE},       h3)
//
//   find(GET,    "/-/health")      -> h1
//   find(HEAD,   "/-/health")      -> h1 (a route for GET answers HEAD; the body is dropped)
//   find(POST,   "/-/health")      -> MethodNotAllowed, allow = "GET, HEAD"   (405 + Allow)
//   find(DELETE, "/api/notes/7")   -> h3
//   find(GET,    "/other")         -> NotFound (the caller serves static files)
//
// Exact routes win over prefix routes; among prefix routes the longest wins. A
// prefix "/p" matches "/p" and "/p/..." but not "/pq" (segment boundaries).
// Paths are compared as given: the caller passes the normalized path.
//
// Cost: find() walks a short vector (routes are few) and allocates nothing; the
// Allow value of each path is built once, when routes are added.
//
// Who may call: add() from main() before serving starts (not thread-safe);
// find() from any number of threads afterwards (const).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/http/middleware.hpp"
#include "serverlab/http/request.hpp"
#include "serverlab/http/response.hpp"

namespace serverlab::http {

class Router {
 public:
  using Handler = std::function<void(Exchange&, const Request&, Response&)>;
  enum class Match { Exact, Prefix };
  struct Found {
    enum Kind { NotFound, MethodNotAllowed, Handled } kind = NotFound;
    const Handler* handler = nullptr;  // Handled: the handler to call
    bool reads_body = false;           // Handled: the handler wants the request body
    std::string_view allow;            // MethodNotAllowed: the Allow header's value
  };

  // Routes `methods` of `path` to `handler`. A second add() for the same match
  // and path adds methods to it; the last handler given for a method wins.
  // `reads_body`: the session reads the request body (Content-Length, at most
  // --max-body) before calling the handler, and passes it in Exchange::body;
  // otherwise a body is discarded unread, as for static files.
  void add(Match match, std::string path, std::initializer_list<Method> methods, Handler handler,
           bool reads_body = false);
  Found find(Method method, std::string_view path) const;
  bool empty() const { return entries_.empty(); }

 private:
  static constexpr std::size_t kMethods = static_cast<std::size_t>(Method::Unknown) + 1;
  struct Entry {
    Match match;
    std::string path;
    std::array<Handler, kMethods> handlers;  // empty: method not routed
    std::array<bool, kMethods> reads_body{};
    std::string allow;                        // "GET, HEAD, POST"
  };
  const Entry* lookup(std::string_view path) const;
  static void rebuild_allow(Entry& entry);

  std::vector<Entry> entries_;
};

}  // namespace serverlab::http
