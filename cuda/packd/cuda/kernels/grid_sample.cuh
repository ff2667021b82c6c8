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
    T* out = y + n * C * OH * OW + o;
    auto inside = [=](int64_t h, int64_t w) { return h >= 0 && h < H && w >= 0 && w < W; };
    if (bilinear) {
      const int64_t x0 = int64_t(floor(ix)), y0 = int64_t(floor(iy)), x1 = x0 + 1, y1 = y0 + 1;
      const T nw = (T(x1) - ix) * (T(y1) - iy), ne = (ix - T(x0)) * (T(y1) - iy);
      const T sw = (T(x1) - ix) * (iy - T(y0)), se = (ix - T(x0)) * (iy - T(y0));
      const bool bnw = inside(y0, x0), bne = inside(y0, x1), bsw = inside(y1, x0), bse = inside(y1, x1);
      for (int64_t c = 0; c < C; ++c) {
        const T* xc = xn + c * H * W;
        T v = 0;
        if (bnw) v += xc[y0 * W + x0] * nw;
        if (bne) v += xc[y0 * W + x1] * ne;
        if (bsw) v += xc[y1 * W + x0] * sw;
        if (bse) v += xc[y1 * W + x1] * se;
        out[c * OH * OW] = v;
      }
    } else {
      const int64_t xr = int64_t(nearbyint(ix)), yr = int64_t(nearbyint(iy));
      const bool in = inside(yr, xr);
      for (int64_t c = 0; c < C; ++c) out[c * OH * OW] = in ? xn[c * H * W + yr * W + xr] : T(0);
    }
  });
}

}  // namespace packd::cuda::kernels
