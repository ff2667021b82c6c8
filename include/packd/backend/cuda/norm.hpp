#pragma once
// CUDA batch-norm kernels (cuda/norm.cu): the declarations ops/norm.hpp calls through
// backend::dispatch, with the arguments of the CPU kernels (packd/backend/cpu/norm.hpp) on device
// pointers. Per-channel sums accumulate in double, around the channel's first element as on the CPU.
#include <cstdint>

namespace packd::cuda {

// Training forward. x, y: contiguous (N, C, S); weight/bias: per-channel with stride (null =
// absent); writes mean, invstd = 1/sqrt(biased var + eps) and the unbiased variance (C,) (var_unbiased
// may be null).
template <class T>
void batch_norm_train_fwd(T* y, const T* x, int64_t N, int64_t C, int64_t S, const T* weight, int64_t ws,
                          const T* bias, int64_t bs, double eps, T* mean, T* invstd, T* var_unbiased);

// running = (1 - momentum) running + momentum batch_stat, per channel (running_* strided (C,)), as
// the CPU path of batch_norm2d does on the host.
template <class T>
void batch_norm_update_running(T* running_mean, int64_t ms, T* running_var, int64_t vs, const T* mean,
                               const T* var_unbiased, int64_t C, double momentum);

// Eval statistics: mean = running_mean, invstd = 1/sqrt(running_var + eps), and the folded affine
// y = x scale + shift (all (C,) contiguous outputs), as the CPU path of batch_norm2d computes them.
template <class T>
void batch_norm_eval_params(T* mean, T* invstd, T* scale, T* shift, const T* running_mean, int64_t ms,
                            const T* running_var, int64_t vs, const T* weight, int64_t ws, const T* bias, int64_t bs,
                            int64_t C, double eps);

// y = x * scale[c] + shift[c] over contiguous (N, C, S).
template <class T>
void batch_norm_affine(T* y, const T* x, int64_t N, int64_t C, int64_t S, const T* scale, const T* shift);

// Backward: gx (may be null), gw, gb (C,) (may be null) from g, x (contiguous (N, C, S)) and the
// statistics the forward normalised with; training routes the input gradient through them.
template <class T>
void batch_norm_bwd(T* gx, T* gw, T* gb, const T* g, const T* x, int64_t N, int64_t C, int64_t S, const T* weight,
                    int64_t ws, const T* mean, const T* invstd, bool training);

}  // namespace packd::cuda
