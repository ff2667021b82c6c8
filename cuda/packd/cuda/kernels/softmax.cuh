#pragma once
// Softmax, log_softmax and logsumexp along N of contiguous (O, N, I) data, with the CPU kernels'
// formulas (backend/cpu/softmax.hpp): the maximum is subtracted before exp; logsumexp does not
// subtract an infinite maximum (all -inf gives -inf).
//
// A row is the N values of one (o, i), stride I apart. With many rows and I > 1 (softmax over the
// channels of NCHW) or short rows, one thread walks one row: neighbouring threads read neighbouring
// i, so every step is coalesced. Otherwise (rows along contiguous memory, I == 1, or few long rows)
// a block folds one row with a shared-memory tree. Sums are in T, as on the CPU.
#include <cmath>
#include <limits>

#include "packd/backend/softmax_kind.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

namespace softmax_detail {

using backend::SoftmaxKind;

inline constexpr int kThreads = 256;

inline bool thread_per_row(int64_t O, int64_t N, int64_t I) { return N <= 32 || (I > 1 && O * I >= 2048); }

template <class T>
__device__ bool is_inf(T v) {
  return v == std::numeric_limits<T>::infinity() || v == -std::numeric_limits<T>::infinity();
}

template <class T>
__device__ T max_nan_ignored(T a, T b) {
  return b > a ? b : a;  // as std::max on the CPU: a NaN value still poisons the sum of exps
}

struct MaxNanIgnored {
  template <class T>
  __device__ T operator()(T a, T b) const { return max_nan_ignored(a, b); }
};

// Block per row: rows r = o*I + i in a grid-stride loop over blocks.
template <SoftmaxKind K, class T>
__global__ void forward_block_kernel(const T* x, T* y, int64_t O, int64_t N, int64_t I) {
  for (int64_t r = blockIdx.x; r < O * I; r += gridDim.x) {
    const int64_t o = r / I, i = r - o * I;
    const T* px = x + o * N * I + i;
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t k = threadIdx.x; k < N; k += blockDim.x) mx = max_nan_ignored(mx, px[k * I]);
    mx = block_all_reduce<kThreads>(mx, MaxNanIgnored{});
    if constexpr (K == SoftmaxKind::logsumexp)
      if (is_inf(mx)) mx = T(0);
    T sum = T(0);
    for (int64_t k = threadIdx.x; k < N; k += blockDim.x) sum += std::exp(px[k * I] - mx);
    sum = block_all_reduce<kThreads>(sum, DeviceSum{});
    if constexpr (K == SoftmaxKind::logsumexp) {
      if (threadIdx.x == 0) y[r] = mx + std::log(sum);
    } else {
      T* py = y + o * N * I + i;
      if constexpr (K == SoftmaxKind::softmax) {
        const T inv = T(1) / sum;
        for (int64_t k = threadIdx.x; k < N; k += blockDim.x) py[k * I] = std::exp(px[k * I] - mx) * inv;
      } else {
        const T lse = mx + std::log(sum);
        for (int64_t k = threadIdx.x; k < N; k += blockDim.x) py[k * I] = px[k * I] - lse;
      }
    }
  }
}

template <SoftmaxKind K, class T>
__global__ void backward_block_kernel(const T* g, const T* y, T* gx, int64_t O, int64_t N, int64_t I) {
  for (int64_t r = blockIdx.x; r < O * I; r += gridDim.x) {
    const int64_t o = r / I, i = r - o * I;
    const int64_t base = o * N * I + i;
    T acc = T(0);
    for (int64_t k = threadIdx.x; k < N; k += blockDim.x) {
      if constexpr (K == SoftmaxKind::softmax)
        acc += g[base + k * I] * y[base + k * I];
      else
        acc += g[base + k * I];
    }
    acc = block_all_reduce<kThreads>(acc, DeviceSum{});
    for (int64_t k = threadIdx.x; k < N; k += blockDim.x) {
      const int64_t q = base + k * I;
      if constexpr (K == SoftmaxKind::softmax)
        gx[q] = y[q] * (g[q] - acc);
      else
        gx[q] = g[q] - std::exp(y[q]) * acc;
    }
  }
}

