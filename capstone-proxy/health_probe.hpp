// health_probe.hpp: HealthProbe, one active health check of one backend.
//
//   connect (non-blocking) --> "GET <path> HTTP/1.1" --> status line --> 2xx/3xx: pass
//        any error, or no status line within the timeout -----------------> fail
//
// A pass closes the backend's breaker (it is probed back in); a failure counts
// like a failed request. The probe uses its own connection (Connection: close),
// never one from the pool, and never a client's request.
//
// Who may call: ProxyServer's sweep timer, on the loop thread. The server deletes a
// probe once done() (never from inside its own handler).
#pragma once

#include <cstdint>
#include <string>

#include "backend.hpp"
#include "event_loop.hpp"
#include "serverlab/buffer.hpp"
#include "serverlab/fd.hpp"

namespace serverlab::proxy {

class HealthProbe final : public EventHandler {
 public:
  HealthProbe(EventLoop& loop, Backend& backend, const std::string& path, double timeout);
  ~HealthProbe();
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;

  void on_event(std::uint32_t events) override;
  bool done() const { return done_; }
  Backend& backend() { return backend_; }

 private:
  void finish(bool passed);

  EventLoop& loop_;
  Backend& backend_;
  Fd fd_;
  bool connecting_ = true;
  std::string request_;
  Buffer in_;
  TimerId timer_;
  bool done_ = false;
};

}  // namespace serverlab::proxy
