#pragma once
// CPU pooling kernels over contiguous (P, H, W) planes (P = N*C), parallel over planes (chunks of
// planes claimed from the worker pool, parallel.hpp).
// Window geometry follows PyTorch's CPU kernels (aten/src/ATen/native/cpu/{MaxPoolKernel,
// AvgPoolKernel,AdaptiveAvgPoolKernel}.cpp): max-pool indices are flat offsets h*W + w within the
// input plane; NaN wins a max window; average windows are clipped to the padded input for the
// divisor (count_include_pad) and to the input for the sum.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/pool_geometry.hpp"
#include "packd/core/dtype.hpp"

namespace packd::cpu {

using backend::Pool2dGeom;
using backend::AvgWindow;
using backend::avg_window;
using backend::adaptive_start;
using backend::adaptive_end;

template <class Body>
void for_planes(int64_t P, int64_t work, Body body) {
  const int nt = std::min<int64_t>(threads_for(work), std::max<int64_t>(P, 1));
  parallel_for(0, P, nt, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) body(p);
  });
}

template <class T>
void max_pool2d_fwd(T* y, int64_t* idx, const T* x, int64_t P, const Pool2dGeom& g) {
  for_planes(P, P * g.OH * g.OW * g.kh * g.kw, [&](int64_t p) {
    const T* xp = x + p * g.H * g.W;
    T* yp = y + p * g.OH * g.OW;
    int64_t* ip = idx + p * g.OH * g.OW;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) yp[oh * g.OW + ow] = backend::max_window(xp, g, oh, ow, ip[oh * g.OW + ow]);
  });
}

// gx (P, H, W) = 0, then gx[idx] += g per plane.
template <class T>
void max_pool2d_bwd(T* gx, const T* gy, const int64_t* idx, int64_t P, int64_t HW, int64_t OHW) {
  for_planes(P, P * (HW + OHW), [&](int64_t p) {
    T* gp = gx + p * HW;
    std::fill(gp, gp + HW, T(0));
    const T* g = gy + p * OHW;
    const int64_t* ip = idx + p * OHW;
    // a window wholly in the padding (dilated kernels) has no input: its index is past the plane
    for (int64_t o = 0; o < OHW; ++o)
      if (ip[o] >= 0 && ip[o] < HW) gp[ip[o]] += g[o];
  });
}

template <class T>
void avg_pool2d_fwd(T* y, const T* x, int64_t P, const Pool2dGeom& g, bool count_include_pad) {
  for_planes(P, P * g.OH * g.OW * g.kh * g.kw, [&](int64_t p) {
    const T* xp = x + p * g.H * g.W;
    T* yp = y + p * g.OH * g.OW;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const AvgWindow a = avg_window(g, oh, ow, count_include_pad);
        acc_t<T> s = 0;
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) s += xp[h * g.W + w];
        yp[oh * g.OW + ow] = a.div > 0 ? T(s / acc_t<T>(a.div)) : T(0);
      }
  });
}

template <class T>
void avg_pool2d_bwd(T* gx, const T* gy, int64_t P, const Pool2dGeom& g, bool count_include_pad) {
  for_planes(P, P * (g.H * g.W + g.OH * g.OW * g.kh * g.kw), [&](int64_t p) {
    T* gp = gx + p * g.H * g.W;
    std::fill(gp, gp + g.H * g.W, T(0));
    const T* yp = gy + p * g.OH * g.OW;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const AvgWindow a = avg_window(g, oh, ow, count_include_pad);
        if (a.div <= 0) continue;
        const T v = yp[oh * g.OW + ow] / T(a.div);
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) gp[h * g.W + w] += v;
      }
  });
}

template <class T>
void adaptive_avg_pool2d_fwd(T* y, const T* x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  for_planes(P, P * H * W, [&](int64_t p) {
    const T* xp = x + p * H * W;
    T* yp = y + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
        acc_t<T> s = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) s += xp[h * W + w];
        yp[oh * OW + ow] = T(s / acc_t<T>((h1 - h0) * (w1 - w0)));
      }
    }
  });
}

template <class T>
void adaptive_avg_pool2d_bwd(T* gx, const T* gy, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  for_planes(P, P * H * W, [&](int64_t p) {
    T* gp = gx + p * H * W;
    std::fill(gp, gp + H * W, T(0));
    const T* yp = gy + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
        const T v = yp[oh * OW + ow] / T((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) gp[h * W + w] += v;
      }
    }
  });
}

}  // namespace packd::cpu
