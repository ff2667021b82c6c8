#pragma once
// CUDA grid_sample (cuda/grid_sample.cu): the declaration ops/grid_sample.hpp calls through
// backend::dispatch, with the CPU kernel's arguments (packd/backend/cpu/grid_sample.hpp). float and
// double. Defined only in packd_cuda.
#include <cstdint>

#include "packd/backend/cpu/grid_sample.hpp"

namespace packd::cuda {

// x (N, C, H, W) contiguous, grid (N, OH, OW, 2) contiguous -> y (N, C, OH, OW).
template <class T>
void grid_sample_kernel(const T* x, const T* grid, T* y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                        int64_t OW, bool bilinear, cpu::GridPadding padding, bool align_corners);

}  // namespace packd::cuda
