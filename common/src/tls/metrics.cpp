#include "serverlab/tls/metrics.hpp"

#include <string>

namespace serverlab::tls {

void add_metrics(Metrics& metrics, const TlsContext& context) {
  TlsCounters* c = &context.counters();
  metrics.add_gauge("serverlab_tls_handshakes_total", "TLS handshakes completed", [c] {
    return static_cast<double>(c->handshakes.load(std::memory_order_relaxed));
  });
  metrics.add_gauge(
      "serverlab_tls_resumptions_total", "TLS handshakes that resumed an earlier session (ticket)",
      [c] { return static_cast<double>(c->resumptions.load(std::memory_order_relaxed)); });
  for (std::size_t i = 1; i < kFailureKinds; ++i) {  // 0 is Failure::None
    const auto why = static_cast<Failure>(i);
    metrics.add_gauge(
        "serverlab_tls_handshake_failures_" + std::string(failure_name(why)) + "_total",
        "TLS handshakes that failed: " + std::string(failure_name(why)),
        [c, why] { return static_cast<double>(c->failed(why)); });
  }
}

}  // namespace serverlab::tls
