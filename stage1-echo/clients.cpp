// clients.cpp: the non-template members of Clients (see clients.hpp).
#include "clients.hpp"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serverlab/sys_error.hpp"

namespace serverlab::echo {

Clients::Clients() : wake_(check_sys(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd")) {}

Clients::~Clients() { join_finished(); }

std::size_t Clients::live() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

void Clients::join_finished() {
  std::uint64_t count = 0;
  (void)!::read(wake_.get(), &count, sizeof count);
  std::vector<std::thread> done;
  {
    std::lock_guard lock(mu_);
    done.swap(done_);
  }
  for (auto& t : done) t.join();
}

bool Clients::wait_all(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [this] { return live_.empty(); });
}

void Clients::shutdown_all() {
  std::lock_guard lock(mu_);
  for (auto& [id, entry] : live_) ::shutdown(entry.fd, SHUT_RDWR);
}

// Closes the connection under the lock, so shutdown_all never touches a
// descriptor number that has been closed and reused.
void Clients::finished(std::uint64_t id, Fd& conn) {
  std::lock_guard lock(mu_);
  conn.reset();
  auto it = live_.find(id);
  done_.push_back(std::move(it->second.thread));
  live_.erase(it);
  cv_.notify_all();
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

}  // namespace serverlab::echo
