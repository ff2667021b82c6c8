// CUDA runtime entry points of the backend: device discovery, the per-device stream, the caching
// device allocator, pinned host memory and copies.
// Note [CUDA configuration] (include/packd/config.hpp): this TU defines the link-check symbol
// that every TU compiled with PACKD_WITH_CUDA=1 references.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unordered_map>
#include <mutex>
#include <vector>

#include "packd/cuda/common.cuh"

extern "C" int packd_error__built_with_cuda_but_not_linked_to_packd_cuda = 0;

namespace packd::cuda {

bool cuda_available() noexcept { return device_count() > 0; }

int device_count() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error of a machine without a driver or device
    return 0;
  }
  return n;
}

int current_device() {
  int d = 0;
  PACKD_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

DeviceScope::DeviceScope(int device) {
  PACKD_CUDA_CHECK(cudaGetDevice(&prev_));
  if (prev_ == device) {
    prev_ = -1;  // nothing to restore
    return;
  }
  PACKD_CUDA_CHECK(cudaSetDevice(device));
}

DeviceScope::~DeviceScope() {
  if (prev_ >= 0) cudaSetDevice(prev_);
}

// ---- streams -------------------------------------------------------------------------------------

namespace {
constexpr int kMaxDevices = 64;

struct Streams {
  std::mutex mutex;
  cudaStream_t stream[kMaxDevices] = {};
};
Streams& streams() {
  static Streams s;
  return s;
}
}  // namespace

// A blocking stream (cudaStreamDefault): it synchronises with the legacy default stream, so code
// outside packd that uses stream 0 on the same memory stays ordered with packd's work.
cudaStream_t current_stream() {
  const int d = current_device();
  PACKD_CHECK(d < kMaxDevices, "cuda: device index ", d, " above the supported ", kMaxDevices);
  Streams& s = streams();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.stream[d]) PACKD_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream[d], cudaStreamDefault));
  return s.stream[d];
}

void synchronize(int device) {
  DeviceGuard g(device);
  PACKD_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
}

// ---- caching allocator ----------------------------------------------------------------------------
//
// Note [CUDA caching allocator]: cudaMalloc and cudaFree synchronise the device and cost tens of
// microseconds, and training allocates the same shapes every step. Freed blocks are therefore kept
// per device in a size-keyed pool and handed out again for a request of the same rounded size (or
// a larger one up to twice it). All packd work on a device runs on its one stream, so a block freed
// after a kernel was queued can be reused by the next kernel without waiting: stream order keeps
// the old reader ahead of the new writer. On cudaErrorMemoryAllocation the cache is returned to the
// driver and the allocation retried once. Sizes round up to 512 bytes (small) or 2 MiB (large).

namespace {
struct DevicePool {
  std::multimap<std::size_t, void*> free_blocks;  // block size -> block
  std::unordered_map<void*, std::size_t> live;    // block -> its size (a reused block may be larger than asked)
  DeviceAllocatorStats stats;
};
struct Pools {
  std::mutex mutex;
  DevicePool pool[kMaxDevices];
};
Pools& pools() {
  static Pools p;
  return p;
}

std::size_t round_size(std::size_t n) {
  constexpr std::size_t kSmall = 512, kLarge = std::size_t(2) << 20;
  if (n < (std::size_t(1) << 20)) return (n + kSmall - 1) / kSmall * kSmall;
  return (n + kLarge - 1) / kLarge * kLarge;
}

void release_cached(DevicePool& pool) {
  for (auto& [size, p] : pool.free_blocks) {
    cudaFree(p);
    pool.stats.bytes_cached -= size;
  }
  pool.free_blocks.clear();
}

DevicePool& pool_of(int device) {
  PACKD_CHECK(device >= 0 && device < kMaxDevices, "cuda: device index ", device, " outside [0, ", kMaxDevices, ")");
  return pools().pool[device];
}
}  // namespace

