#include "session_pool.hpp"

#include <cassert>
#include <new>

namespace serverlab {

void SessionReturn::operator()(http::HttpSession* session) const noexcept {
  if (pool != nullptr) {
    pool->give_back(session);
  } else {
    delete session;
  }
}

SessionPool::~SessionPool() {
  assert(outstanding_ == 0 && "SessionPool destroyed while sessions are still out");
}

PooledSession SessionPool::acquire(std::string_view peer, const http::HttpSession::Carry& carry) {
  std::unique_ptr<http::HttpSession> session;
  if (!free_.empty()) {
    session = std::move(free_.back());
    free_.pop_back();
    ++reused_;
  } else {
    session = std::make_unique<http::HttpSession>(service_, http::HttpSession::Pooled{});
    ++created_;
  }
  session->start(peer, carry);  // may allocate only for a peer longer than any before
  ++outstanding_;
  return PooledSession(session.release(), SessionReturn{this});
}

void SessionPool::give_back(http::HttpSession* raw) noexcept {
  std::unique_ptr<http::HttpSession> session(raw);
  assert(outstanding_ > 0);
  --outstanding_;
  if (free_.size() >= options_.max_free) return;  // the unique_ptr deletes it
  try {
    session->release(options_.shrink_above);  // shrinking allocates the smaller buffer
    free_.push_back(std::move(session));
  } catch (const std::bad_alloc&) {
    // Out of memory while shrinking or growing the free list: just delete it.
  }
}

}  // namespace serverlab
