// CUDA runtime entry points of the backend: device discovery and device memory.
// Note [CUDA configuration] (include/packd/config.hpp): this TU defines the link-check symbol
// that every TU compiled with PACKD_WITH_CUDA=1 references.
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

namespace {
struct DeviceGuard {
  explicit DeviceGuard(int device) {
    PACKD_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) PACKD_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(prev_); }
  int prev_ = 0;
};
}  // namespace

void* device_allocate(std::size_t nbytes, int device) {
  DeviceGuard g(device);
  void* p = nullptr;
  if (nbytes > 0) PACKD_CUDA_CHECK(cudaMalloc(&p, nbytes));
  return p;
}

void device_deallocate(void* p, std::size_t, int device) noexcept {
  if (!p) return;
  int prev = 0;
  cudaGetDevice(&prev);
  cudaSetDevice(device);
  cudaFree(p);
  cudaSetDevice(prev);
}

void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  DeviceGuard g(device);
  PACKD_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device) {
  DeviceGuard g(device);
  PACKD_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  DeviceGuard g(device);
  PACKD_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice));
}

}  // namespace packd::cuda
