#pragma once
// The convolution steps cuDNN is not asked to do: the per-channel bias add (forward) and the bias
// gradient (a per-channel sum accumulated in double, as the CPU's conv2d_backward_bias).
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

// y (N, C, plane) += bias (C)
template <class T>
void add_channel_bias(T* y, const T* bias, int64_t N, int64_t C, int64_t plane) {
  for_each_index(N * C * plane, [=] __device__(int64_t i) { y[i] += bias[i / plane % C]; });
}

// One block per channel k: the block's threads stride over the N * plane values of dy[:, k] (a
// plane at a time, so consecutive threads read consecutive pixels), then a tree in shared memory.
template <class T>
__global__ void channel_sum_kernel(const T* dy, T* db, int64_t N, int64_t K, int64_t plane) {
  __shared__ double part[kBlock];
  const int64_t k = blockIdx.x, count = N * plane;
  double acc = 0;
  for (int64_t j = threadIdx.x; j < count; j += kBlock) {
    const int64_t n = j / plane;
    acc += double(dy[(n * K + k) * plane + (j - n * plane)]);
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[k] = T(part[0]);
}

// db (K) = sum of dy (N, K, plane) over N and plane
template <class T>
void channel_sum(const T* dy, T* db, int64_t N, int64_t K, int64_t plane) {
  if (K <= 0) return;
  PACKD_CHECK(K <= int64_t(INT32_MAX), "conv2d_backward_bias: ", K, " channels exceed the CUDA grid");
  channel_sum_kernel<T><<<unsigned(K), kBlock, 0, current_stream()>>>(dy, db, N, K, plane);
  PACKD_CUDA_CHECK_LAUNCH("channel_sum_kernel");
}

}  // namespace packd::cuda::kernels
