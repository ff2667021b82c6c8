#pragma once
// Declarations of the CUDA backend's entry points. No CUDA header is included here (or anywhere
// under include/): the definitions live in cuda/*.cu, compiled by nvcc into packd_cuda, and these
// declarations are only visible when the build links that library (Note [CUDA configuration]).
#include <cstddef>

#include "packd/config.hpp"

namespace packd::cuda {

// True when the CUDA runtime sees at least one device. Never throws; false in CPU-only builds.
bool cuda_available() noexcept;
int device_count() noexcept;

#if PACKD_WITH_CUDA
// Device memory (through the backend's caching allocator) and copies; throw packd::CudaError.
void* device_allocate(std::size_t nbytes, int device);
void device_deallocate(void* p, std::size_t nbytes, int device) noexcept;
void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device);
#endif

}  // namespace packd::cuda

#if !PACKD_WITH_CUDA
namespace packd::cuda {
inline bool cuda_available() noexcept { return false; }
inline int device_count() noexcept { return 0; }
}  // namespace packd::cuda
#endif
