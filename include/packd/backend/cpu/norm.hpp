#pragma once
// CPU batch-norm kernels over a contiguous (N, C, S) tensor (S = H*W), parallel over channels.
//
// Each channel's data (N planes of S elements) is processed by one thread from start to end, so
// in training the statistics pass and the normalising pass (forward), and the reduction pass and
// the gradient pass (backward), read the channel while it is still in that core's cache: the
// tensor streams from memory once per direction, not twice as with separate whole-tensor passes.
//
// The per-plane loops are compiled three times (AVX-512, AVX2, baseline) with GCC's target
// attribute and picked at run time, because packd's headers are built without -m flags. Sums use
// per-plane accumulators of T combined in double (acc_t), and the variance is computed around a
// shift (the channel's first element), which keeps sum-of-squares cancellation harmless.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "packd/backend/cpu/loop.hpp"
#include "packd/core/dtype.hpp"

namespace packd::cpu {

namespace bn_detail {

// The plane primitives, instantiated once per instruction set.
#define PACKD_BN_PLANE_FNS(NS, ATTR)                                                                \
  namespace NS {                                                                                    \
  /* s += sum(x - k), ss += sum((x - k)^2) */                                                       \
  template <class T>                                                                                \
  ATTR inline void stats(const T* x, int64_t n, T k, double& s, double& ss) {                       \
    T a = 0, b = 0;                                                                                 \
    _Pragma("omp simd reduction(+ : a, b)") for (int64_t i = 0; i < n; ++i) {                       \
      const T d = x[i] - k;                                                                         \
      a += d;                                                                                       \
      b += d * d;                                                                                   \
    }                                                                                               \
    s += double(a);                                                                                 \
    ss += double(b);                                                                                \
  }                                                                                                 \
  /* y = x * scale + shift */                                                                       \
  template <class T>                                                                                \
  ATTR inline void affine(T* y, const T* x, int64_t n, T scale, T shift) {                          \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale + shift;                \
  }                                                                                                 \
  /* sg += sum(g), sgx += sum(g * (x - m)) */                                                       \
  template <class T>                                                                                \
  ATTR inline void grad_sums(const T* g, const T* x, int64_t n, T m, double& sg, double& sgx) {     \
    T a = 0, b = 0;                                                                                 \
    _Pragma("omp simd reduction(+ : a, b)") for (int64_t i = 0; i < n; ++i) {                       \
      a += g[i];                                                                                    \
      b += g[i] * (x[i] - m);                                                                       \
    }                                                                                               \
    sg += double(a);                                                                                \
    sgx += double(b);                                                                               \
  }                                                                                                 \
  /* gx = A g + B (x - m) + C */                                                                    \
  template <class T>                                                                                \
  ATTR inline void grad_apply(T* gx, const T* g, const T* x, int64_t n, T m, T A, T B, T C) {       \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) gx[i] = A * g[i] + B * (x[i] - m) + C;      \
  }                                                                                                 \
  }  // namespace NS

PACKD_BN_PLANE_FNS(avx512, __attribute__((target("avx512f,fma"))))
PACKD_BN_PLANE_FNS(avx2, __attribute__((target("avx2,fma"))))
PACKD_BN_PLANE_FNS(base, )
#undef PACKD_BN_PLANE_FNS

enum class Isa { base, avx2, avx512 };
inline Isa isa() {
  static const Isa v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") ? Isa::avx512
                       : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? Isa::avx2
                                                                                          : Isa::base;
  return v;
}

template <class T>
void stats(const T* x, int64_t n, T k, double& s, double& ss) {
  switch (isa()) {
    case Isa::avx512: return avx512::stats(x, n, k, s, ss);
    case Isa::avx2: return avx2::stats(x, n, k, s, ss);
    default: return base::stats(x, n, k, s, ss);
  }
}
template <class T>
void affine(T* y, const T* x, int64_t n, T scale, T shift) {
  switch (isa()) {
    case Isa::avx512: return avx512::affine(y, x, n, scale, shift);
    case Isa::avx2: return avx2::affine(y, x, n, scale, shift);
    default: return base::affine(y, x, n, scale, shift);
  }
}
template <class T>
void grad_sums(const T* g, const T* x, int64_t n, T m, double& sg, double& sgx) {
  switch (isa()) {
    case Isa::avx512: return avx512::grad_sums(g, x, n, m, sg, sgx);
    case Isa::avx2: return avx2::grad_sums(g, x, n, m, sg, sgx);
    default: return base::grad_sums(g, x, n, m, sg, sgx);
  }
}
template <class T>
void grad_apply(T* gx, const T* g, const T* x, int64_t n, T m, T A, T B, T C) {
  switch (isa()) {
    case Isa::avx512: return avx512::grad_apply(gx, g, x, n, m, A, B, C);
    case Isa::avx2: return avx2::grad_apply(gx, g, x, n, m, A, B, C);
    default: return base::grad_apply(gx, g, x, n, m, A, B, C);
  }
}

// Runs body(c) for every channel, spread over the worker pool's threads (which claim channels one
// at a time) when the tensor is large enough.
template <class Body>
void for_channels(int64_t C, int64_t numel, Body body) {
  const int nt = std::min<int64_t>(threads_for(numel), std::max<int64_t>(C, 1));
  if (nt <= 1) {
    for (int64_t c = 0; c < C; ++c) body(c);
    return;
  }
  pool_for(C, nt, body);
}

}  // namespace bn_detail

