#pragma once
// cuDNN for the CUDA backend's own .cu files (cuda/conv.cu is the only one): the checked-call
// macro, the handle of the current thread and device bound to current_stream(), and owning
// wrappers of the legacy descriptors (deprecated in cuDNN 9, see the top of cuda/conv.cu).
#include <cudnn.h>

#include <cstddef>
#include <mutex>
#include <vector>

#include "packd/cuda/common.cuh"

// A failed cuDNN call throws packd::CudaError with the call's text, file:line, the status and
// cuDNN's own account of the last error (cuDNN 9 keeps one per thread).
#define PACKD_CUDNN_CHECK(call)                                                                          \
  do {                                                                                                   \
    const cudnnStatus_t packd_status_ = (call);                                                          \
    if (packd_status_ != CUDNN_STATUS_SUCCESS) {                                                         \
      char packd_detail_[512] = {};                                                                      \
      cudnnGetLastErrorString(packd_detail_, sizeof(packd_detail_));                                     \
      throw ::packd::CudaError(::packd::detail::concat(#call, " failed at " __FILE__ ":", __LINE__, ": ", \
                                                       cudnnGetErrorString(packd_status_),               \
                                                       packd_detail_[0] ? ": " : "", packd_detail_));    \
    }                                                                                                    \
  } while (0)

namespace packd::cuda {

// The calling thread's cuDNN handle on the current device, created on first use, on current_stream().
inline cudnnHandle_t cudnn_handle() {
  cudnnHandle_t handle = LibraryHandles<cudnnHandle_t>::get([](cudnnHandle_t* h) { PACKD_CUDNN_CHECK(cudnnCreate(h)); });
  cudaStream_t bound = nullptr;
  PACKD_CUDNN_CHECK(cudnnGetStream(handle, &bound));
  const cudaStream_t stream = current_stream();
  if (bound != stream) PACKD_CUDNN_CHECK(cudnnSetStream(handle, stream));
  return handle;
}

// A dense NCHW tensor descriptor.
class TensorDescriptor {
 public:
  TensorDescriptor(cudnnDataType_t dtype, int n, int c, int h, int w) {
    PACKD_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_));
    try {
      PACKD_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, dtype, n, c, h, w));
    } catch (...) {
      cudnnDestroyTensorDescriptor(d_);
      throw;
    }
  }
  ~TensorDescriptor() { cudnnDestroyTensorDescriptor(d_); }
  TensorDescriptor(const TensorDescriptor&) = delete;
  TensorDescriptor& operator=(const TensorDescriptor&) = delete;
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

// A dense (K, C/groups, KH, KW) filter descriptor.
class FilterDescriptor {
 public:
  FilterDescriptor(cudnnDataType_t dtype, int k, int c, int h, int w) {
    PACKD_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d_));
    try {
      PACKD_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d_, dtype, CUDNN_TENSOR_NCHW, k, c, h, w));
    } catch (...) {
      cudnnDestroyFilterDescriptor(d_);
      throw;
    }
  }
  ~FilterDescriptor() { cudnnDestroyFilterDescriptor(d_); }
  FilterDescriptor(const FilterDescriptor&) = delete;
  FilterDescriptor& operator=(const FilterDescriptor&) = delete;
  cudnnFilterDescriptor_t get() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

// A 2-D cross-correlation (what deep learning calls convolution) with groups and a math type.
class ConvolutionDescriptor {
 public:
  ConvolutionDescriptor(cudnnDataType_t compute, int ph, int pw, int sh, int sw, int dh, int dw, int groups,
                        cudnnMathType_t math) {
    PACKD_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d_));
    try {
      PACKD_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d_, ph, pw, sh, sw, dh, dw, CUDNN_CROSS_CORRELATION, compute));
      PACKD_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d_, groups));
      PACKD_CUDNN_CHECK(cudnnSetConvolutionMathType(d_, math));
    } catch (...) {
      cudnnDestroyConvolutionDescriptor(d_);
      throw;
    }
  }
  ~ConvolutionDescriptor() { cudnnDestroyConvolutionDescriptor(d_); }
  ConvolutionDescriptor(const ConvolutionDescriptor&) = delete;
  ConvolutionDescriptor& operator=(const ConvolutionDescriptor&) = delete;
  cudnnConvolutionDescriptor_t get() const { return d_; }
  void set_math(cudnnMathType_t math) { PACKD_CUDNN_CHECK(cudnnSetConvolutionMathType(d_, math)); }

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

}  // namespace packd::cuda
