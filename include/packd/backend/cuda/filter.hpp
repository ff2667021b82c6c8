#pragma once
// CUDA Gaussian blur (cuda/filter.cu): the declaration ops/filter.hpp calls through
// backend::dispatch, with the CPU kernel's arguments (packd/backend/cpu/filter.hpp). float and
// double. Defined only in packd_cuda.
#include <cstdint>
#include <vector>

namespace packd::cuda {

// Blur (or its adjoint) of contiguous (planes, H, W) data into out (same layout); tmp is device
// scratch of the same size.
template <class T>
void gaussian_blur_kernel(const T* x, T* out, T* tmp, int64_t planes, int64_t H, int64_t W, const std::vector<T>& taps,
                          bool edge_repeated, bool adjoint);

}  // namespace packd::cuda
