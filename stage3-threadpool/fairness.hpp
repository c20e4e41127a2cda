// fairness.hpp: Fairness, who should give up a worker when connections queue.
//
// A busy keep-alive client (one that sends its next request as soon as it has the
// last response) never leaves its worker idle long enough to park by itself (see
// "Parking" in serve.hpp), so with more such clients than threads, the ones in the
// queue would wait until someone stops. While connections wait in the queue, the
// main thread asks the workers that have held their connection longest to park it
// at its next idle moment (between two requests, never mid-response): the
// connection goes back to the acceptor's waiting set and queues again behind the
// others when its next request arrives. Nothing is closed, so a client sees only
// a little latency. A connection is asked only after kMinHold, so every client
// gets some requests answered per turn.
//
// Who may call: begin()/end() worker `id` only; rebalance() by the main
// thread only. They share nothing but atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

namespace serverlab {

class Fairness {
 public:
  static constexpr auto kMinHold = std::chrono::milliseconds(200);

  explicit Fairness(std::size_t threads);
  // Worker `id` starts serving a connection. Returns the flag rebalance() sets to
  // ask it to park (pass it as ConnectionOptions::park_now).
  const std::atomic<bool>* begin(std::size_t id);
  // Worker `id` is done with that connection (closed or parked).
  void end(std::size_t id);
  // Asks as many long-held connections to park as there are connections queued
  // (minus those already asked).
  void rebalance(std::size_t queued);

 private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    std::atomic<bool> park{false};
    std::atomic<Clock::rep> since{0};  // when its connection started; 0: none
  };
  std::size_t threads_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace serverlab
