#pragma once
// Batch-norm kernels over a contiguous (N, C, S) tensor (S = H*W).
//
// A channel's N*S values are cut into G slices (G chosen so that C*G blocks fill the GPU even for
// few channels); block (c, g) folds slice g of channel c. Each reduction is two launches without
// atomics: the first writes one double partial per (c, g), the second has every block of a channel
// combine that channel's partials in the same order (so all blocks agree on the statistics) and
// then run the elementwise pass over its slice. Sums accumulate in double around the channel's
// first element, with the CPU kernels' formulas (backend/cpu/norm.hpp).
#include <cmath>
#include <type_traits>

#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

namespace bn {

inline constexpr int kThreads = 256;
inline constexpr int kMaxSlices = 128;

// A channel's flattened index j = n*S + s split into slices of `chunk` values.
struct ChannelSplit {
  int64_t N, C, S, M;  // M = N*S values per channel
  int64_t chunk;
  int G;
};

inline ChannelSplit channel_split(int64_t N, int64_t C, int64_t S) {
  int sms = 0;
  PACKD_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, current_device()));
  const int64_t M = N * S;
  const int64_t want = (int64_t(4) * sms + C - 1) / std::max<int64_t>(C, 1);   // ~4 blocks per SM in all
  const int64_t most = std::max<int64_t>(1, M / (int64_t(8) * kThreads));      // >= 8 values per thread
  const int64_t G0 = std::clamp<int64_t>(std::min(want, most), 1, kMaxSlices);
  const int64_t chunk = std::max<int64_t>(1, (M + G0 - 1) / G0);
  return {N, C, S, M, chunk, int(std::max<int64_t>(1, (M + chunk - 1) / chunk))};  // no empty slice
}

// f(offset) for this thread's values of slice g of channel c: consecutive threads take consecutive
// j, so a warp reads a contiguous run within a plane. (n, s) advance without a division per value.
template <class F>
__device__ void for_slice(const ChannelSplit& sp, int64_t c, int64_t g, F f) {
  const int64_t j1 = std::min(sp.M, (g + 1) * sp.chunk);
  int64_t j = g * sp.chunk + threadIdx.x;
  if (j >= j1) return;
  const int64_t step = blockDim.x, dn = step / sp.S, ds = step - dn * sp.S;
  int64_t n = j / sp.S, s = j - n * sp.S;
  for (; j < j1; j += step) {
    f((n * sp.C + c) * sp.S + s);
    n += dn;
    s += ds;
    if (s >= sp.S) s -= sp.S, ++n;
  }
}

// part[c*G + g] = {sum(x - k), sum((x - k)^2)} over the slice, k = the channel's first value.
template <class T>
__global__ void train_stats_kernel(double2* part, const T* x, ChannelSplit sp) {
  const int64_t c = blockIdx.x, g = blockIdx.y;
  const T k = x[c * sp.S];
  double v[2] = {0, 0};
  for_slice(sp, c, g, [&](int64_t off) {
    const double d = double(T(x[off] - k));
    v[0] += d;
    v[1] += d * d;
  });
  block_all_reduce<kThreads>(v, DeviceSum{});
  if (threadIdx.x == 0) part[c * sp.G + g] = make_double2(v[0], v[1]);
}

// Combines channel c's partials into the statistics (block (c, 0) stores them) and writes
// y = x scale + shift over the slice.
template <class T>
__global__ void train_apply_kernel(T* y, const T* x, ChannelSplit sp, const double2* part, const T* weight, int64_t ws,
                                   const T* bias, int64_t bs, double eps, T* mean, T* invstd, T* var_unbiased) {
  const int64_t c = blockIdx.x, g = blockIdx.y;
  __shared__ T affine[2];
  if (threadIdx.x == 0) {
    double s = 0, ss = 0;
    for (int q = 0; q < sp.G; ++q) s += part[c * sp.G + q].x, ss += part[c * sp.G + q].y;
    const double M = double(sp.M);
    const double dm = s / M;
    const double var = std::max(0.0, ss / M - dm * dm);
    const double mu = double(x[c * sp.S]) + dm;
    const double is = 1.0 / std::sqrt(var + eps);
    if (g == 0) {
      mean[c] = T(mu);
      invstd[c] = T(is);
      if (var_unbiased) var_unbiased[c] = T(sp.M > 1 ? var * M / double(sp.M - 1) : var);
    }
    const double w = weight ? double(weight[c * ws]) : 1.0;
    const double b = bias ? double(bias[c * bs]) : 0.0;
    affine[0] = T(w * is);
    affine[1] = T(b - mu * w * is);
  }
  __syncthreads();
  const T scale = affine[0], shift = affine[1];
  for_slice(sp, c, g, [&](int64_t off) { y[off] = x[off] * scale + shift; });
}

// part[c*G + g] = {sum(g), sum(g (x - m))} over the slice, m = mean[c].
template <class T>
__global__ void grad_sums_kernel(double2* part, const T* gy, const T* x, ChannelSplit sp, const T* mean) {
  const int64_t c = blockIdx.x, g = blockIdx.y;
  const T m = mean[c];
  double v[2] = {0, 0};
  for_slice(sp, c, g, [&](int64_t off) {
    const T gv = gy[off];
    v[0] += double(gv);
    v[1] += double(gv) * double(T(x[off] - m));
  });
  block_all_reduce<kThreads>(v, DeviceSum{});
  if (threadIdx.x == 0) part[c * sp.G + g] = make_double2(v[0], v[1]);
}