// Thread per row: rows r = o*I + i in a grid-stride loop over threads.
template <SoftmaxKind K, class T>
__global__ void forward_thread_kernel(const T* x, T* y, int64_t O, int64_t N, int64_t I) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < O * I; r += int64_t(blockDim.x) * gridDim.x) {
    const int64_t o = r / I, i = r - o * I;
    const T* px = x + o * N * I + i;
    T mx = -std::numeric_limits<T>::infinity(), sum = T(0);
    for (int64_t k = 0; k < N; ++k) mx = max_nan_ignored(mx, px[k * I]);
    if constexpr (K == SoftmaxKind::logsumexp)
      if (is_inf(mx)) mx = T(0);
    for (int64_t k = 0; k < N; ++k) sum += std::exp(px[k * I] - mx);
    if constexpr (K == SoftmaxKind::logsumexp) {
      y[r] = mx + std::log(sum);
    } else {
      T* py = y + o * N * I + i;
      if constexpr (K == SoftmaxKind::softmax) {
        const T inv = T(1) / sum;
        for (int64_t k = 0; k < N; ++k) py[k * I] = std::exp(px[k * I] - mx) * inv;
      } else {
        const T lse = mx + std::log(sum);
        for (int64_t k = 0; k < N; ++k) py[k * I] = px[k * I] - lse;
      }
    }
  }
}

template <SoftmaxKind K, class T>
__global__ void backward_thread_kernel(const T* g, const T* y, T* gx, int64_t O, int64_t N, int64_t I) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < O * I; r += int64_t(blockDim.x) * gridDim.x) {
    const int64_t o = r / I, i = r - o * I;
    const int64_t base = o * N * I + i;
    T acc = T(0);
    for (int64_t k = 0; k < N; ++k) {
      if constexpr (K == SoftmaxKind::softmax)
        acc += g[base + k * I] * y[base + k * I];
      else
        acc += g[base + k * I];
    }
    for (int64_t k = 0; k < N; ++k) {
      const int64_t q = base + k * I;
      if constexpr (K == SoftmaxKind::softmax)
        gx[q] = y[q] * (g[q] - acc);
      else
        gx[q] = g[q] - std::exp(y[q]) * acc;
    }
  }
}

inline unsigned row_blocks(int64_t rows) { return unsigned(std::clamp<int64_t>(rows, 1, int64_t(1) << 20)); }

}  // namespace softmax_detail

template <backend::SoftmaxKind K, class T>
void softmax_forward(const T* x, T* y, int64_t O, int64_t N, int64_t I) {
  namespace sd = softmax_detail;
  const int64_t rows = O * I;
  if (rows == 0) return;
  if (sd::thread_per_row(O, N, I))
    sd::forward_thread_kernel<K><<<grid_for(rows), kBlock, 0, current_stream()>>>(x, y, O, N, I);
  else
    sd::forward_block_kernel<K><<<sd::row_blocks(rows), sd::kThreads, 0, current_stream()>>>(x, y, O, N, I);
  PACKD_CUDA_CHECK_LAUNCH("softmax_forward");
}

template <backend::SoftmaxKind K, class T>
void softmax_backward(const T* g, const T* y, T* gx, int64_t O, int64_t N, int64_t I) {
  namespace sd = softmax_detail;
  const int64_t rows = O * I;
  if (rows == 0) return;
  if (sd::thread_per_row(O, N, I))
    sd::backward_thread_kernel<K><<<grid_for(rows), kBlock, 0, current_stream()>>>(g, y, gx, O, N, I);
  else
    sd::backward_block_kernel<K><<<sd::row_blocks(rows), sd::kThreads, 0, current_stream()>>>(g, y, gx, O, N, I);
  PACKD_CUDA_CHECK_LAUNCH("softmax_backward");
}

}  // namespace packd::cuda::kernels
