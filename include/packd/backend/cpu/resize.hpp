#pragma once
// CPU kernels for interpolate (ops/resize.hpp) on contiguous planes (P, H, W) -> (P, OH, OW), with
// PyTorch 1.13's source-index rules (aten/src/ATen/native/UpSample.h):
//   bilinear: scale = align_corners ? (in - 1) / (out - 1) (0 when out == 1)
//                                   : (scale_factor given ? 1 / scale_factor : in / out)
//             src = align_corners ? scale * dst : max(scale * (dst + 0.5) - 0.5, 0)
//             i0 = int(src), i1 = i0 + (i0 < in - 1), lambda1 = src - i0; out == in copies.
//             Computed in T, as PyTorch's opmath for float/double.
//   nearest:  out == in: dst; out == 2 in: dst / 2; otherwise (in float, whatever T is)
//             scale = scale_factor given ? 1 / scale_factor : in / out, src = min(floor(dst * scale), in - 1).
// Bilinear forward is separable: each needed input row is interpolated along W once into a small
// two-row cache, then output rows blend two of them (vectorised over OW). Backward is the
// transpose: rows of the gradient are spread over input rows (vectorised), then each input row is
// scattered along W.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "packd/backend/cpu/simd.hpp"
#include "packd/backend/cpu/loop.hpp"