// Combines channel c's partials (part null: no sums needed), stores gw/gb from block (c, 0) and
// writes gx = A g + B (x - m) + C over the slice when gx is wanted.
template <class T>
__global__ void grad_apply_kernel(T* gx, T* gw, T* gb, const T* gy, const T* x, ChannelSplit sp, const double2* part,
                                  const T* weight, int64_t ws, const T* mean, const T* invstd, bool training) {
  const int64_t c = blockIdx.x, g = blockIdx.y;
  __shared__ T coef[3];
  if (threadIdx.x == 0) {
    double sg = 0, sgx = 0;
    if (part)
      for (int q = 0; q < sp.G; ++q) sg += part[c * sp.G + q].x, sgx += part[c * sp.G + q].y;
    const double is = double(invstd[c]);
    if (g == 0) {
      if (gw) gw[c] = T(sgx * is);  // sum(g * xhat)
      if (gb) gb[c] = T(sg);
    }
    const double w = weight ? double(weight[c * ws]) : 1.0;
    const double M = double(sp.M);
    const double A = w * is;
    double B = 0, Cc = 0;
    if (training) {
      B = -A * is * is * sgx / M;
      Cc = -A * sg / M;
    }
    coef[0] = T(A), coef[1] = T(B), coef[2] = T(Cc);
  }
  __syncthreads();
  if (!gx) return;
  const T A = coef[0], B = coef[1], Cc = coef[2], m = mean[c];
  for_slice(sp, c, g, [&](int64_t off) { gx[off] = A * gy[off] + B * (x[off] - m) + Cc; });
}

}  // namespace bn

template <class T>
void batch_norm_train_fwd(T* y, const T* x, int64_t N, int64_t C, int64_t S, const T* weight, int64_t ws, const T* bias,
                          int64_t bs, double eps, T* mean, T* invstd, T* var_unbiased) {
  if (C == 0) return;
  const bn::ChannelSplit sp = bn::channel_split(N, C, S);
  DeviceBuffer<double2> part(std::size_t(std::max<int64_t>(C * sp.G, 1)));
  const dim3 grid(unsigned(C), unsigned(sp.G));
  bn::train_stats_kernel<<<grid, bn::kThreads, 0, current_stream()>>>(part.get(), x, sp);
  PACKD_CUDA_CHECK_LAUNCH("batch_norm_train_stats");
  bn::train_apply_kernel<<<grid, bn::kThreads, 0, current_stream()>>>(y, x, sp, part.get(), weight, ws, bias, bs, eps, mean,
                                                                      invstd, var_unbiased);
  PACKD_CUDA_CHECK_LAUNCH("batch_norm_train_apply");
}

template <class T>
void batch_norm_update_running(T* running_mean, int64_t ms, T* running_var, int64_t vs, const T* mean, const T* var_unbiased,
                               int64_t C, double momentum) {
  for_each_index(C, [=] __device__(int64_t c) {
    running_mean[c * ms] = T((1 - momentum) * double(running_mean[c * ms]) + momentum * double(mean[c]));
    running_var[c * vs] = T((1 - momentum) * double(running_var[c * vs]) + momentum * double(var_unbiased[c]));
  });
}

template <class T>
void batch_norm_eval_params(T* mean, T* invstd, T* scale, T* shift, const T* running_mean, int64_t ms, const T* running_var,
                            int64_t vs, const T* weight, int64_t ws, const T* bias, int64_t bs, int64_t C, double eps) {
  for_each_index(C, [=] __device__(int64_t c) {
    const double is = 1.0 / std::sqrt(double(running_var[c * vs]) + eps);
    const double w = weight ? double(weight[c * ws]) : 1.0, b = bias ? double(bias[c * bs]) : 0.0;
    mean[c] = running_mean[c * ms];
    invstd[c] = T(is);
    scale[c] = T(w * is);
    shift[c] = T(b - double(running_mean[c * ms]) * w * is);
  });
}

template <class T>
void batch_norm_affine(T* y, const T* x, int64_t N, int64_t C, int64_t S, const T* scale, const T* shift) {
  const int64_t n = N * C * S;
  if (n < (int64_t(1) << 31)) {  // 32-bit index arithmetic: the channel of a value costs a cheap division
    const uint32_t s32 = uint32_t(S), c32 = uint32_t(C);
    for_each_index(n, [=] __device__(int64_t i) {
      const uint32_t c = (uint32_t(i) / s32) % c32;
      y[i] = x[i] * scale[c] + shift[c];
    });
  } else {
    for_each_index(n, [=] __device__(int64_t i) {
      const int64_t c = (i / S) % C;
      y[i] = x[i] * scale[c] + shift[c];
    });
  }
}

template <class T>
void batch_norm_bwd(T* gx, T* gw, T* gb, const T* g, const T* x, int64_t N, int64_t C, int64_t S, const T* weight,
                    int64_t ws, const T* mean, const T* invstd, bool training) {
  if (C == 0) return;
  const bool need_sums = gw || gb || (gx && training);
  if (!need_sums && !gx) return;
  const bn::ChannelSplit sp = bn::channel_split(N, C, S);
  DeviceBuffer<double2> part(std::size_t(need_sums ? C * sp.G : 1));
  const dim3 grid(unsigned(C), unsigned(sp.G));
  if (need_sums) {
    bn::grad_sums_kernel<<<grid, bn::kThreads, 0, current_stream()>>>(part.get(), g, x, sp, mean);
    PACKD_CUDA_CHECK_LAUNCH("batch_norm_grad_sums");
  }
  bn::grad_apply_kernel<<<grid, bn::kThreads, 0, current_stream()>>>(gx, gw, gb, g, x, sp, need_sums ? part.get() : nullptr,
                                                                     weight, ws, mean, invstd, training);
  PACKD_CUDA_CHECK_LAUNCH("batch_norm_grad_apply");
}

}  // namespace packd::cuda::kernels
