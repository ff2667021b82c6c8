#pragma once
// CUDA interpolate kernels (cuda/resize.cu): the declarations ops/resize.hpp calls through
// backend::dispatch, with the CPU kernels' arguments (packd/backend/cpu/resize.hpp). The source
// index / weight tables are built on the host by the CPU's functions, so both backends sample the
// same positions; each call copies them to the device. Backward kernels overwrite gx (they zero it
// first). float and double. Defined only in packd_cuda.
#include <cstdint>
#include <vector>

#include "packd/backend/cpu/resize.hpp"

namespace packd::cuda {

template <class T>
void bilinear_forward_kernel(const T* x, T* y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw);
template <class T>
void bilinear_backward_kernel(const T* g, T* gx, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw);
template <class T>
void nearest_forward_kernel(const T* x, T* y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const std::vector<int64_t>& ih, const std::vector<int64_t>& iw);
template <class T>
void nearest_backward_kernel(const T* g, T* gx, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const std::vector<int64_t>& ih, const std::vector<int64_t>& iw);

}  // namespace packd::cuda
