#include "dispatcher.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "serverlab/log.hpp"
#include "serverlab/socket.hpp"

namespace serverlab {

Dispatcher::Dispatcher(EventLoop& loop, const Scoreboard& board, int worker_connections)
    : loop_(loop),
      board_(board),
      limit_(static_cast<std::uint64_t>(worker_connections)),
      sent_(board.size(), 0),
      skip_(board.size(), 1) {
  routes_.reserve(board.size());
  for (std::size_t i = 0; i < board.size(); ++i) routes_.emplace_back(*this, i);
  dirty_.reserve(board.size());
}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::start(Fd listener) {
  listener_ = std::move(listener);
  loop_.add(listener_.get(), kReadable, *this);
  accepting_ = true;
}

void Dispatcher::stop() noexcept {
  if (stopped_) return;
  stopped_ = true;
  if (listener_ && loop_.watching(listener_.get())) loop_.remove(listener_.get());
  accepting_ = false;
  listener_.reset();
  held_.reset();
  for (std::size_t slot = 0; slot < routes_.size(); ++slot) {
    unwatch(slot);
    if (routes_[slot].channel >= 0) flush(slot);  // a graceful stop still serves these
    drop_outbox(slot, "the server is stopping");
  }
}

// ------------------------------------------------------------------ workers

void Dispatcher::add_worker(std::size_t slot, int channel) {
  Route& r = routes_.at(slot);
  r.channel = channel;
  r.blocked = false;
  sent_[slot] = 0;  // begin_spawn zeroed the slot's `received`
  update_skip(slot);
}

void Dispatcher::retire_worker(std::size_t slot) {
  Route& r = routes_.at(slot);
  if (r.channel < 0) return;
  flush(slot);
  unwatch(slot);
  drop_outbox(slot, "its worker is draining and its channel is full");
  r.channel = -1;
  update_skip(slot);
}

void Dispatcher::forget_worker(std::size_t slot) {
  Route& r = routes_.at(slot);
  unwatch(slot);  // before the master closes the channel
  drop_outbox(slot, "its worker is gone");
  r.channel = -1;
  r.blocked = false;
  update_skip(slot);
}

void Dispatcher::update_skip(std::size_t slot) {
  const Route& r = routes_[slot];
  skip_[slot] = (r.channel < 0 || r.blocked) ? 1 : 0;
}

// ------------------------------------------------------------------ accepting

void Dispatcher::on_event(std::uint32_t /*events*/) { accept_burst(); }

void Dispatcher::accept_burst() {
  for (int n = 0; n < kAcceptBurst && accepting_ && !held_; ++n) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd =
        ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC);
    if (fd < 0) {
      const AcceptFailure failure = classify_accept_error(errno);
      if (failure == AcceptFailure::Retry) continue;
      if (failure != AcceptFailure::Drained) {
        // Out of descriptors or memory: stop accepting; the tick tries again soon.
        log::warn("accept4: {}", std::strerror(errno));
        pause_accepting();
      }
      break;
    }
    Fd connection(fd);
    std::string peer = SocketAddress{address, length}.host();
    if (!route(connection, peer)) {
      held_ = std::move(connection);  // nobody has room: hold it, stop accepting
      held_peer_ = std::move(peer);
      pause_accepting();
    }
  }
  flush_all();
}

int Dispatcher::pick() {
  const std::optional<std::size_t> slot = board_.least_loaded(PickRequest{
      .generation = std::nullopt,  // the master's own bookkeeping (skip_) says who is active
      .start = next_pick_,
      .sent = sent_,
      .skip = skip_,
      .limit = limit_,
  });
  if (!slot) return -1;
  next_pick_ = *slot + 1;
  return static_cast<int>(*slot);
}

bool Dispatcher::route(Fd& connection, const std::string& peer) {
  const int picked = pick();
  if (picked < 0) return false;
  const auto slot = static_cast<std::size_t>(picked);
  Route& r = routes_[slot];
  Outbox& out = r.outbox;
  if (!r.dirty) {
    r.dirty = true;
    dirty_.push_back(slot);  // at most one entry per slot, capacity reserved: no allocation
  }
  if (out.count > 0) out.peers += '\n';
  out.peers += peer;
  out.fds[out.count++] = std::move(connection);
  ++sent_[slot];  // in flight from now on, so the next pick already counts it
  if (out.count == out.fds.size()) flush(slot);
  return true;
}

// ------------------------------------------------------------------ sending

void Dispatcher::flush_all() {
  // A blocked slot keeps its outbox until its channel turns writable (on_channel_room);
  // flush() may also leave a slot blocked. Keep those for a later round.
  std::size_t kept = 0;
  for (std::size_t k = 0; k < dirty_.size(); ++k) {
    const std::size_t slot = dirty_[k];
    if (!routes_[slot].blocked) flush(slot);
    if (routes_[slot].outbox.count > 0) {
      dirty_[kept++] = slot;
    } else {
      routes_[slot].dirty = false;
    }
  }
  dirty_.resize(kept);
}