void* device_allocate(std::size_t nbytes, int device) {
  if (nbytes == 0) return nullptr;
  const std::size_t size = round_size(nbytes);
  DevicePool& pool = pool_of(device);
  {
    std::lock_guard<std::mutex> lock(pools().mutex);
    auto it = pool.free_blocks.lower_bound(size);
    if (it != pool.free_blocks.end() && it->first <= 2 * size) {
      void* p = it->second;
      const std::size_t got = it->first;
      pool.free_blocks.erase(it);
      pool.stats.bytes_cached -= got;
      pool.stats.bytes_in_use += got;
      pool.stats.peak_bytes_in_use = std::max(pool.stats.peak_bytes_in_use, pool.stats.bytes_in_use);
      ++pool.stats.cache_hits;
      pool.live.emplace(p, got);
      return p;
    }
  }
  DeviceGuard g(device);
  void* p = nullptr;
  cudaError_t st = cudaMalloc(&p, size);
  if (st == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    std::lock_guard<std::mutex> lock(pools().mutex);
    PACKD_CUDA_CHECK(cudaDeviceSynchronize());
    release_cached(pool);
    st = cudaMalloc(&p, size);
  }
  if (st != cudaSuccess) {
    cudaGetLastError();
    const DeviceAllocatorStats s = allocator_stats(device);
    throw CudaError(detail::concat("cuda: out of memory allocating ", nbytes, " bytes on cuda:", device, " (",
                                   s.bytes_in_use >> 20, " MiB in use by packd tensors): ", cudaGetErrorString(st)));
  }
  std::lock_guard<std::mutex> lock(pools().mutex);
  pool.stats.bytes_in_use += size;
  pool.stats.peak_bytes_in_use = std::max(pool.stats.peak_bytes_in_use, pool.stats.bytes_in_use);
  ++pool.stats.device_allocations;
  pool.live.emplace(p, size);
  return p;
}

void device_deallocate(void* p, std::size_t, int device) noexcept {
  if (!p || device < 0 || device >= kMaxDevices) return;
  DevicePool& pool = pools().pool[device];
  std::lock_guard<std::mutex> lock(pools().mutex);
  auto it = pool.live.find(p);
  if (it == pool.live.end()) return;  // not ours: never happens for packd storage
  const std::size_t size = it->second;
  pool.live.erase(it);
  pool.stats.bytes_in_use -= size;
  pool.stats.bytes_cached += size;
  pool.free_blocks.emplace(size, p);
}

DeviceAllocatorStats allocator_stats(int device) {
  DevicePool& pool = pool_of(device);
  std::lock_guard<std::mutex> lock(pools().mutex);
  return pool.stats;
}

void reset_peak_stats(int device) {
  DevicePool& pool = pool_of(device);
  std::lock_guard<std::mutex> lock(pools().mutex);
  pool.stats.peak_bytes_in_use = pool.stats.bytes_in_use;
}

void empty_cache(int device) {
  DevicePool& pool = pool_of(device);
  DeviceGuard g(device);
  PACKD_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  std::lock_guard<std::mutex> lock(pools().mutex);
  release_cached(pool);
}

// ---- pinned host memory -----------------------------------------------------------------------------

void* pinned_allocate(std::size_t nbytes) {
  void* p = nullptr;
  if (nbytes > 0) PACKD_CUDA_CHECK(cudaMallocHost(&p, nbytes));
  return p;
}

void pinned_deallocate(void* p) noexcept {
  if (p) cudaFreeHost(p);
}

// ---- copies -----------------------------------------------------------------------------------------
// Host memory here is usually pageable, for which cudaMemcpyAsync is staged by the driver; the
// stream synchronisation makes a copy to the host complete (and a host buffer reusable) on return.

void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  DeviceGuard g(device);
  cudaStream_t s = current_stream();
  PACKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, s));
  PACKD_CUDA_CHECK(cudaStreamSynchronize(s));
}

void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device) {
  DeviceGuard g(device);
  cudaStream_t s = current_stream();
  PACKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, s));
  PACKD_CUDA_CHECK(cudaStreamSynchronize(s));
}

void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  DeviceGuard g(device);
  PACKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, current_stream()));
}

// ---- TF32 -------------------------------------------------------------------------------------------

namespace {
std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag{[] {
    const char* v = std::getenv("PACKD_ALLOW_TF32");
    return v && std::strcmp(v, "1") == 0;
  }()};
  return flag;
}
}  // namespace

void set_allow_tf32(bool allow) { tf32_flag() = allow; }
bool allow_tf32() { return tf32_flag(); }

}  // namespace packd::cuda
