#pragma once
// CPU kernels for softmax, log_softmax and logsumexp along one dimension (ops/softmax.hpp), on
// contiguous data viewed as (O, N, I): N is the reduced dim, I the positions after it. Numerically
// stable: the maximum along N is subtracted before exp. When I == 1 each row is reduced on its own;
// otherwise a block of up to kSoftmaxBlock inner positions is processed together, walking N in the
// outer loop, so every step reads a contiguous run (e.g. softmax over channels of NCHW).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "packd/backend/cpu/simd.hpp"
#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/softmax_kind.hpp"

namespace packd::cpu {

inline constexpr int64_t kSoftmaxBlock = 256;

using backend::SoftmaxKind;

// body(o, i0, n) over all blocks, split over threads.
template <class Body>
void softmax_blocks(int64_t O, int64_t N, int64_t I, Body body) {
  for_inner_blocks(O, I, kSoftmaxBlock, threads_for(O * N * I * 8), body);  // exp is ~8 units of work
}

// softmax / log_softmax: y (O, N, I); logsumexp: y (O, I).
template <SoftmaxKind K, class T>
void softmax_forward_kernel(const T* x, T* y, int64_t O, int64_t N, int64_t I) {
  if (I == 1) {  // rows along contiguous memory (e.g. the spatial softmax over H*W)
    softmax_blocks(O, N, I, [&](int64_t o, int64_t, int64_t) {
      const T* px = x + o * N;
      T mx = -std::numeric_limits<T>::infinity(), sum = T(0);
#pragma omp simd reduction(max : mx)
      for (int64_t k = 0; k < N; ++k) mx = std::max(mx, px[k]);
      if constexpr (K == SoftmaxKind::logsumexp)
        if (std::isinf(mx)) mx = T(0);
      if constexpr (K == SoftmaxKind::softmax) {
        T* py = y + o * N;
        for (int64_t k = 0; k < N; ++k) sum += py[k] = std::exp(px[k] - mx);
        const T inv = T(1) / sum;
#pragma omp simd
        for (int64_t k = 0; k < N; ++k) py[k] *= inv;
      } else {
        for (int64_t k = 0; k < N; ++k) sum += std::exp(px[k] - mx);
        const T lse = mx + std::log(sum);
        if constexpr (K == SoftmaxKind::logsumexp) {
          y[o] = lse;
        } else {
          T* py = y + o * N;
#pragma omp simd
          for (int64_t k = 0; k < N; ++k) py[k] = px[k] - lse;
        }
      }
    });
    return;
  }
  softmax_blocks(O, N, I, [&](int64_t o, int64_t i0, int64_t n) {
    T mx[kSoftmaxBlock], sum[kSoftmaxBlock];
    const T* px = x + o * N * I + i0;
    for (int64_t i = 0; i < n; ++i) mx[i] = -std::numeric_limits<T>::infinity(), sum[i] = T(0);
    for (int64_t k = 0; k < N; ++k)
      for (int64_t i = 0; i < n; ++i) mx[i] = std::max(mx[i], px[k * I + i]);
    if constexpr (K == SoftmaxKind::logsumexp)  // as torch.logsumexp: an infinite max is not subtracted
      for (int64_t i = 0; i < n; ++i)
        if (std::isinf(mx[i])) mx[i] = T(0);
    if constexpr (K == SoftmaxKind::softmax) {
      T* py = y + o * N * I + i0;
      for (int64_t k = 0; k < N; ++k)
        for (int64_t i = 0; i < n; ++i) sum[i] += py[k * I + i] = std::exp(px[k * I + i] - mx[i]);
      for (int64_t i = 0; i < n; ++i) sum[i] = T(1) / sum[i];
      for (int64_t k = 0; k < N; ++k)
        for (int64_t i = 0; i < n; ++i) py[k * I + i] *= sum[i];
    } else {
      for (int64_t k = 0; k < N; ++k)
        for (int64_t i = 0; i < n; ++i) sum[i] += std::exp(px[k * I + i] - mx[i]);
      for (int64_t i = 0; i < n; ++i) sum[i] = mx[i] + std::log(sum[i]);  // logsumexp
      if constexpr (K == SoftmaxKind::logsumexp) {
        for (int64_t i = 0; i < n; ++i) y[o * I + i0 + i] = sum[i];
      } else {
        T* py = y + o * N * I + i0;
        for (int64_t k = 0; k < N; ++k)
          for (int64_t i = 0; i < n; ++i) py[k * I + i] = px[k * I + i] - sum[i];
      }
    }
  });
}

// softmax: gx = y (g - sum_N(g y)); log_softmax: gx = g - exp(y) sum_N(g). All (O, N, I) contiguous.
template <SoftmaxKind K, class T>
void softmax_backward_kernel(const T* g, const T* y, T* gx, int64_t O, int64_t N, int64_t I) {
  if (I == 1) {
    softmax_blocks(O, N, I, [&](int64_t o, int64_t, int64_t) {
      const int64_t base = o * N;
      T acc = T(0);
      if constexpr (K == SoftmaxKind::softmax) {
#pragma omp simd reduction(+ : acc)
        for (int64_t k = 0; k < N; ++k) acc += g[base + k] * y[base + k];
#pragma omp simd
        for (int64_t k = 0; k < N; ++k) gx[base + k] = y[base + k] * (g[base + k] - acc);
      } else {
#pragma omp simd reduction(+ : acc)
        for (int64_t k = 0; k < N; ++k) acc += g[base + k];
        for (int64_t k = 0; k < N; ++k) gx[base + k] = g[base + k] - std::exp(y[base + k]) * acc;
      }
    });
    return;
  }
  softmax_blocks(O, N, I, [&](int64_t o, int64_t i0, int64_t n) {
    T acc[kSoftmaxBlock];
    const int64_t base = o * N * I + i0;
    for (int64_t i = 0; i < n; ++i) acc[i] = T(0);
    for (int64_t k = 0; k < N; ++k)
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (K == SoftmaxKind::softmax)
          acc[i] += g[base + k * I + i] * y[base + k * I + i];
        else
          acc[i] += g[base + k * I + i];
      }
    for (int64_t k = 0; k < N; ++k)
      for (int64_t i = 0; i < n; ++i) {
        const int64_t q = base + k * I + i;
        if constexpr (K == SoftmaxKind::softmax)
          gx[q] = y[q] * (g[q] - acc[i]);
        else
          gx[q] = g[q] - std::exp(y[q]) * acc[i];
      }
  });
}

}  // namespace packd::cpu