void Dispatcher::flush(std::size_t slot) {
  Route& r = routes_[slot];
  Outbox& out = r.outbox;
  if (out.count == 0 || r.channel < 0) return;
  std::array<int, kMaxFdsPerMessage> fds{};
  for (std::size_t i = 0; i < out.count; ++i) fds[i] = out.fds[i].get();
  const IoResult sent = send_fds(r.channel, std::span<const int>(fds.data(), out.count), out.peers);
  if (sent.is_ok()) {
    for (std::size_t i = 0; i < out.count; ++i) out.fds[i].reset();  // the worker has its copy
    out.count = 0;
    out.peers.clear();
    if (r.blocked) {
      r.blocked = false;
      update_skip(slot);
    }
    return;
  }
  if (sent.status == IoResult::Status::WouldBlock) {
    block(slot);
    return;
  }
  // EPIPE: the worker just died (the master reaps it on SIGCHLD); anything else is logged.
  if (sent.error != EPIPE) log::warn("send_fds to slot {}: {}", slot, std::strerror(sent.error));
  drop_outbox(slot, "its channel is broken");
  unwatch(slot);   // while r.channel still names the descriptor the loop watches
  r.channel = -1;  // until the master reaps it and forgets the slot
  update_skip(slot);
}

void Dispatcher::drop_outbox(std::size_t slot, const char* why) {
  Outbox& out = routes_[slot].outbox;
  if (out.count == 0) return;
  log::warn("closing {} connection(s) picked for slot {}: {}", out.count, slot, why);
  for (std::size_t i = 0; i < out.count; ++i) out.fds[i].reset();
  sent_[slot] -= static_cast<std::uint32_t>(out.count);
  out.count = 0;
  out.peers.clear();
}

// A channel holds what fits in its send buffer (about 280 single-descriptor messages with
// Debian's default net.core.wmem_default), so a burst can fill it while the worker is busy.
// Waiting for the 10 ms tick would cap the accept rate and let the listen queue overflow
// (clients wait for a SYN retransmit), so the full channel is watched instead: it turns
// writable as soon as the worker has taken from it.
void Dispatcher::block(std::size_t slot) {
  routes_[slot].blocked = true;
  update_skip(slot);
  if (!stopped_) watch(slot);
}

void Dispatcher::watch(std::size_t slot) {
  Route& r = routes_[slot];
  if (r.watched || r.channel < 0) return;
  try {
    loop_.add(r.channel, kWritable, r.room);
    r.watched = true;
  } catch (const std::exception& e) {
    log::warn("cannot watch the channel of slot {}: {}; retrying on the tick", slot, e.what());
  }
}

void Dispatcher::unwatch(std::size_t slot) noexcept {
  Route& r = routes_[slot];
  if (!r.watched) return;
  loop_.remove(r.channel);
  r.watched = false;
}

void Dispatcher::on_channel_room(std::size_t slot) {
  unwatch(slot);
  flush(slot);  // may block again, and watch again
  if (routes_[slot].outbox.count > 0) return;
  if (retry_held()) resume_accepting();
}

// ------------------------------------------------------------------ waiting for room

// Passes the held connection on if someone has room now; true when nothing is held after.
bool Dispatcher::retry_held() {
  if (!held_) return true;
  Fd connection = std::move(held_);
  std::string peer = std::move(held_peer_);
  if (!route(connection, peer)) {
    held_ = std::move(connection);
    held_peer_ = std::move(peer);
    return false;
  }
  flush_all();
  return true;
}

void Dispatcher::tick() {
  if (stopped_) return;
  for (std::size_t slot = 0; slot < routes_.size(); ++slot) {
    if (routes_[slot].blocked && !routes_[slot].watched) flush(slot);  // watch() had failed
  }
  if (!retry_held()) return;
  if (!accepting_ && pick() >= 0) resume_accepting();
}

bool Dispatcher::waiting() const {
  if (stopped_) return false;
  if (held_ || !accepting_) return true;
  for (const Route& r : routes_) {
    if (r.blocked) return true;
  }
  return false;
}

void Dispatcher::pause_accepting() {
  if (!accepting_) return;
  try {
    loop_.modify(listener_.get(), 0);  // the kernel's backlog holds new clients meanwhile
  } catch (const std::exception& e) {
    // Cannot stop the wake-ups: take the listener out altogether; resume adds it back.
    log::warn("cannot pause the listener: {}", e.what());
    loop_.remove(listener_.get());
  }
  accepting_ = false;
}

void Dispatcher::resume_accepting() {
  if (accepting_ || !listener_ || stopped_) return;
  try {
    if (loop_.watching(listener_.get())) {
      loop_.modify(listener_.get(), kReadable);
    } else {
      loop_.add(listener_.get(), kReadable, *this);
    }
    accepting_ = true;
  } catch (const std::exception& e) {
    log::warn("cannot resume accepting: {}; retrying on the tick", e.what());
  }
}

}  // namespace serverlab
