#pragma once
// Pooling window geometry shared by the CPU kernels (backend/cpu/pool.hpp) and the CUDA ones
// (cuda/packd/cuda/kernels/pool.cuh): one definition of the windows, so the backends cannot
// disagree on which inputs an output covers. Plain C++ (no intrinsics): nvcc includes it too.
#include <algorithm>
#include <cstdint>

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

// PyTorch's adaptive pooling bounds: [floor(o * I / O), ceil((o + 1) * I / O)).
PACKD_HOST_DEVICE inline int64_t adaptive_start(int64_t o, int64_t O, int64_t I) { return (o * I) / O; }
PACKD_HOST_DEVICE inline int64_t adaptive_end(int64_t o, int64_t O, int64_t I) { return ((o + 1) * I + O - 1) / O; }

}  // namespace packd::backend
