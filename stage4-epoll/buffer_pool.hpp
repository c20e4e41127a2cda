// buffer_pool.hpp: BufferPool and SessionPool, bounded free lists that let idle
// connections give their memory back.
//
// SessionPool is what http-epoll uses: a connection holds an http::HttpSession
// (parser state, Request, Response, input and output Buffers: a few KiB) only
// while it has bytes to read or write; an idle keep-alive connection, or one that
// has not spoken yet, holds only its small Connection record. BufferPool is the
// same idea for a single Buffer (a driver that keeps its own session but wants
// its read buffer back when idle).
//
// Why: with ten thousand keep-alive connections, most are idle at any moment. If
// each kept its read buffer, idle memory would be 10k x (buffer size). Instead a
// connection takes a Buffer when bytes arrive and gives it back when it has no
// unread input and nothing to send, so an idle connection holds no buffer at all,
// and the next busy connection reuses the memory without malloc.
//
//   acquire() --> [ pooled Buffer ] --(reset / destructor)--> back to the free list
//                                                    | grew past shrink_above?
//                                                    |   shrink to initial size
//                                                    | free list full? delete it
//
// PooledBuffer is a unique_ptr whose deleter returns the Buffer to its pool, so
// "give it back" is just letting the handle go. The pool must outlive every
// PooledBuffer it handed out.
//
// Not thread-safe: one pool per event loop (per thread or per worker process).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "serverlab/buffer.hpp"
#include "serverlab/http/service.hpp"
#include "serverlab/http/session.hpp"

namespace serverlab {

class BufferPool;

// Deleter of a PooledBuffer: returns the Buffer to the pool it came from.
struct BufferReturn {
  BufferPool* pool = nullptr;
  void operator()(Buffer* buffer) const noexcept;
};
using PooledBuffer = std::unique_ptr<Buffer, BufferReturn>;

struct BufferPoolOptions {
  std::size_t max_free = 1024;             // free Buffers kept; the rest are deleted
  std::size_t shrink_above = 64 * 1024;    // capacity above this is given back on return
};

class BufferPool {
 public:
  explicit BufferPool(BufferPoolOptions options = {}) : options_(options) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // An empty Buffer, reused from the free list when there is one.
  PooledBuffer acquire();

  // Buffers handed out and not yet returned.
  std::size_t outstanding() const { return outstanding_; }
  // Buffers waiting on the free list.
  std::size_t free_count() const { return free_.size(); }
  // Lifetime totals (for metrics): fresh allocations, reuses, shrinks on return.
  std::uint64_t created() const { return created_; }
  std::uint64_t reused() const { return reused_; }
  std::uint64_t shrunk() const { return shrunk_; }

 private:
  friend struct BufferReturn;
  void give_back(Buffer* buffer) noexcept;

  BufferPoolOptions options_;
  std::vector<std::unique_ptr<Buffer>> free_;
  std::size_t outstanding_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t reused_ = 0;
  std::uint64_t shrunk_ = 0;
};

// ---------------------------------------------------------------- SessionPool
//
//   acquire(peer, carry) --> [ pooled HttpSession, start(peer, carry) ]
//        (fresh: new HttpSession(Pooled))        |
//                                                | handle released: session.release(keep)
//                                                v   (queued output and file references
//                                       free list     dropped; buffers past shrink_above
//                                       (full? delete)  shrunk)
//
// The sessions count no connections in the metrics (the driver does, once per
// connection). Not thread-safe: one pool per event loop. The pool must outlive
// every PooledSession it handed out.

class SessionPool;

struct SessionReturn {
  SessionPool* pool = nullptr;
  void operator()(http::HttpSession* session) const noexcept;
};
using PooledSession = std::unique_ptr<http::HttpSession, SessionReturn>;

struct SessionPoolOptions {
  std::size_t max_free = 1024;           // free sessions kept; the rest are deleted
  std::size_t shrink_above = 64 * 1024;  // a buffer larger than this is shrunk on return
};

class SessionPool {
 public:
  SessionPool(const http::HttpService& service, SessionPoolOptions options = {})
      : service_(service), options_(options) {}
  ~SessionPool();
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // A session continuing `peer`'s connection from `carry`, reused from the free
  // list when there is one. Throws std::bad_alloc only when a fresh one is needed.
  PooledSession acquire(std::string_view peer, const http::HttpSession::Carry& carry);

  std::size_t outstanding() const { return outstanding_; }
  std::size_t free_count() const { return free_.size(); }
  std::uint64_t created() const { return created_; }
  std::uint64_t reused() const { return reused_; }

 private:
  friend struct SessionReturn;
  void give_back(http::HttpSession* session) noexcept;

  const http::HttpService& service_;
  SessionPoolOptions options_;
  std::vector<std::unique_ptr<http::HttpSession>> free_;
  std::size_t outstanding_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t reused_ = 0;
};

}  // namespace serverlab
