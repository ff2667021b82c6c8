#pragma once
// CPU memory: 64-byte-aligned blocks from a caching allocator.
//
// Note [CPU caching allocator]: a training loop allocates the same shapes every step. Returning
// those blocks to the C library makes large ones go back to the kernel (munmap) and come back as
// fresh zero pages that fault on first touch, which costs PyTorch 30-45% of its CPU step time.
// packd keeps freed blocks in per-size free lists and hands them out again. Sizes are rounded up
// to size classes (4 per power of two, at most 25% slack) so that near-equal requests share blocks.
// The cache is bounded (PACKD_CPU_CACHE_MB, default 4096 MiB); empty_cache() returns everything.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "packd/core/error.hpp"

namespace packd {

inline constexpr std::size_t kAlignment = 64;

struct AllocatorStats {
  uint64_t allocations = 0;  // calls to allocate()
  uint64_t cache_hits = 0;   // of which served from the cache
  uint64_t system_allocations = 0;
  std::size_t bytes_in_use = 0;  // handed out and not yet returned (rounded sizes)
  std::size_t bytes_cached = 0;  // held in the free lists
};

class CpuAllocator {
 public:
  CpuAllocator() {
    if (const char* env = std::getenv("PACKD_CPU_CACHE_MB")) limit_ = std::size_t(std::strtoull(env, nullptr, 10)) << 20;
  }
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
    std::size_t size = round_size(nbytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.allocations;
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        ++stats_.cache_hits;
        stats_.bytes_cached -= size;
        stats_.bytes_in_use += size;
        return p;
      }
      ++stats_.system_allocations;
      stats_.bytes_in_use += size;
    }
    void* p = std::aligned_alloc(kAlignment, size);
    if (!p) {
      empty_cache();  // give the cache back and try once more before reporting
      p = std::aligned_alloc(kAlignment, size);
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
    std::size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_in_use -= size;
    if (stats_.bytes_cached + size > limit_) {
      std::free(p);
      return;
    }
    free_[size].push_back(p);
    stats_.bytes_cached += size;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    stats_.bytes_cached = 0;
  }

  AllocatorStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
  std::size_t limit_ = std::size_t(4096) << 20;
};

// The process-wide CPU allocator. Deliberately never destroyed, so that tensors with static
// storage duration can still return their blocks during program exit.
inline CpuAllocator& cpu_allocator() {
  static CpuAllocator* a = new CpuAllocator();
  return *a;
}

}  // namespace packd
