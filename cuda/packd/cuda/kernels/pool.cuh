#pragma once
// Pooling kernels over contiguous (P, H, W) planes (P = N*C), one thread per output value in the
// forward passes and, for the average pools' backward, one thread per input value that gathers
// the outputs whose windows cover it (no atomics; it adds in the CPU's order, so the result is the
// CPU's). Max pooling's backward scatters each gradient to its recorded argmax with atomicAdd:
// windows overlap when stride < kernel. The windows are packd/backend/pool_geometry.hpp's, shared
// with the CPU kernels.
#include <limits>

#include "packd/backend/pool_geometry.hpp"
#include "packd/core/dtype.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

using backend::Pool2dGeom;

template <class T>
void max_pool2d_fwd(T* y, int64_t* idx, const T* x, int64_t P, const Pool2dGeom& geom) {
  const Pool2dGeom g = geom;
  for_each_index(P * g.OH * g.OW, [=] __device__(int64_t o) {
    const int64_t ow = o % g.OW, oh = (o / g.OW) % g.OH, p = o / (g.OW * g.OH);
    const T* xp = x + p * g.H * g.W;
    y[o] = backend::max_window(xp, g, oh, ow, idx[o]);
  });
}

template <class T>
void max_pool2d_bwd(T* gx, const T* gy, const int64_t* idx, int64_t P, int64_t HW, int64_t OHW) {
  if (P * HW == 0) return;
  PACKD_CUDA_CHECK(cudaMemsetAsync(gx, 0, sizeof(T) * std::size_t(P * HW), current_stream()));
  for_each_index(P * OHW, [=] __device__(int64_t o) {
    const int64_t i = idx[o];
    if (i >= 0 && i < HW) atomicAdd(gx + (o / OHW) * HW + i, gy[o]);  // a window wholly in the padding has no input
  });
}

template <class T>
void avg_pool2d_fwd(T* y, const T* x, int64_t P, const Pool2dGeom& geom, bool count_include_pad) {
  const Pool2dGeom g = geom;
  for_each_index(P * g.OH * g.OW, [=] __device__(int64_t o) {
    const int64_t ow = o % g.OW, oh = (o / g.OW) % g.OH, p = o / (g.OW * g.OH);
    const T* xp = x + p * g.H * g.W;
    const backend::AvgWindow a = backend::avg_window(g, oh, ow, count_include_pad);
    acc_t<T> s = 0;
    for (int64_t h = a.h0; h < a.h1; ++h)
      for (int64_t w = a.w0; w < a.w1; ++w) s += xp[h * g.W + w];
    y[o] = a.div > 0 ? T(s / acc_t<T>(a.div)) : T(0);
  });
}

// First output index whose window [o*stride - pad, o*stride - pad + k) can reach input i.
__device__ inline int64_t first_window_over(int64_t i, int64_t k, int64_t stride, int64_t pad) {
  const int64_t num = i + pad - k + 1;
  return num <= 0 ? 0 : (num + stride - 1) / stride;
}

template <class T>
void avg_pool2d_bwd(T* gx, const T* gy, int64_t P, const Pool2dGeom& geom, bool count_include_pad) {
  const Pool2dGeom g = geom;
  for_each_index(P * g.H * g.W, [=] __device__(int64_t i) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, p = i / (g.W * g.H);
    const T* yp = gy + p * g.OH * g.OW;
    const int64_t oh1 = std::min(g.OH - 1, (h + g.ph) / g.sh), ow1 = std::min(g.OW - 1, (w + g.pw) / g.sw);
    const int64_t ow0 = first_window_over(w, g.kw, g.sw, g.pw);
    T acc = T(0);
    for (int64_t oh = first_window_over(h, g.kh, g.sh, g.ph); oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const backend::AvgWindow a = backend::avg_window(g, oh, ow, count_include_pad);
        if (a.div > 0 && h >= a.h0 && h < a.h1 && w >= a.w0 && w < a.w1) acc += yp[oh * g.OW + ow] / T(a.div);
      }
    gx[i] = acc;
  });
}

template <class T>
void adaptive_avg_pool2d_fwd(T* y, const T* x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  for_each_index(P * OH * OW, [=] __device__(int64_t o) {
    const int64_t ow = o % OW, oh = (o / OW) % OH, p = o / (OW * OH);
    const T* xp = x + p * H * W;
    const int64_t h0 = backend::adaptive_start(oh, OH, H), h1 = backend::adaptive_end(oh, OH, H);
    const int64_t w0 = backend::adaptive_start(ow, OW, W), w1 = backend::adaptive_end(ow, OW, W);
    acc_t<T> s = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += xp[h * W + w];
    y[o] = T(s / acc_t<T>((h1 - h0) * (w1 - w0)));
  });
}

// Input i lies in the windows of outputs [floor(i*O/I), ceil((i+1)*O/I)) (the adaptive bounds
// read the other way round); membership is still checked with the forward's own bounds.
template <class T>
void adaptive_avg_pool2d_bwd(T* gx, const T* gy, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  for_each_index(P * H * W, [=] __device__(int64_t i) {
    const int64_t w = i % W, h = (i / W) % H, p = i / (W * H);
    const T* yp = gy + p * OH * OW;
    const int64_t oh0 = backend::adaptive_start(h, H, OH), oh1 = backend::adaptive_end(h, H, OH);
    const int64_t ow0 = backend::adaptive_start(w, W, OW), ow1 = backend::adaptive_end(w, W, OW);
    T acc = T(0);
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const int64_t h0 = backend::adaptive_start(oh, OH, H), h1 = backend::adaptive_end(oh, OH, H);
      if (h < h0 || h >= h1) continue;
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t w0 = backend::adaptive_start(ow, OW, W), w1 = backend::adaptive_end(ow, OW, W);
        if (w >= w0 && w < w1) acc += yp[oh * OW + ow] / T((h1 - h0) * (w1 - w0));
      }
    }
    gx[i] = acc;
  });
}

}  // namespace packd::cuda::kernels