namespace packd::cpu {

template <class T>
struct LinearIndex {
  std::vector<int64_t> i0, i1;
  std::vector<T> l0, l1;
};

template <class T>
LinearIndex<T> linear_index(int64_t in, int64_t out, bool align_corners, std::optional<double> scale_factor) {
  LinearIndex<T> r;
  r.i0.resize(out), r.i1.resize(out), r.l0.resize(out), r.l1.resize(out);
  T scale;
  if (align_corners)
    scale = out > 1 ? T(in - 1) / T(out - 1) : T(0);
  else
    scale = scale_factor && *scale_factor > 0 ? T(1.0 / *scale_factor) : T(in) / T(out);
  for (int64_t d = 0; d < out; ++d) {
    if (in == out) {
      r.i0[d] = r.i1[d] = d, r.l0[d] = T(1), r.l1[d] = T(0);
      continue;
    }
    T src = align_corners ? scale * T(d) : scale * (T(d) + T(0.5)) - T(0.5);
    if (!align_corners && src < T(0)) src = T(0);
    const int64_t i0 = std::min<int64_t>(int64_t(src), in - 1);
    r.i0[d] = i0;
    r.i1[d] = i0 + (i0 < in - 1 ? 1 : 0);
    r.l1[d] = src - T(i0);
    r.l0[d] = T(1) - r.l1[d];
  }
  return r;
}

inline std::vector<int64_t> nearest_index(int64_t in, int64_t out, std::optional<double> scale_factor) {
  std::vector<int64_t> r(out);
  const float scale = scale_factor && *scale_factor > 0 ? float(1.0 / *scale_factor) : float(in) / float(out);
  for (int64_t d = 0; d < out; ++d) {
    if (out == in)
      r[d] = d;
    else if (out == 2 * in)
      r[d] = d >> 1;
    else
      r[d] = std::min<int64_t>(int64_t(std::floor(float(d) * scale)), in - 1);
  }
  return r;
}

// Runs body(a, b) over [0, items) split over threads (work = total cost estimate).
template <class Body>
void resize_parallel(int64_t items, int64_t work, Body body) {
  parallel_chunks(items, threads_for(work), body);
}

template <class T>
void bilinear_forward_kernel(const T* x, T* y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const LinearIndex<T>& ih, const LinearIndex<T>& iw) {
  constexpr int64_t kRows = 32;  // output rows per work item
  const int64_t chunks = (OH + kRows - 1) / kRows, items = P * chunks;
  resize_parallel(items, P * OH * OW * 4, [&](int64_t a, int64_t b) {
    std::vector<T> cache(2 * OW);
    simd_run([&] {
      int64_t cached[2] = {-1, -1};
      int64_t cached_plane = -1;
      const int64_t* w0 = iw.i0.data();
      const int64_t* w1 = iw.i1.data();
      const T* lw0 = iw.l0.data();
      const T* lw1 = iw.l1.data();
      // the input row h of plane p interpolated along W, from the cache (slot `avoid` is in use)
      auto row = [&](const T* xp, int64_t h, int avoid) -> const T* {
        for (int s = 0; s < 2; ++s)
          if (cached[s] == h) return cache.data() + s * OW;
        const int s = avoid == 0 ? 1 : 0;
        T* dst = cache.data() + s * OW;
        const T* src = xp + h * W;
        for (int64_t j = 0; j < OW; ++j) dst[j] = lw0[j] * src[w0[j]] + lw1[j] * src[w1[j]];
        cached[s] = h;
        return dst;
      };
      for (int64_t it = a; it < b; ++it) {
        const int64_t p = it / chunks, r0 = (it % chunks) * kRows, r1 = std::min(OH, r0 + kRows);
        if (p != cached_plane) cached[0] = cached[1] = -1, cached_plane = p;
        const T* xp = x + p * H * W;
        for (int64_t oh = r0; oh < r1; ++oh) {
          const T* top = row(xp, ih.i0[oh], -1);
          const int slot = top == cache.data() ? 0 : 1;
          const T* bot = row(xp, ih.i1[oh], slot);
          const T a0 = ih.l0[oh], a1 = ih.l1[oh];
          T* dst = y + (p * OH + oh) * OW;
          for (int64_t j = 0; j < OW; ++j) dst[j] = a0 * top[j] + a1 * bot[j];
        }
      }
    });
  });
}

template <class T>
void bilinear_backward_kernel(const T* g, T* gx, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              const LinearIndex<T>& ih, const LinearIndex<T>& iw) {
  resize_parallel(P, P * OH * OW * 4, [&](int64_t a, int64_t b) {
    std::vector<T> tmp(H * OW);  // the gradient spread over input rows, still OW wide
    simd_run([&] {
      for (int64_t p = a; p < b; ++p) {
        std::fill(tmp.begin(), tmp.end(), T(0));
        for (int64_t oh = 0; oh < OH; ++oh) {
          const T* src = g + (p * OH + oh) * OW;
          T* t0 = tmp.data() + ih.i0[oh] * OW;
          T* t1 = tmp.data() + ih.i1[oh] * OW;
          const T a0 = ih.l0[oh], a1 = ih.l1[oh];
          for (int64_t j = 0; j < OW; ++j) t0[j] += a0 * src[j];
          for (int64_t j = 0; j < OW; ++j) t1[j] += a1 * src[j];
        }
        T* gp = gx + p * H * W;
        std::fill(gp, gp + H * W, T(0));
        for (int64_t h = 0; h < H; ++h) {
          const T* t = tmp.data() + h * OW;
          T* dst = gp + h * W;
          for (int64_t j = 0; j < OW; ++j) {
            dst[iw.i0[j]] += iw.l0[j] * t[j];
            dst[iw.i1[j]] += iw.l1[j] * t[j];
          }
        }
      }
    });
  });
}

template <class T>
void nearest_forward_kernel(const T* x, T* y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const std::vector<int64_t>& ih, const std::vector<int64_t>& iw) {
  resize_parallel(P * OH, P * OH * OW, [&](int64_t a, int64_t b) {
    for (int64_t it = a; it < b; ++it) {
      const int64_t p = it / OH, oh = it % OH;
      const T* src = x + (p * H + ih[oh]) * W;
      T* dst = y + it * OW;
      for (int64_t j = 0; j < OW; ++j) dst[j] = src[iw[j]];
    }
  });
}

template <class T>
void nearest_backward_kernel(const T* g, T* gx, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const std::vector<int64_t>& ih, const std::vector<int64_t>& iw) {
  resize_parallel(P, P * OH * OW, [&](int64_t a, int64_t b) {
    for (int64_t p = a; p < b; ++p) {
      T* gp = gx + p * H * W;
      std::fill(gp, gp + H * W, T(0));
      for (int64_t oh = 0; oh < OH; ++oh) {
        const T* src = g + (p * OH + oh) * OW;
        T* dst = gp + ih[oh] * W;
        for (int64_t j = 0; j < OW; ++j) dst[iw[j]] += src[j];
      }
    }
  });
}

}  // namespace packd::cpu
