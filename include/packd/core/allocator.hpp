#pragma once
// CPU memory: 64-byte-aligned blocks from a caching allocator.
//
// Note [CPU caching allocator]: a training loop allocates the same shapes every step. Returning
// those blocks to the C library makes large ones go back to the kernel (munmap) and come back as
// fresh zero pages that fault on first touch, which costs PyTorch 30-45% of its CPU step time.
// packd keeps freed blocks in per-size free lists and hands them out again. Sizes are rounded up
// to size classes (4 per power of two, at most 25% slack) so that near-equal requests share blocks.
//
// A cached block serves only its own class, so caching costs memory: in a PACKD step the blocks
// the teacher frees (activations of 64 support views) would sit in the cache while the student
// and the backward allocate other sizes from the system, and the process would peak ~1 GiB
// above its live peak (6.7 against 5.8 GiB). Hence the footprint (in use + cached) never grows
// past the high-water mark of the bytes in use plus a slack (kCacheSlack = 32 MiB by default,
// PACKD_CPU_CACHE_SLACK_MB to change it) through a system allocation:
// before one, cached blocks go back to the system, those cached longest first. Blocks freed in
// the running phase of a step are the ones it asks for again soon; the oldest are left from an
// earlier phase (measured on the PACKD step: 3.6 GiB given back and re-allocated per step, 6 GiB
// when giving back the smallest block that covers the excess). A loop whose extra block sizes fit
// in the slack (small steps) never allocates from the system after its first pass. Re-allocating
// is cheap because blocks of kLargeBlock and more are their own mappings, 2 MiB aligned and
// marked for transparent huge pages (Linux): munmap really hands them back, and faulting them in
// again costs one fault per 2 MiB (~20 GB/s on the benchmark machine against ~3 GB/s with 4 KiB
// pages). PACKD_CPU_CACHE_MB (default 4096 MiB, 0 = no cache) caps the cache itself;
// empty_cache() returns everything.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "packd/core/error.hpp"

namespace packd {

inline constexpr std::size_t kAlignment = 64;

struct AllocatorStats {
  uint64_t allocations = 0;  // calls to allocate()
  uint64_t cache_hits = 0;   // of which served from the cache
  uint64_t system_allocations = 0;
  uint64_t system_bytes = 0;          // bytes of those system allocations (rounded sizes)
  uint64_t evictions = 0;             // cached blocks given back to keep the footprint bounded
  std::size_t bytes_in_use = 0;       // handed out and not yet returned (rounded sizes)
  std::size_t bytes_cached = 0;       // held in the free lists
  std::size_t peak_bytes_in_use = 0;  // high-water mark of bytes_in_use
};

class CpuAllocator {
 public:
  static constexpr std::size_t kCacheSlack = std::size_t(32) << 20;  // default footprint above the live peak
  static constexpr std::size_t kLargeBlock = std::size_t(1) << 20;   // own mapping from this size up
  static constexpr std::size_t kHugePage = std::size_t(2) << 20;

  CpuAllocator() {
    if (const char* env = std::getenv("PACKD_CPU_CACHE_MB")) limit_ = std::size_t(std::strtoull(env, nullptr, 10)) << 20;
    if (const char* env = std::getenv("PACKD_CPU_CACHE_SLACK_MB")) slack_ = std::size_t(std::strtoull(env, nullptr, 10)) << 20;
  }
  // How far the footprint may exceed the live high-water mark (PACKD_CPU_CACHE_SLACK_MB).
  std::size_t slack() const { return slack_; }
  CpuAllocator(const CpuAllocator&) = delete;
  CpuAllocator& operator=(const CpuAllocator&) = delete;
  ~CpuAllocator() { empty_cache(); }

  // Size class of a request: multiples of 64 up to 4 KiB, then 4 steps per power of two.
  static std::size_t round_size(std::size_t n) {
    if (n <= 4096) return n == 0 ? kAlignment : (n + kAlignment - 1) / kAlignment * kAlignment;
    std::size_t p = std::size_t(1) << (63 - __builtin_clzll(n - 1));  // largest power of two < n
    std::size_t step = p / 4;
    return (n + step - 1) / step * step;
  }

