#pragma once
// Declarations of the CUDA backend's device, memory and stream entry points. No CUDA header is
// included here (or anywhere under include/): the definitions live in cuda/*.cu, compiled by nvcc
// into packd_cuda, and these declarations are only visible when the build links that library
// (Note [CUDA configuration]). The kernels' declarations are in packd/backend/cuda/*.hpp.
#include <cstddef>
#include <cstdint>

#include "packd/config.hpp"

namespace packd::cuda {

// True when the CUDA runtime sees at least one device. Never throws; false in CPU-only builds.
bool cuda_available() noexcept;
int device_count() noexcept;

// Makes `device` the current CUDA device for a scope and restores the previous one: backend::dispatch
// runs every CUDA kernel of an op under it, so a tensor on cuda:1 is computed on cuda:1's stream.
// (Declared in every build; only a CUDA build ever constructs one.)
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int prev_ = -1;
};

#if PACKD_WITH_CUDA
// Device memory through the caching allocator (Note [CUDA caching allocator], cuda/context.cu);
// all throw packd::CudaError. Copies are ordered on the device's packd stream; a copy to the host
// returns when the data is there.
void* device_allocate(std::size_t nbytes, int device);
void device_deallocate(void* p, std::size_t nbytes, int device) noexcept;
void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device);

// Waits for all work packd queued on the device (timing, handing memory to other libraries).
void synchronize(int device);

struct DeviceAllocatorStats {
  std::size_t bytes_in_use = 0;       // held by live tensors
  std::size_t peak_bytes_in_use = 0;  // high-water mark of bytes_in_use since the last reset
  std::size_t bytes_cached = 0;       // freed blocks kept for reuse
  int64_t device_allocations = 0;     // cudaMalloc calls (a steady training loop makes none)
  int64_t cache_hits = 0;             // allocations served from the cache
};
DeviceAllocatorStats allocator_stats(int device);
void reset_peak_stats(int device);
// Returns every cached (free) block to the driver.
void empty_cache(int device);

// Page-locked host memory, for host buffers that feed the device (the data loader's batches).
void* pinned_allocate(std::size_t nbytes);
void pinned_deallocate(void* p) noexcept;

// TF32 tensor-core math in cuBLAS matmuls and cuDNN convolutions: off by default so that CUDA
// results match the CPU's to float precision; PACKD_ALLOW_TF32=1 in the environment turns it on
// at start, or call this. Read by each library call.
void set_allow_tf32(bool allow);
bool allow_tf32();
#endif

}  // namespace packd::cuda

#if !PACKD_WITH_CUDA
namespace packd::cuda {
inline bool cuda_available() noexcept { return false; }
inline int device_count() noexcept { return 0; }
}  // namespace packd::cuda
#endif
