// tls/metrics.hpp: a server's TLS counters in its /-/metrics page.
//
//   serverlab_tls_handshakes_total                      completed handshakes
//   serverlab_tls_resumptions_total                     of which resumed a session (ticket)
//   serverlab_tls_handshake_failures_<reason>_total     one per tls::Failure (plain_http,
//                                                       not_tls, protocol, peer_certificate,
//                                                       peer_closed, timeout, other)
//
// They are exported as gauges read from the context's atomics at scrape time
// (Metrics::add_gauge), so the hot path adds nothing to the registry. In a
// forked server (stage 5) each worker has its own copy of the counters: a
// scrape shows the worker that answered it.
//
// Who may call: main() (or a worker's start-up), once per Metrics, before
// serving. The context must outlive the Metrics.
#pragma once

#include "serverlab/metrics.hpp"
#include "serverlab/tls/context.hpp"

namespace serverlab::tls {

void add_metrics(Metrics& metrics, const TlsContext& context);

}  // namespace serverlab::tls
