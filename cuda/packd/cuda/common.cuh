#pragma once
// Shared by every CUDA TU: the checked-call macro that turns a CUDA error into packd::CudaError
// with the call's text, file and line. Never included from include/ (Note [CUDA configuration]).
#if !defined(__CUDACC__) || !PACKD_WITH_CUDA
#error "packd/cuda/common.cuh is for the CUDA backend's own .cu files, compiled by nvcc with PACKD_WITH_CUDA=1"
#endif
#include <cuda_runtime.h>

#include "packd/backend/cuda_api.hpp"
#include "packd/core/error.hpp"

#define PACKD_CUDA_CHECK(call)                                                                           \
  do {                                                                                                   \
    const cudaError_t packd_status_ = (call);                                                            \
    if (packd_status_ != cudaSuccess)                                                                    \
      throw ::packd::CudaError(::packd::detail::concat(#call, " failed at " __FILE__ ":", __LINE__, ": ", \
                                                       cudaGetErrorString(packd_status_)));              \
  } while (0)
