// health_probe.cpp: see health_probe.hpp.
#include "health_probe.hpp"

#include <sys/socket.h>

#include "serverlab/log.hpp"

namespace serverlab::proxy {

HealthProbe::HealthProbe(EventLoop& loop, Backend& backend, const std::string& path,
                         double timeout)
    : loop_(loop), backend_(backend) {
  request_ = "GET " + path + " HTTP/1.1\r\nHost: " + backend.name +
             "\r\nUser-Agent: serverlab-proxy-health\r\nConnection: close\r\n\r\n";
  timer_ = loop_.run_after(static_cast<std::uint64_t>(timeout * 1000), [this] { finish(false); });
  ConnectStart c = start_connect(backend.address);
  if (!c.fd) {
    finish(false);
    return;
  }
  fd_ = std::move(c.fd);
  connecting_ = c.in_progress;
  loop_.add(fd_.get(), kWritable, *this);
}

HealthProbe::~HealthProbe() {
  loop_.cancel(timer_);
  if (fd_) loop_.remove(fd_.get());
}

void HealthProbe::on_event(std::uint32_t) {
  if (done_) return;
  if (connecting_) {
    if (connect_result(fd_.get()) != 0) return finish(false);
    connecting_ = false;
    // One small write: the request fits any socket buffer.
    if (::send(fd_.get(), request_.data(), request_.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request_.size())) {
      return finish(false);
    }
    loop_.modify(fd_.get(), kReadable);
    return;
  }
  IoResult r = in_.read_from(fd_.get());
  if (r.status == IoResult::Status::WouldBlock) return;
  std::string_view bytes = in_.view();
  if (bytes.size() >= 12 && bytes.substr(0, 7) == "HTTP/1.") {
    const char first = bytes[9];
    return finish(first == '2' || first == '3');
  }
  if (r.status != IoResult::Status::Ok || bytes.size() > 4096) finish(false);
}

void HealthProbe::finish(bool passed) {
  if (done_) return;
  done_ = true;
  loop_.cancel(timer_);
  if (fd_) {
    loop_.remove(fd_.get());
    fd_.reset();
  }
  if (passed) {
    // Only an open breaker is closed by a check: while closed, the failure count
    // belongs to real requests.
    if (!backend_.breaker.healthy()) {
      log::info("proxy: {} passed its health check: back in", backend_.name);
      backend_.breaker.success();
    }
  } else {
    ++backend_.stats.health_checks_failed;
    backend_.breaker.failure(loop_.now_ms());
  }
}

}  // namespace serverlab::proxy
