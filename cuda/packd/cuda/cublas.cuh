#pragma once
// cuBLAS for the CUDA backend's own .cu files (cuda/linalg.cu is the only one): the checked-call
// macro and the handle of the current thread and device, bound to current_stream().
#include <cublas_v2.h>

#include <mutex>
#include <vector>

#include "packd/cuda/common.cuh"

// A failed cuBLAS call throws packd::CudaError with the call's text, file:line and the status.
#define PACKD_CUBLAS_CHECK(call)                                                                          \
  do {                                                                                                    \
    const cublasStatus_t packd_status_ = (call);                                                          \
    if (packd_status_ != CUBLAS_STATUS_SUCCESS)                                                           \
      throw ::packd::CudaError(::packd::detail::concat(#call, " failed at " __FILE__ ":", __LINE__, ": ",  \
                                                       cublasGetStatusName(packd_status_), " (",          \
                                                       cublasGetStatusString(packd_status_), ")"));       \
  } while (0)

namespace packd::cuda {

// The calling thread's cuBLAS handle on the current device, created on first use, on
// current_stream(), with TF32 tensor-core math only when allow_tf32() (Note in cuda_api.hpp):
// CUBLAS_DEFAULT_MATH computes float products in full fp32, as the CPU does.
inline cublasHandle_t cublas_handle() {
  cublasHandle_t handle = LibraryHandles<cublasHandle_t>::get([](cublasHandle_t* h) { PACKD_CUBLAS_CHECK(cublasCreate(h)); });
  cudaStream_t bound = nullptr;
  PACKD_CUBLAS_CHECK(cublasGetStream(handle, &bound));
  const cudaStream_t stream = current_stream();
  if (bound != stream) PACKD_CUBLAS_CHECK(cublasSetStream(handle, stream));  // setting it also resets the workspace
  PACKD_CUBLAS_CHECK(cublasSetMathMode(handle, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return handle;
}

}  // namespace packd::cuda