  void* allocate(std::size_t nbytes) {
    const std::size_t size = round_size(nbytes);
    std::vector<std::pair<void*, std::size_t>> evicted;  // (block, size), freed outside the lock
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.allocations;
      auto it = free_.find(size);
      if (it != free_.end()) {
        void* p = it->second.back().p;  // the most recently freed: the oldest stay evictable
        it->second.pop_back();
        if (it->second.empty()) free_.erase(it);
        ++stats_.cache_hits;
        stats_.bytes_cached -= size;
        add_in_use(size);
        return p;
      }
      ++stats_.system_allocations;
      stats_.system_bytes += size;
      evict_for(size, evicted);
      add_in_use(size);
    }
    for (auto [q, qsize] : evicted) system_free(q, qsize);
    void* p = system_alloc(size, nbytes);
    if (!p) {
      empty_cache();  // give the cache back and try once more before reporting
      p = system_alloc(size, nbytes);
    }
    if (!p) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.bytes_in_use -= size;
      PACKD_CHECK(false, "out of CPU memory allocating ", nbytes, " bytes");
    }
    return p;
  }

  void deallocate(void* p, std::size_t nbytes) {
    if (!p) return;
    const std::size_t size = round_size(nbytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.bytes_in_use -= size;
      if (stats_.bytes_cached + size <= limit_) {
        free_[size].push_back(Cached{p, ++clock_});
        stats_.bytes_cached += size;
        return;
      }
    }
    system_free(p, size);
  }

  void empty_cache() {
    std::map<std::size_t, std::deque<Cached>> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(free_);
      stats_.bytes_cached = 0;
    }
    for (auto& [size, list] : blocks)
      for (const Cached& c : list) system_free(c.p, size);
  }

  AllocatorStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void add_in_use(std::size_t size) {
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }

  // Before a system allocation of `size` (mu_ held): moves cached blocks to `out` until
  // in use + cached + size <= max(live high-water mark, in use + size) + kCacheSlack.
  void evict_for(std::size_t size, std::vector<std::pair<void*, std::size_t>>& out) {
    const std::size_t live = stats_.bytes_in_use + size;
    const std::size_t bound = std::max(live, stats_.peak_bytes_in_use) + slack_;
    while (live + stats_.bytes_cached > bound) {  // the cache is not empty here
      // The block cached longest: the front of one of the lists (each is in freeing order).
      auto oldest = free_.begin();
      for (auto it = free_.begin(); it != free_.end(); ++it)
        if (it->second.front().freed < oldest->second.front().freed) oldest = it;
      out.emplace_back(oldest->second.front().p, oldest->first);
      oldest->second.pop_front();
      stats_.bytes_cached -= oldest->first;
      ++stats_.evictions;
      if (oldest->second.empty()) free_.erase(oldest);
    }
  }

  // A fresh block of `size` bytes (its class) for a request of `nbytes`; nullptr when out of memory.
  static void* system_alloc(std::size_t size, std::size_t nbytes) {
#if defined(__linux__)
    if (size >= kLargeBlock) {  // size is a multiple of the page size here
      // Map 2 MiB more than needed, keep the 2 MiB-aligned part, unmap the ends.
      const std::size_t len = size + kHugePage;
      void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) return nullptr;
      char* base = static_cast<char*>(m);
      char* p = base + (kHugePage - reinterpret_cast<uintptr_t>(base) % kHugePage) % kHugePage;
      if (p > base) munmap(base, std::size_t(p - base));
      munmap(p + size, std::size_t(base + len - (p + size)));
      // Huge pages only over the whole 2 MiB pages the request covers: the class's rounding slack
      // past nbytes is never touched and stays out of the resident set.
      if (nbytes >= kHugePage) madvise(p, nbytes / kHugePage * kHugePage, MADV_HUGEPAGE);
      return p;
    }
#else
    (void)nbytes;
#endif
    return std::aligned_alloc(kAlignment, size);
  }
  static void system_free(void* p, std::size_t size) {
#if defined(__linux__)
    if (size >= kLargeBlock) {
      munmap(p, size);
      return;
    }
#endif
    std::free(p);
  }

  struct Cached {
    void* p;
    uint64_t freed;  // clock_ when it was cached
  };

  mutable std::mutex mu_;
  std::map<std::size_t, std::deque<Cached>> free_;  // size class -> cached blocks, oldest first (never empty)
  uint64_t clock_ = 0;
  AllocatorStats stats_;
  std::size_t limit_ = std::size_t(4096) << 20;
  std::size_t slack_ = kCacheSlack;
};

// The process-wide CPU allocator. Deliberately never destroyed, so that tensors with static
// storage duration can still return their blocks during program exit.
inline CpuAllocator& cpu_allocator() {
  static CpuAllocator* a = new CpuAllocator();
  return *a;
}

}  // namespace packd
