// allocation_counter.hpp: counts every call to the global operator new, for the
// tests that check a warm hot path allocates nothing.
//
//   const long before = test::allocations();
//   ... the code under test ...
//   EXPECT_EQ(test::allocations() - before, 0);
//
// It replaces the program's global operator new and delete, so include it in
// exactly one .cpp file of a test executable (a second one would define them twice).
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace serverlab::http::test {
inline std::atomic<long> g_allocations{0};
inline long allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace serverlab::http::test

// noinline: once inlined, GCC pairs a `new` with the free() inside our delete
// and warns about a mismatch that is not there (both sides are malloc/free).
__attribute__((noinline)) void* operator new(std::size_t n) {
  serverlab::http::test::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
