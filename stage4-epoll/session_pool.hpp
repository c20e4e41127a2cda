// session_pool.hpp: SessionPool, a bounded free list that lets idle connections
// give their memory back.
//
// A connection of http-epoll holds an http::HttpSession (parser state, Request,
// Response, input and output Buffers: a few KiB) only while it has bytes to read
// or write; an idle keep-alive connection, or one that has not spoken yet, holds
// only its small Connection record and the session's Carry.
//
// Why: with ten thousand keep-alive connections, most are idle at any moment. If
// each kept its session and buffers, idle memory would be 10k x (a few KiB).
// Instead a connection borrows a session when bytes arrive and gives it back when
// it has no unread input and nothing to send, and the next busy connection reuses
// that memory without malloc.
//
// PooledSession is a unique_ptr whose deleter returns the session to its pool, so
// "give it back" is just letting the handle go.
//
// Who may call: the EpollHttpServer that owns the pool and its Connections
// (acquire; letting a PooledSession go), on the loop thread. Not thread-safe: one
// pool per event loop (per thread or per worker process).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "serverlab/http/service.hpp"
#include "serverlab/http/session.hpp"

namespace serverlab {

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
