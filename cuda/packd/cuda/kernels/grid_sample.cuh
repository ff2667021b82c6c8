#pragma once
// grid_sample forward: one thread per output position (n, oh, ow), which maps its grid point to a
// source position with the CPU's helpers (cpu::grid_source_index, PACKD_HOST_DEVICE) once and then
// samples every channel, as the CPU kernel does; consecutive threads write consecutive ow.
#include <cmath>

#include "packd/backend/cpu/grid_sample.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

template <class T>
void grid_sample(const T* x, const T* grid, T* y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                 bool bilinear, cpu::GridPadding padding, bool align_corners) {
  for_each_index(N * OH * OW, [=] __device__(int64_t i) {
    const int64_t n = i / (OH * OW), o = i % (OH * OW);  // o = oh * OW + ow
    const T ix = cpu::grid_source_index(grid[2 * i], W, padding, align_corners);
    const T iy = cpu::grid_source_index(grid[2 * i + 1], H, padding, align_corners);
    const T* xn = x + n * C * H * W;
    cpu::grid_sample_point(xn, y + n * C * OH * OW + o, C, H, W, OH * OW, ix, iy, bilinear);
  });
}

}  // namespace packd::cuda::kernels
