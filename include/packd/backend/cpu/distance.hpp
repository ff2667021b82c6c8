#pragma once
// CPU kernels for cosine_similarity and normalize (ops/distance.hpp): reductions over one strided
// dimension C of tensors viewed as (O, C, I) (O = the dims before C, I = the dims after, each
// collapsed into one stride). The reduction walks C in the outer loop and a block of up to
// kDistBlock inner positions in the inner loop, so for NCHW over channels each step reads a
// contiguous run of H*W values and the accumulators stay in L1 (vectorised over positions).
// When I == 1 (reducing the last, contiguous dim) the loop is a SIMD reduction along C instead.
// Sums are in T (per-position accumulators, as PyTorch's float sums).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "packd/backend/cpu/simd.hpp"
#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/distance_strides.hpp"

namespace packd::cpu {

inline constexpr int64_t kDistBlock = 512;

using backend::Strides3;

// Calls body(o, i0, n) for every block of positions, split over threads.
template <class Body>
void dist_blocks(int64_t O, int64_t C, int64_t I, Body body) {
  for_inner_blocks(O, I, kDistBlock, threads_for(O * C * I, 16384), body);
}

// out = cos, n1 = ||x1||, n2 = ||x2|| (unclamped), all (O, I) contiguous.
template <class T>
void cosine_forward_kernel(const T* x1, Strides3 s1, const T* x2, Strides3 s2, int64_t O, int64_t C, int64_t I, T eps,
                           T* out, T* n1, T* n2) {
  dist_blocks(O, C, I, [&](int64_t o, int64_t i0, int64_t n) {
    T w12[kDistBlock], w1[kDistBlock], w2[kDistBlock];
    for (int64_t i = 0; i < n; ++i) w12[i] = w1[i] = w2[i] = T(0);
    const T* a = x1 + o * s1.o + i0 * s1.i;
    const T* b = x2 + o * s2.o + i0 * s2.i;
    if (I == 1) {
      T d = 0, q1 = 0, q2 = 0;
      if (s1.c == 1 && s2.c == 1) {
#pragma omp simd reduction(+ : d, q1, q2)
        for (int64_t c = 0; c < C; ++c) {
          d += a[c] * b[c];
          q1 += a[c] * a[c];
          q2 += b[c] * b[c];
        }
      } else {
        for (int64_t c = 0; c < C; ++c) {
          const T u = a[c * s1.c], v = b[c * s2.c];
          d += u * v;
          q1 += u * u;
          q2 += v * v;
        }
      }
      w12[0] = d, w1[0] = q1, w2[0] = q2;
    } else if (s1.i == 1 && s2.i == 1) {
      for (int64_t c = 0; c < C; ++c) {
        const T* pa = a + c * s1.c;
        const T* pb = b + c * s2.c;
        for (int64_t i = 0; i < n; ++i) {
          w12[i] += pa[i] * pb[i];
          w1[i] += pa[i] * pa[i];
          w2[i] += pb[i] * pb[i];
        }
      }
    } else {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < n; ++i) {
          const T u = a[c * s1.c + i * s1.i], v = b[c * s2.c + i * s2.i];
          w12[i] += u * v;
          w1[i] += u * u;
          w2[i] += v * v;
        }
    }
    T* po = out + o * I + i0;
    T* p1 = n1 + o * I + i0;
    T* p2 = n2 + o * I + i0;
    for (int64_t i = 0; i < n; ++i) {
      const T r1 = std::sqrt(w1[i]), r2 = std::sqrt(w2[i]);
      p1[i] = r1;
      p2[i] = r2;
      // PyTorch 1.13: each norm clamped to eps separately
      po[i] = w12[i] / (std::max(r1, eps) * std::max(r2, eps));
    }
  });
}

