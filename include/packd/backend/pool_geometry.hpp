#pragma once
// Pooling window geometry shared by the CPU kernels (backend/cpu/pool.hpp) and the CUDA ones
// (cuda/packd/cuda/kernels/pool.cuh): one definition of the windows, so the backends cannot
// disagree on which inputs an output covers. Plain C++ (no intrinsics): nvcc includes it too.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "packd/backend/functors.hpp"  // PACKD_HOST_DEVICE

namespace packd::backend {

struct Pool2dGeom {
  int64_t H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;
};

// The average-pooling window of output (oh, ow): bounds clipped to the input, and the divisor
// (the window clipped to the padded input with count_include_pad, else to the input).
struct AvgWindow {
  int64_t h0, h1, w0, w1, div;
};
PACKD_HOST_DEVICE inline AvgWindow avg_window(const Pool2dGeom& g, int64_t oh, int64_t ow, bool count_include_pad) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = std::min(h0 + g.kh, g.H + g.ph), w1 = std::min(w0 + g.kw, g.W + g.pw);
  const int64_t pool = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.H), w1 = std::min(w1, g.W);
  return {h0, h1, w0, w1, count_include_pad ? pool : (h1 - h0) * (w1 - w0)};
}

// The max of output (oh, ow)'s window in plane xp (H, W), and its flat index in best: a NaN wins the
// window, the first maximum wins ties (PyTorch's max_pool2d).
template <class T>
PACKD_HOST_DEVICE inline T max_window(const T* xp, const Pool2dGeom& g, int64_t oh, int64_t ow, int64_t& best) {
  int64_t h0 = oh * g.sh - g.ph;
  const int64_t h1 = std::min(h0 + (g.kh - 1) * g.dh + 1, g.H);
  while (h0 < 0) h0 += g.dh;
  int64_t w0 = ow * g.sw - g.pw;
  const int64_t w1 = std::min(w0 + (g.kw - 1) * g.dw + 1, g.W);
  while (w0 < 0) w0 += g.dw;
  best = h0 * g.W + w0;
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t h = h0; h < h1; h += g.dh)
    for (int64_t w = w0; w < w1; w += g.dw) {
      const T v = xp[h * g.W + w];
      if (v > m || v != v) {  // v != v: NaN
        m = v;
        best = h * g.W + w;
      }
    }
  return m;
}

// PyTorch's adaptive pooling bounds: [floor(o * I / O), ceil((o + 1) * I / O)).
PACKD_HOST_DEVICE inline int64_t adaptive_start(int64_t o, int64_t O, int64_t I) { return (o * I) / O; }
PACKD_HOST_DEVICE inline int64_t adaptive_end(int64_t o, int64_t O, int64_t I) { return ((o + 1) * I + O - 1) / O; }

}  // namespace packd::backend
