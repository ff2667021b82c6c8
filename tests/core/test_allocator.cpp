// The CPU caching allocator: reuse of freed blocks, size classes, limits, alignment.
#include <thread>

#include "testing.hpp"

using namespace packd;

TEST_CASE("size classes round up by at most 25%", "[allocator]") {
  CHECK(CpuAllocator::round_size(0) == 64);
  CHECK(CpuAllocator::round_size(1) == 64);
  CHECK(CpuAllocator::round_size(65) == 128);
  CHECK(CpuAllocator::round_size(4096) == 4096);
  for (std::size_t n : {4097ul, 10000ul, 1000000ul, 123456789ul}) {
    const std::size_t r = CpuAllocator::round_size(n);
    CHECK(r >= n);
    CHECK(double(r) <= 1.25 * double(n) + 64);
    CHECK(r % 64 == 0);
  }
}

TEST_CASE("a training-like loop reuses the same blocks", "[allocator]") {
  CpuAllocator alloc;
  void* first = alloc.allocate(1 << 20);
  alloc.deallocate(first, 1 << 20);
  for (int step = 0; step < 10; ++step) {
    void* p = alloc.allocate(1 << 20);
    CHECK(p == first);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    alloc.deallocate(p, 1 << 20);
  }
  AllocatorStats s = alloc.stats();
  CHECK(s.allocations == 11);
  CHECK(s.cache_hits == 10);
  CHECK(s.system_allocations == 1);
  CHECK(s.bytes_in_use == 0);
  CHECK(s.bytes_cached == std::size_t(1) << 20);
  alloc.empty_cache();
  CHECK(alloc.stats().bytes_cached == 0);
}

TEST_CASE("tensor steps hit the process allocator's cache", "[allocator]") {
  Generator gen(0);
  auto step = [&] {
    Tensor<float> x = randn<float>({64, 256}, gen).requires_grad_();
    sum(relu(matmul(x, x.t()))).backward();
  };
  step();
  const AllocatorStats before = cpu_allocator().stats();
  for (int i = 0; i < 5; ++i) step();
  const AllocatorStats after = cpu_allocator().stats();
  CHECK(after.allocations > before.allocations);
  CHECK(after.system_allocations == before.system_allocations);  // every block came from the cache
}

TEST_CASE("the allocator is safe to use from several threads", "[allocator]") {
  CpuAllocator alloc;
  auto work = [&] {
    for (int i = 0; i < 2000; ++i) {
      void* p = alloc.allocate(std::size_t(64 + (i % 7) * 1000));
      static_cast<char*>(p)[0] = 1;
      alloc.deallocate(p, std::size_t(64 + (i % 7) * 1000));
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  CHECK(alloc.stats().bytes_in_use == 0);
}