// gx1 = g (x2 / (c1 c2) - cos x1 / c1^2), gx2 = g (x1 / (c1 c2) - cos x2 / c2^2), with
// c = max(||x||, eps): PyTorch 1.13's gradient (its norms are clamped in place under no_grad, so
// the clamped value also enters the norm's backward). gx1/gx2 are (O, C, I) contiguous, or null.
template <class T>
void cosine_backward_kernel(const T* x1, Strides3 s1, const T* x2, Strides3 s2, int64_t O, int64_t C, int64_t I, T eps,
                            const T* g, const T* cos, const T* n1, const T* n2, T* gx1, T* gx2) {
  dist_blocks(O, C, I, [&](int64_t o, int64_t i0, int64_t n) {
    T k12[kDistBlock], k1[kDistBlock], k2[kDistBlock];
    const int64_t q = o * I + i0;
    for (int64_t i = 0; i < n; ++i) {
      const T c1 = std::max(n1[q + i], eps), c2 = std::max(n2[q + i], eps);
      k12[i] = g[q + i] / (c1 * c2);
      k1[i] = g[q + i] * cos[q + i] / (c1 * c1);
      k2[i] = g[q + i] * cos[q + i] / (c2 * c2);
    }
    const T* a = x1 + o * s1.o + i0 * s1.i;
    const T* b = x2 + o * s2.o + i0 * s2.i;
    const bool unit = s1.i == 1 && s2.i == 1;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t oc = (o * C + c) * I + i0;
      const T* pa = a + c * s1.c;
      const T* pb = b + c * s2.c;
      if (unit) {
        if (gx1)
          for (int64_t i = 0; i < n; ++i) gx1[oc + i] = k12[i] * pb[i] - k1[i] * pa[i];
        if (gx2)
          for (int64_t i = 0; i < n; ++i) gx2[oc + i] = k12[i] * pa[i] - k2[i] * pb[i];
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const T u = pa[i * s1.i], v = pb[i * s2.i];
          if (gx1) gx1[oc + i] = k12[i] * v - k1[i] * u;
          if (gx2) gx2[oc + i] = k12[i] * u - k2[i] * v;
        }
      }
    }
  });
}

// y = x / max(||x||, eps) (y (O, C, I) contiguous), nrm = ||x|| (O, I).
template <class T>
void normalize_forward_kernel(const T* x, Strides3 s, int64_t O, int64_t C, int64_t I, T eps, T* y, T* nrm) {
  dist_blocks(O, C, I, [&](int64_t o, int64_t i0, int64_t n) {
    T acc[kDistBlock];
    for (int64_t i = 0; i < n; ++i) acc[i] = T(0);
    const T* a = x + o * s.o + i0 * s.i;
    if (I == 1) {
      T q = 0;
      if (s.c == 1) {
#pragma omp simd reduction(+ : q)
        for (int64_t c = 0; c < C; ++c) q += a[c] * a[c];
      } else {
        for (int64_t c = 0; c < C; ++c) q += a[c * s.c] * a[c * s.c];
      }
      acc[0] = q;
    } else {
      for (int64_t c = 0; c < C; ++c) {
        const T* pa = a + c * s.c;
        if (s.i == 1)
          for (int64_t i = 0; i < n; ++i) acc[i] += pa[i] * pa[i];
        else
          for (int64_t i = 0; i < n; ++i) acc[i] += pa[i * s.i] * pa[i * s.i];
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      nrm[o * I + i0 + i] = std::sqrt(acc[i]);
      acc[i] = T(1) / std::max(nrm[o * I + i0 + i], eps);
    }
    for (int64_t c = 0; c < C; ++c) {
      const T* pa = a + c * s.c;
      T* py = y + (o * C + c) * I + i0;
      if (s.i == 1)
        for (int64_t i = 0; i < n; ++i) py[i] = pa[i] * acc[i];
      else
        for (int64_t i = 0; i < n; ++i) py[i] = pa[i * s.i] * acc[i];
    }
  });
}

// gx = (g - y [||x|| >= eps] sum_c(g y)) / max(||x||, eps); g, y, gx (O, C, I) contiguous.
template <class T>
void normalize_backward_kernel(const T* g, const T* y, const T* nrm, int64_t O, int64_t C, int64_t I, T eps, T* gx) {
  dist_blocks(O, C, I, [&](int64_t o, int64_t i0, int64_t n) {
    T dot[kDistBlock], inv[kDistBlock];
    for (int64_t i = 0; i < n; ++i) dot[i] = T(0);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t oc = (o * C + c) * I + i0;
      for (int64_t i = 0; i < n; ++i) dot[i] += g[oc + i] * y[oc + i];
    }
    for (int64_t i = 0; i < n; ++i) {
      const T r = nrm[o * I + i0 + i];
      inv[i] = T(1) / std::max(r, eps);
      if (!(r >= eps)) dot[i] = T(0);  // clamped: the norm gets no gradient
    }
    for (int64_t c = 0; c < C; ++c) {
      const int64_t oc = (o * C + c) * I + i0;
      for (int64_t i = 0; i < n; ++i) gx[oc + i] = (g[oc + i] - y[oc + i] * dot[i]) * inv[i];
    }
  });
}

}  // namespace packd::cpu
