// header_filter.hpp: which header fields a proxy must not pass on, and the
// forwarding fields it adds in their place (RFC 9110 7.6.1, 7.6.3; RFC 7239).
//
// Why: a proxy is two HTTP connections, not one. Fields that describe a single
// connection ("hop-by-hop": Connection and every field it names, Keep-Alive, TE,
// Trailer, Upgrade, Proxy-*) belong to the hop they arrived on; passing them on
// lets a client steer the proxy's connection to the backend (keep it open, close
// it, upgrade it). Framing fields (Content-Length, Transfer-Encoding) are not
// passed on either: the proxy re-frames every message it forwards itself, so no
// two parties can read one message's length differently (request smuggling).
//
//   request fields --> forward_field()? --yes--> copied as they are
//                                       --no---> dropped
//   then: X-Forwarded-For (appended to), X-Forwarded-Proto, Forwarded, Via
//
// Pure functions over string_views; no I/O, no state. Thread-safe.
// Who may call: anyone (the proxy for every request and response; the lab checks).
#pragma once

#include <string>
#include <string_view>

#include "serverlab/http/request.hpp"

namespace serverlab::proxy {

// True when `name` is hop-by-hop: Connection, Keep-Alive, TE, Trailer, Upgrade,
// Proxy-* (any field starting "Proxy-"), or a name listed in `connection`, the
// value of the message's Connection field ("close, X-Secret": comma-separated
// tokens, case-insensitive, whitespace around them ignored). `connection` may be
// empty. Names compare case-insensitively.
// Written in the lab: [lab21:hop-by-hop].
bool is_hop_by_hop(std::string_view name, std::string_view connection);

// True when the proxy copies the field to the next hop: not hop-by-hop, not a
// framing field (Content-Length, Transfer-Encoding), and not one the proxy writes
// itself (Forwarded, X-Forwarded-For, X-Forwarded-Proto, Via are re-written by
// append_forwarding; Host is written by the caller).
bool forward_field(std::string_view name, std::string_view connection);

// What append_forwarding needs to know about the hop the request came on.
struct ForwardInfo {
  std::string_view client_ip;      // "127.0.0.1" (IPv6 without brackets)
  std::string_view proto = "http";
  std::string_view host;           // the request's Host ("" when it had none)
  std::string_view prior_xff;      // the request's X-Forwarded-For ("" when none)
  std::string_view prior_via;      // the request's Via ("" when none)
  std::string_view prior_forwarded;  // the request's Forwarded ("" when none)
  int version_minor = 1;           // the client's HTTP/1.<minor>, for Via
};

// Appends, each ending in CRLF:
//   X-Forwarded-For: <prior>, <client_ip>      (just <client_ip> with no prior)
//   X-Forwarded-Proto: <proto>
//   Forwarded: <prior>, for=<client_ip>;proto=<proto>[;host="<host>"]
//   Via: <prior>, 1.<minor> serverlab-proxy
// An IPv6 client appears in Forwarded quoted and bracketed ("[::1]"), as RFC 7239
// requires.
void append_forwarding(std::string& out, const ForwardInfo& info);

}  // namespace serverlab::proxy
