#include "buffer_pool.hpp"

#include <cassert>
#include <new>

namespace serverlab {

void BufferReturn::operator()(Buffer* buffer) const noexcept {
  if (pool != nullptr) {
    pool->give_back(buffer);
  } else {
    delete buffer;
  }
}

BufferPool::~BufferPool() {
  // A PooledBuffer that outlives its pool would return into freed memory.
  assert(outstanding_ == 0 && "BufferPool destroyed while Buffers are still out");
}

PooledBuffer BufferPool::acquire() {
  std::unique_ptr<Buffer> buffer;
  if (!free_.empty()) {
    buffer = std::move(free_.back());
    free_.pop_back();
    ++reused_;
  } else {
    buffer = std::make_unique<Buffer>();
    ++created_;
  }
  ++outstanding_;
  return PooledBuffer(buffer.release(), BufferReturn{this});
}

void BufferPool::give_back(Buffer* raw) noexcept {
  std::unique_ptr<Buffer> buffer(raw);
  assert(outstanding_ > 0);
  --outstanding_;
  if (free_.size() >= options_.max_free) return;  // the unique_ptr deletes it
  buffer->retrieve_all();
  try {
    if (buffer->capacity() > options_.shrink_above) {
      buffer->shrink_to_fit();  // back to Buffer::kInitialSize
      ++shrunk_;
    }
    free_.push_back(std::move(buffer));
  } catch (const std::bad_alloc&) {
    // Out of memory while shrinking or growing the free list: just delete it.
  }
}

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
