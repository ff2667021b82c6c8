#pragma once
// Multi-tensor optimiser kernels: the parameters of one step are cut into chunks of kChunk
// elements (a host table of (parameter, start) pairs, copied to the device with the parameter
// list); each block takes chunks in a grid-stride loop and its threads update consecutive
// elements. The option flags are template parameters, as on the CPU, and the element arithmetic is
// the CPU's, in its order.
#include <cmath>
#include <vector>

#include "packd/backend/cuda/optim.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

inline constexpr int64_t kChunk = 8192;  // elements per chunk (32 per thread)

struct Chunk {
  int64_t param;
  int64_t start;
};

// The chunks of parameters of the given sizes.
inline std::vector<Chunk> chunk_table(const std::vector<int64_t>& numels) {
  std::vector<Chunk> chunks;
  for (std::size_t p = 0; p < numels.size(); ++p)
    for (int64_t s = 0; s < numels[p]; s += kChunk) chunks.push_back({int64_t(p), s});
  return chunks;
}

template <bool kWeightDecay, bool kAmsgrad, class T>
__global__ void adam_kernel(const AdamParam<T>* params, const Chunk* chunks, int64_t nchunks, AdamConstants<T> c) {
  for (int64_t k = blockIdx.x; k < nchunks; k += gridDim.x) {
    const Chunk ch = chunks[k];
    const AdamParam<T> a = params[ch.param];
    const int64_t end = ch.start + kChunk < a.numel ? ch.start + kChunk : a.numel;
    for (int64_t i = ch.start + threadIdx.x; i < end; i += blockDim.x) {
      T gi = a.grad[i];
      if constexpr (kWeightDecay) gi = gi + c.weight_decay * a.param[i];
      const T m = a.exp_avg[i] * c.beta1 + c.one_minus_beta1 * gi;
      a.exp_avg[i] = m;
      const T vi = a.exp_avg_sq[i] * c.beta2 + c.one_minus_beta2 * gi * gi;
      a.exp_avg_sq[i] = vi;
      T denom = vi;
      if constexpr (kAmsgrad) {
        const T old = a.max_exp_avg_sq[i];
        denom = (vi != vi || vi > old) ? vi : old;  // torch.maximum: NaN wins
        a.max_exp_avg_sq[i] = denom;
      }
      denom = sqrt(denom);
      a.param[i] = a.param[i] + a.neg_step_size * m / (denom / a.bias_correction2_sqrt + c.eps);
    }
  }
}

template <bool kWeightDecay, bool kMomentum, bool kNesterov, class T>
__global__ void sgd_kernel(const SgdParam<T>* params, const Chunk* chunks, int64_t nchunks, SgdConstants<T> c) {
  for (int64_t k = blockIdx.x; k < nchunks; k += gridDim.x) {
    const Chunk ch = chunks[k];
    const SgdParam<T> a = params[ch.param];
    const int64_t end = ch.start + kChunk < a.numel ? ch.start + kChunk : a.numel;
    for (int64_t i = ch.start + threadIdx.x; i < end; i += blockDim.x) {
      T d = a.grad[i];
      if constexpr (kWeightDecay) d = d + c.weight_decay * a.param[i];
      if constexpr (kMomentum) {
        const T b = a.first ? d : a.momentum_buffer[i] * c.momentum + c.one_minus_dampening * d;
        a.momentum_buffer[i] = b;
        if constexpr (kNesterov) d = d + c.momentum * b;
        else d = b;
      }
      a.param[i] = a.param[i] + c.neg_lr * d;
    }
  }
}

// Launches kernel over the chunks of `params` (anything with .numel), the list and table on the device.
template <class P, class Launch>
void run_chunks(const std::vector<P>& params, Launch launch) {
  std::vector<int64_t> numels;
  for (const P& p : params) numels.push_back(p.numel);
  const std::vector<Chunk> chunks = chunk_table(numels);
  if (chunks.empty()) return;
  const DeviceCopy<P> dparams(params);
  const DeviceCopy<Chunk> dchunks(chunks);
  const int64_t n = int64_t(chunks.size());
  const unsigned blocks = unsigned(std::min<int64_t>(n, int64_t(1) << 16));
  launch(blocks, dparams.get(), dchunks.get(), n);
}

template <class T>
void adam_step(const std::vector<AdamParam<T>>& params, const AdamConstants<T>& c, bool weight_decay, bool amsgrad) {
  run_chunks(params, [&](unsigned blocks, const AdamParam<T>* p, const Chunk* ch, int64_t n) {
    auto go = [&](auto kernel) {
      kernel<<<blocks, kBlock, 0, current_stream()>>>(p, ch, n, c);
      PACKD_CUDA_CHECK_LAUNCH("adam_kernel");
    };
    if (weight_decay && amsgrad) go(adam_kernel<true, true, T>);
    else if (weight_decay) go(adam_kernel<true, false, T>);
    else if (amsgrad) go(adam_kernel<false, true, T>);
    else go(adam_kernel<false, false, T>);
  });
}

template <class T>
void sgd_step(const std::vector<SgdParam<T>>& params, const SgdConstants<T>& c, bool weight_decay, bool momentum,
              bool nesterov) {
  run_chunks(params, [&](unsigned blocks, const SgdParam<T>* p, const Chunk* ch, int64_t n) {
    auto go = [&](auto kernel) {
      kernel<<<blocks, kBlock, 0, current_stream()>>>(p, ch, n, c);
      PACKD_CUDA_CHECK_LAUNCH("sgd_kernel");
    };
    if (!momentum) {
      if (weight_decay) go(sgd_kernel<true, false, false, T>);
      else go(sgd_kernel<false, false, false, T>);
    } else if (nesterov) {
      if (weight_decay) go(sgd_kernel<true, true, true, T>);
      else go(sgd_kernel<false, true, true, T>);
    } else {
      if (weight_decay) go(sgd_kernel<true, true, false, T>);
      else go(sgd_kernel<false, true, false, T>);
    }
  });
}

}  // namespace packd::cuda::kernels
