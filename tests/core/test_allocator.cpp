// The CPU caching allocator: reuse of freed blocks, size classes, the footprint bound, limits,
// alignment, threads.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "testing.hpp"

using namespace packd;

namespace {
constexpr std::size_t kMiB = std::size_t(1) << 20;

std::size_t footprint(const AllocatorStats& s) { return s.bytes_in_use + s.bytes_cached; }
}  // namespace

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
  CHECK(s.peak_bytes_in_use == std::size_t(1) << 20);
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

TEST_CASE("a loop whose extra sizes fit in the slack stops allocating from the system", "[allocator]") {
  // A 64 MiB block live throughout, then per pass blocks of 5 classes (1-7 MiB, 19 MiB in all),
  // two at a time: after the first pass every block comes from the cache.
  CpuAllocator alloc;
  void* big = alloc.allocate(64 * kMiB);
  const std::size_t sizes[] = {kMiB, 2 * kMiB, 3 * kMiB, 6 * kMiB, 7 * kMiB};
  auto pass = [&] {
    void* held = alloc.allocate(sizes[0]);
    for (std::size_t i = 1; i < 5; ++i) {
      void* p = alloc.allocate(sizes[i]);
      std::memset(p, 1, sizes[i]);
      alloc.deallocate(held, sizes[i - 1]);
      held = p;
    }
    alloc.deallocate(held, sizes[4]);
  };
  pass();
  const AllocatorStats warm = alloc.stats();
  for (int i = 0; i < 5; ++i) pass();
  const AllocatorStats s = alloc.stats();
  CHECK(s.system_allocations == warm.system_allocations);
  CHECK(s.evictions == 0);
  CHECK(s.cache_hits == warm.cache_hits + 25);
  alloc.deallocate(big, 64 * kMiB);
}

TEST_CASE("the footprint of a loop over many sizes stays within the live peak plus slack", "[allocator]") {
  // One block live at a time, 9 classes from 8 to 32 MiB (164 MiB in all): caching every class
  // would hold 164 MiB, while the footprint may reach only the live peak (32 MiB) plus the slack.
  CpuAllocator alloc;
  const std::size_t sizes[] = {8 * kMiB, 10 * kMiB, 12 * kMiB, 14 * kMiB, 16 * kMiB,
                               20 * kMiB, 24 * kMiB, 28 * kMiB, 32 * kMiB};
  std::size_t worst = 0;
  for (int pass = 0; pass < 4; ++pass) {
    for (std::size_t n : sizes) {
      void* p = alloc.allocate(n);
      CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
      worst = std::max(worst, footprint(alloc.stats()));
      alloc.deallocate(p, n);
    }
  }
  const AllocatorStats s = alloc.stats();
  CHECK(s.peak_bytes_in_use == 32 * kMiB);
  CHECK(worst <= s.peak_bytes_in_use + CpuAllocator::kCacheSlack);
  CHECK(footprint(s) <= s.peak_bytes_in_use + CpuAllocator::kCacheSlack);
  CHECK(s.evictions > 0);
  CHECK(s.bytes_in_use == 0);
  alloc.empty_cache();
  CHECK(alloc.stats().bytes_cached == 0);
}

TEST_CASE("a growing live set is never blocked by the bound", "[allocator]") {
  // The bound follows the live set: holding ever more blocks only raises the high-water mark.
  CpuAllocator alloc;
  std::vector<void*> held;
  for (int i = 0; i < 6; ++i) {
    void* scratch = alloc.allocate(3 * kMiB);  // freed at once: cached, then possibly evicted
    alloc.deallocate(scratch, 3 * kMiB);
    held.push_back(alloc.allocate(16 * kMiB));
  }
  AllocatorStats s = alloc.stats();
  CHECK(s.bytes_in_use == 6 * 16 * kMiB);
  CHECK(s.peak_bytes_in_use >= 6 * 16 * kMiB);
  CHECK(footprint(s) <= s.peak_bytes_in_use + CpuAllocator::kCacheSlack);
  for (void* p : held) alloc.deallocate(p, 16 * kMiB);
  CHECK(alloc.stats().bytes_in_use == 0);
}

TEST_CASE("large blocks are aligned, writable and reused", "[allocator]") {
  CpuAllocator alloc;
  for (std::size_t n : {kMiB - 1, kMiB, 2 * kMiB + 1, 5 * kMiB + 4097, 40 * kMiB + 64}) {
    auto* p = static_cast<unsigned char*>(alloc.allocate(n));
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    std::memset(p, 0xab, n);  // every byte of the request is ours
    CHECK(p[0] == 0xab);
    CHECK(p[n - 1] == 0xab);
    alloc.deallocate(p, n);
    CHECK(alloc.allocate(n) == static_cast<void*>(p));  // same class: the cached block again
    alloc.deallocate(p, n);
  }
  alloc.empty_cache();
  CHECK(alloc.stats().bytes_cached == 0);
}

TEST_CASE("PACKD_CPU_CACHE_SLACK_MB sets the slack", "[allocator]") {
  CHECK(CpuAllocator().slack() == CpuAllocator::kCacheSlack);
  ::setenv("PACKD_CPU_CACHE_SLACK_MB", "5", 1);
  CpuAllocator alloc;
  ::unsetenv("PACKD_CPU_CACHE_SLACK_MB");
  CHECK(alloc.slack() == 5 * kMiB);
  // one block live at a time over 3 classes: caching them all (8 + 10 + 12 MiB) would pass
  // the 12 MiB live peak plus 5 MiB
  for (std::size_t n : {8 * kMiB, 10 * kMiB, 12 * kMiB, 8 * kMiB}) alloc.deallocate(alloc.allocate(n), n);
  const AllocatorStats s = alloc.stats();
  CHECK(footprint(s) <= s.peak_bytes_in_use + 5 * kMiB);
  CHECK(s.evictions > 0);
}

TEST_CASE("PACKD_CPU_CACHE_MB caps the cache", "[allocator]") {
  ::setenv("PACKD_CPU_CACHE_MB", "0", 1);
  CpuAllocator alloc;
  ::unsetenv("PACKD_CPU_CACHE_MB");
  void* p = alloc.allocate(1000);
  alloc.deallocate(p, 1000);
  void* q = alloc.allocate(2 * kMiB);
  alloc.deallocate(q, 2 * kMiB);
  const AllocatorStats s = alloc.stats();
  CHECK(s.bytes_cached == 0);
  CHECK(s.cache_hits == 0);
  CHECK(s.system_allocations == 2);
}

TEST_CASE("the allocator is safe to use from several threads", "[allocator]") {
  CpuAllocator alloc;
  auto work = [&] {
    for (int i = 0; i < 2000; ++i) {
      const std::size_t n = std::size_t(64 + (i % 7) * 1000) + (i % 5 == 0 ? std::size_t(i % 3 + 1) * 3 * kMiB : 0);
      auto* p = static_cast<char*>(alloc.allocate(n));
      p[0] = 1;
      p[n - 1] = 1;
      alloc.deallocate(p, n);
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  const AllocatorStats s = alloc.stats();
  CHECK(s.bytes_in_use == 0);
  CHECK(footprint(s) <= s.peak_bytes_in_use + CpuAllocator::kCacheSlack);
}
