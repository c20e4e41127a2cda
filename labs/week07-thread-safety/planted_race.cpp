// planted_race.cpp: a request counter with a data race planted in it (week 7).
//
// Four "worker" threads each record 200,000 requests in one shared RequestStats.
// record() updates two plain fields with no synchronization, so increments are lost
// and ThreadSanitizer reports a data race:
//
//   cmake --preset tsan && cmake --build --preset tsan --target lab_planted_race
//   build/tsan/labs/lab_planted_race
//
// Read the report (the two stacks: this write, and the previous access by another
// thread), then fix RequestStats twice: with a std::mutex, then with std::atomic and
// relaxed fetch_add. The program prints the expected and the counted totals and exits
// 1 while they differ. It is a teaching program, not a test: nothing runs it in CI.
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

constexpr int kThreads = 4;
constexpr std::uint64_t kRequestsPerThread = 200'000;

struct RequestStats {
  std::uint64_t requests = 0;
  std::uint64_t bytes = 0;

  // The planted bug: a read-modify-write of shared memory from several threads.
  void record(std::uint64_t response_bytes) {
    requests = requests + 1;
    bytes = bytes + response_bytes;
  }
};

}  // namespace

int main() {
  RequestStats stats;
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&stats] {
      for (std::uint64_t i = 0; i < kRequestsPerThread; ++i) stats.record(100);
    });
  }
  for (auto& w : workers) w.join();

  const std::uint64_t expected = kThreads * kRequestsPerThread;
  std::printf("requests: expected %llu, counted %llu\n",
              static_cast<unsigned long long>(expected),
              static_cast<unsigned long long>(stats.requests));
  std::printf("bytes:    expected %llu, counted %llu\n",
              static_cast<unsigned long long>(expected * 100),
              static_cast<unsigned long long>(stats.bytes));
  return stats.requests == expected && stats.bytes == expected * 100 ? 0 : 1;
}
