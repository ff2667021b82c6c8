#pragma once
// The one dispatch point from a tensor's device to a backend implementation.
//
// Every op that runs a kernel calls
//     backend::dispatch("op", device, [&] { cpu::kernel(...); }, [&] { cuda::kernel(...); });
// The CPU callable runs for Device::cpu. The CUDA callable runs only in builds with the CUDA
// backend (PACKD_WITH_CUDA, Note [CUDA configuration]), with the tensor's device made current
// (cuda::DeviceScope); in other builds a CUDA device is an error
// naming the op. An op without a CUDA kernel yet passes backend::no_cuda_kernel.
#include <vector>

#include "packd/backend/cuda_api.hpp"
#include "packd/core/device.hpp"
#include "packd/core/error.hpp"

namespace packd::backend {

struct no_cuda_kernel {
  const char* op;
  [[noreturn]] void operator()() const {
    detail::throw_error(detail::concat(op, ": no CUDA kernel in this version of packd; move the tensors to the CPU"));
  }
};

template <class CpuFn, class CudaFn>
decltype(auto) dispatch(const char* op, Device device, CpuFn&& cpu_fn, CudaFn&& cuda_fn) {
  if (device.is_cpu()) return cpu_fn();
  check_device_built(device, op);
  if constexpr (PACKD_WITH_CUDA) {
    cuda::DeviceScope scope(device.index);
    return cuda_fn();
  } else {
    (void)cuda_fn;
    return cpu_fn();  // unreachable: check_device_built threw
  }
}

}  // namespace packd::backend
