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

namespace detail {

// Handles nobody uses, by device: a thread that ends gives its handles back here and the next
// thread takes them, so short-lived threads do not create a handle each. Never destroyed (nor
// are the handles): at process exit the CUDA context may already be gone.
struct CublasHandlePool {
  std::mutex mutex;
  std::vector<std::vector<cublasHandle_t>> free;  // [device] -> idle handles
};
inline CublasHandlePool& cublas_handle_pool() {
  static CublasHandlePool* pool = new CublasHandlePool;
  return *pool;
}

// The handles of one thread, by device (a cuBLAS handle must not be used by two threads at once).
struct ThreadCublasHandles {
  std::vector<cublasHandle_t> by_device;
  ThreadCublasHandles() = default;
  ThreadCublasHandles(const ThreadCublasHandles&) = delete;
  ThreadCublasHandles& operator=(const ThreadCublasHandles&) = delete;
  ~ThreadCublasHandles() {
    CublasHandlePool& pool = cublas_handle_pool();
    std::lock_guard<std::mutex> lock(pool.mutex);
    for (std::size_t d = 0; d < by_device.size(); ++d) {
      if (!by_device[d]) continue;
      if (pool.free.size() <= d) pool.free.resize(d + 1);
      pool.free[d].push_back(by_device[d]);
    }
  }
};

}  // namespace detail

// The calling thread's cuBLAS handle on the current device, created on first use, on
// current_stream(), with TF32 tensor-core math only when allow_tf32() (Note in cuda_api.hpp):
// CUBLAS_DEFAULT_MATH computes float products in full fp32, as the CPU does.
inline cublasHandle_t cublas_handle() {
  const int device = current_device();
  thread_local detail::ThreadCublasHandles mine;
  if (mine.by_device.size() <= std::size_t(device)) mine.by_device.resize(std::size_t(device) + 1, nullptr);
  cublasHandle_t& handle = mine.by_device[std::size_t(device)];
  if (!handle) {
    detail::CublasHandlePool& pool = detail::cublas_handle_pool();
    {
      std::lock_guard<std::mutex> lock(pool.mutex);
      if (pool.free.size() > std::size_t(device) && !pool.free[std::size_t(device)].empty()) {
        handle = pool.free[std::size_t(device)].back();
        pool.free[std::size_t(device)].pop_back();
      }
    }
    if (!handle) PACKD_CUBLAS_CHECK(cublasCreate(&handle));
  }
  cudaStream_t bound = nullptr;
  PACKD_CUBLAS_CHECK(cublasGetStream(handle, &bound));
  const cudaStream_t stream = current_stream();
  if (bound != stream) PACKD_CUBLAS_CHECK(cublasSetStream(handle, stream));  // setting it also resets the workspace
  PACKD_CUBLAS_CHECK(cublasSetMathMode(handle, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return handle;
}

}  // namespace packd::cuda
