#pragma once
// cosine_similarity and normalize: per-position sums over the C axis of operands viewed as
// (O, C, I) (strides per operand, packd/backend/distance_strides.hpp), then elementwise passes
// that use those per-position values. The formulas, PyTorch 1.13's per-norm eps clamping included,
// are the CPU kernels' (backend/cpu/distance.hpp); sums are in T, as there.
//
// A position (o, i) is folded by one thread when positions are many and I > 1 (neighbouring
// threads read neighbouring i: coalesced) or C is short; otherwise (I == 1: reducing a contiguous
// last dim, or few long rows) a block folds one position with a shared-memory tree.
#include <algorithm>

#include "packd/backend/distance_strides.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

namespace dist {

using backend::Strides3;

inline constexpr int kThreads = 256;

inline bool thread_per_position(int64_t O, int64_t C, int64_t I) {
  return C <= 32 || (I > 1 && (O * I >= 1024 || C < 1024));
}

template <class T, int K>
struct Sums {
  T v[K];
};

template <class T, int K, class Term, class Finish>
__global__ void positions_block_kernel(int64_t O, int64_t C, int64_t I, Term term, Finish finish) {
  for (int64_t r = blockIdx.x; r < O * I; r += gridDim.x) {
    const int64_t o = r / I, i = r - o * I;
    Sums<T, K> s{};
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) term(s.v, o, c, i);
    block_all_reduce<kThreads>(s.v, DeviceSum{});
    if (threadIdx.x == 0) finish(o, i, s.v);
  }
}

// For every position (o, i): term(acc, o, c, i) adds c's contributions to acc[0..K), starting from
// zeros; finish(o, i, acc) then stores the position's results. Term and Finish are device functors.
template <class T, int K, class Term, class Finish>
void fold_positions(int64_t O, int64_t C, int64_t I, Term term, Finish finish) {
  if (O * I == 0) return;
  if (thread_per_position(O, C, I)) {
    for_each_index(O * I, [=] __device__(int64_t r) {
      const int64_t o = r / I, i = r - o * I;
      T acc[K] = {};
      for (int64_t c = 0; c < C; ++c) term(acc, o, c, i);
      finish(o, i, acc);
    });
    return;
  }
  const unsigned blocks = unsigned(std::clamp<int64_t>(O * I, 1, int64_t(1) << 20));
  positions_block_kernel<T, K><<<blocks, kThreads, 0, current_stream()>>>(O, C, I, term, finish);
  PACKD_CUDA_CHECK_LAUNCH("distance_fold");
}

// f(q, o, c, i) for every element q = (o*C + c)*I + i of a contiguous (O, C, I) output.
template <class F>
void for_each_oci(int64_t O, int64_t C, int64_t I, F f) {
  for_each_index(O * C * I, [=] __device__(int64_t q) {
    const int64_t i = q % I, oc = q / I, c = oc % C, o = oc / C;
    f(q, o, c, i);
  });
}

}  // namespace dist

template <class T>
void cosine_forward(const T* x1, backend::Strides3 s1, const T* x2, backend::Strides3 s2, int64_t O, int64_t C, int64_t I,
                    T eps, T* out, T* n1, T* n2) {
  dist::fold_positions<T, 3>(
      O, C, I,
      [=] __device__(T* acc, int64_t o, int64_t c, int64_t i) {
        const T u = x1[o * s1.o + c * s1.c + i * s1.i], v = x2[o * s2.o + c * s2.c + i * s2.i];
        acc[0] += u * v;
        acc[1] += u * u;
        acc[2] += v * v;
      },
      [=] __device__(int64_t o, int64_t i, const T* acc) {
        const int64_t q = o * I + i;
        const T r1 = std::sqrt(acc[1]), r2 = std::sqrt(acc[2]);
        n1[q] = r1;
        n2[q] = r2;
        out[q] = acc[0] / (std::max(r1, eps) * std::max(r2, eps));  // PyTorch 1.13: each norm clamped separately
      });
}

template <class T>
void cosine_backward(const T* x1, backend::Strides3 s1, const T* x2, backend::Strides3 s2, int64_t O, int64_t C, int64_t I,
                     T eps, const T* g, const T* cos, const T* n1, const T* n2, T* gx1, T* gx2) {
  dist::for_each_oci(O, C, I, [=] __device__(int64_t q, int64_t o, int64_t c, int64_t i) {
    const int64_t p = o * I + i;
    const T c1 = std::max(n1[p], eps), c2 = std::max(n2[p], eps);
    const T k12 = g[p] / (c1 * c2);
    const T u = x1[o * s1.o + c * s1.c + i * s1.i], v = x2[o * s2.o + c * s2.c + i * s2.i];
    if (gx1) gx1[q] = k12 * v - g[p] * cos[p] / (c1 * c1) * u;
    if (gx2) gx2[q] = k12 * u - g[p] * cos[p] / (c2 * c2) * v;
  });
}

template <class T>
void normalize_forward(const T* x, backend::Strides3 s, int64_t O, int64_t C, int64_t I, T eps, T* y, T* nrm) {
  dist::fold_positions<T, 1>(
      O, C, I,
      [=] __device__(T* acc, int64_t o, int64_t c, int64_t i) {
        const T u = x[o * s.o + c * s.c + i * s.i];
        acc[0] += u * u;
      },
      [=] __device__(int64_t o, int64_t i, const T* acc) { nrm[o * I + i] = std::sqrt(acc[0]); });
  dist::for_each_oci(O, C, I, [=] __device__(int64_t q, int64_t o, int64_t c, int64_t i) {
    const T inv = T(1) / std::max(nrm[o * I + i], eps);
    y[q] = x[o * s.o + c * s.c + i * s.i] * inv;
  });
}

template <class T>
void normalize_backward(const T* g, const T* y, const T* nrm, int64_t O, int64_t C, int64_t I, T eps, T* gx) {
  DeviceBuffer<T> dot(std::size_t(std::max<int64_t>(O * I, 1)));  // (O, I) sum_c(g y), 0 where the norm was clamped
  T* d = dot.get();
  dist::fold_positions<T, 1>(
      O, C, I,
      [=] __device__(T* acc, int64_t o, int64_t c, int64_t i) {
        const int64_t q = (o * C + c) * I + i;
        acc[0] += g[q] * y[q];
      },
      [=] __device__(int64_t o, int64_t i, const T* acc) {
        const int64_t p = o * I + i;
        d[p] = nrm[p] >= eps ? acc[0] : T(0);  // clamped: the norm gets no gradient
      });
  dist::for_each_oci(O, C, I, [=] __device__(int64_t q, int64_t o, int64_t, int64_t i) {
    const int64_t p = o * I + i;
    gx[q] = (g[q] - y[q] * d[p]) * (T(1) / std::max(nrm[p], eps));
  });
}

}  // namespace packd::cuda::kernels