// Training forward. x, y: contiguous (N, C, S). weight/bias: per-channel pointers with stride
// (null = absent). Writes the batch mean and inverse standard deviation 1/sqrt(var + eps)
// (mean, invstd: (C,)), and the unbiased variance (var_unbiased: (C,), may be null) for the
// running statistics.
template <class T>
void batch_norm_train_fwd(T* y, const T* x, int64_t N, int64_t C, int64_t S, const T* weight, int64_t ws,
                          const T* bias, int64_t bs, double eps, T* mean, T* invstd, T* var_unbiased) {
  const int64_t M = N * S;
  bn_detail::for_channels(C, N * C * S, [&](int64_t c) {
    const T k = x[c * S];
    double s = 0, ss = 0;
    for (int64_t n = 0; n < N; ++n) bn_detail::stats(x + (n * C + c) * S, S, k, s, ss);
    const double dm = s / double(M);
    const double var = std::max(0.0, ss / double(M) - dm * dm);
    const double mu = double(k) + dm;
    const double is = 1.0 / std::sqrt(var + eps);
    mean[c] = T(mu);
    invstd[c] = T(is);
    if (var_unbiased) var_unbiased[c] = T(M > 1 ? var * double(M) / double(M - 1) : var);
    const double w = weight ? double(weight[c * ws]) : 1.0;
    const double b = bias ? double(bias[c * bs]) : 0.0;
    const T scale = T(w * is), shift = T(b - mu * w * is);
    for (int64_t n = 0; n < N; ++n) bn_detail::affine(y + (n * C + c) * S, x + (n * C + c) * S, S, scale, shift);
  });
}

// y = x * scale[c] + shift[c] (eval forward, with scale and shift precomputed per channel).
template <class T>
void batch_norm_affine(T* y, const T* x, int64_t N, int64_t C, int64_t S, const T* scale, const T* shift) {
  const int64_t P = N * C;
  const int nt = std::min<int64_t>(threads_for(P * S), std::max<int64_t>(P, 1));
  parallel_for(0, P, nt, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) bn_detail::affine(y + p * S, x + p * S, S, scale[p % C], shift[p % C]);
  });
}

// Backward. g, x, gx: contiguous (N, C, S); gx may be null (no input gradient wanted), gw/gb
// (C,) may be null. mean/invstd are the statistics the forward normalised with (the batch's in
// training, the running ones in eval). In training the input gradient goes through the batch
// statistics: gx = w invstd (g - mean(g) - xhat mean(g xhat)); in eval it is w invstd g.
template <class T>
void batch_norm_bwd(T* gx, T* gw, T* gb, const T* g, const T* x, int64_t N, int64_t C, int64_t S, const T* weight,
                    int64_t ws, const T* mean, const T* invstd, bool training) {
  const double M = double(N * S);
  bn_detail::for_channels(C, N * C * S, [&](int64_t c) {
    const T m = mean[c];
    const double is = double(invstd[c]);
    const double w = weight ? double(weight[c * ws]) : 1.0;
    double sg = 0, sgx = 0;
    const bool need_sums = gw || gb || (gx && training);
    if (need_sums)
      for (int64_t n = 0; n < N; ++n) bn_detail::grad_sums(g + (n * C + c) * S, x + (n * C + c) * S, S, m, sg, sgx);
    if (gw) gw[c] = T(sgx * is);  // sum(g * xhat)
    if (gb) gb[c] = T(sg);
    if (!gx) return;
    const double A = w * is;
    double B = 0, Cc = 0;
    if (training) {
      B = -A * is * is * sgx / M;
      Cc = -A * sg / M;
    }
    for (int64_t n = 0; n < N; ++n)
      bn_detail::grad_apply(gx + (n * C + c) * S, g + (n * C + c) * S, x + (n * C + c) * S, S, m, T(A), T(B), T(Cc));
  });
}

}  // namespace packd::cpu
