#pragma once
// CPU kernel for grid_sample (ops/grid_sample.hpp), following PyTorch 1.13's
// aten/src/ATen/native/GridSampler.h: unnormalize the grid coordinate to pixel space, apply the
// padding mode (border: clip; reflection: reflect about the edges (align_corners) or the outer
// pixel borders (not), then clip), then sample bilinearly (corners outside the image count as 0)
// or take the nearest pixel (round half to even, as nearbyint). The index helpers are
// PACKD_HOST_DEVICE: the CUDA kernel (cuda/packd/cuda/kernels/grid_sample.cuh) uses them too.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/functors.hpp"  // PACKD_HOST_DEVICE

namespace packd::cpu {

enum class GridPadding { zeros, border, reflection };

template <class T>
PACKD_HOST_DEVICE inline T grid_unnormalize(T coord, int64_t size, bool align_corners) {
  return align_corners ? ((coord + 1) / 2) * T(size - 1) : ((coord + 1) * T(size) - 1) / 2;
}

template <class T>
PACKD_HOST_DEVICE inline T grid_clip(T in, int64_t clip_limit) {
  return std::min(T(clip_limit - 1), std::max(in, T(0)));
}

// Reflects `in` into [twice_low / 2, twice_high / 2] (the bounds doubled so they stay integers).
template <class T>
PACKD_HOST_DEVICE inline T grid_reflect(T in, int64_t twice_low, int64_t twice_high) {
  if (twice_low == twice_high) return T(0);
  const T min = T(twice_low) / 2, span = T(twice_high - twice_low) / 2;
  in = std::fabs(in - min);
  const T extra = std::fmod(in, span);
  const int64_t flips = int64_t(std::floor(in / span));
  return flips % 2 == 0 ? extra + min : span - extra + min;
}

template <class T>
PACKD_HOST_DEVICE inline T grid_source_index(T coord, int64_t size, GridPadding padding, bool align_corners) {
  coord = grid_unnormalize(coord, size, align_corners);
  if (padding == GridPadding::border) {
    coord = grid_clip(coord, size);
  } else if (padding == GridPadding::reflection) {
    coord = align_corners ? grid_reflect(coord, 0, 2 * (size - 1)) : grid_reflect(coord, -1, 2 * size - 1);
    coord = grid_clip(coord, size);
  }
  // as PyTorch's safe_downgrade_to_int_range: NaN, inf and huge values land far outside
  if (!std::isfinite(coord) || coord > T(2147483646) || coord < T(-2147483647)) return T(-100);
  return coord;
}

// Samples every channel of one image xn (C, H, W) at source position (ix, iy) into out[c * plane]:
// bilinear (corners outside the image count as 0) or the nearest pixel. One output position, shared
// by the CPU loop below and the CUDA kernel.
template <class T>
PACKD_HOST_DEVICE inline void grid_sample_point(const T* xn, T* out, int64_t C, int64_t H, int64_t W, int64_t plane, T ix,
                                                T iy, bool bilinear) {
  auto inside = [=](int64_t h, int64_t w) { return h >= 0 && h < H && w >= 0 && w < W; };
  if (bilinear) {
    const int64_t x0 = int64_t(std::floor(ix)), y0 = int64_t(std::floor(iy)), x1 = x0 + 1, y1 = y0 + 1;
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
      out[c * plane] = v;
    }
  } else {
    const int64_t xr = int64_t(std::nearbyint(ix)), yr = int64_t(std::nearbyint(iy));
    const bool in = inside(yr, xr);
    for (int64_t c = 0; c < C; ++c) out[c * plane] = in ? xn[c * H * W + yr * W + xr] : T(0);
  }
}

// x (N, C, H, W) contiguous, grid (N, OH, OW, 2) contiguous -> y (N, C, OH, OW).
template <class T>
void grid_sample_kernel(const T* x, const T* grid, T* y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                        int64_t OW, bool bilinear, GridPadding padding, bool align_corners) {
  const int64_t items = N * OH;
  const int nt = std::min<int64_t>(threads_for(items * OW * C * 4), std::max<int64_t>(items, 1));
  parallel_for(0, items, nt, [&](int64_t i0, int64_t i1) {  // chunks of output rows (n, oh)
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t n = it / OH, oh = it % OH;
      const T* xn = x + n * C * H * W;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const T* gp = grid + ((n * OH + oh) * OW + ow) * 2;
        const T ix = grid_source_index(gp[0], W, padding, align_corners);
        const T iy = grid_source_index(gp[1], H, padding, align_corners);
        grid_sample_point(xn, y + n * C * OH * OW + oh * OW + ow, C, H, W, OH * OW, ix, iy, bilinear);
      }
    }
  });
}

}  // namespace packd::cpu
