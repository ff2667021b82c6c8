#pragma once
// Synchronised batch norm (torch.nn.SyncBatchNorm): in training, the batch statistics are those of
// the GLOBAL batch (every rank's N H W values per channel), so a data-parallel run with per-rank
// batch B / R normalises exactly as one process with batch B. packd's default is DDP's: per-rank
// statistics (BatchNorm2d without a communicator). `packd train --sync-bn` switches this on.
//
//   mean   = all_reduce_sum(sum_{n,h,w} x) / n_total
//   var    = all_reduce_sum(sum_{n,h,w} (x - mean)^2) / n_total          (biased, as BN normalises)
//   y      = (x - mean) / sqrt(var + eps) * weight + bias
//   running_mean/var updated with the global mean and the global UNBIASED variance, as PyTorch.
//
// Built from differentiable ops and dist::all_reduce_sum, whose backward all-reduces the statistics'
// gradients: the input gradient then runs through the global statistics, as in SyncBatchNorm.
// Two passes (mean, then the centred second moment) rather than E[x^2] - E[x]^2, for accuracy.
#include "packd/backend/cuda/norm.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/dist/autograd.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/reduce.hpp"
#include "packd/ops/view.hpp"

namespace packd::dist {

template <FloatScalar T>
Tensor<T> sync_batch_norm2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, const Tensor<T>& running_mean,
                            const Tensor<T>& running_var, double momentum, double eps, Communicator& comm) {
  PACKD_CHECK(x.dim() == 4, "sync_batch_norm2d: expected a 4-D (N, C, H, W) input, got shape ", x.shape());
  const int64_t C = x.size(1);
  double count = double(x.size(0) * x.size(2) * x.size(3));  // this rank's values per channel
  comm.all_reduce(&count, 1, DType::float64, ReduceOp::sum, Device::cpu());
  PACKD_CHECK(count > 1, "sync_batch_norm2d: expected more than 1 value per channel over all ranks, got input of shape ",
              x.shape());
  const Shape per_channel{1, C, 1, 1};
  Tensor<T> mean = mul(all_reduce_sum(sum(x, {0, 2, 3}), comm), T(1.0 / count));         // (C,)
  Tensor<T> xc = sub(x, mean.reshape(per_channel));                                      // (N, C, H, W)
  Tensor<T> var = mul(all_reduce_sum(sum(mul(xc, xc), {0, 2, 3}), comm), T(1.0 / count));  // (C,) biased
  Tensor<T> y = mul(xc, rsqrt(add(var, T(eps))).reshape(per_channel));                   // (N, C, H, W)
  if (weight.defined()) y = mul(y, weight.reshape(per_channel));
  if (bias.defined()) y = add(y, bias.reshape(per_channel));
  if (running_mean.defined()) {
    NoGradGuard no_grad;
    const Tensor<T> mean_c = mean.contiguous(), var_c = var.contiguous();  // (C,)
    const int64_t ms = running_mean.stride(0), vs = running_var.stride(0);
    const double unbias = count / (count - 1);
    backend::dispatch("sync_batch_norm2d", x.device(), [&] {
      const T *m = mean_c.data(), *v = var_c.data();
      T* rm = running_mean.data();
      T* rv = running_var.data();
      for (int64_t c = 0; c < C; ++c) {
        rm[c * ms] = T((1 - momentum) * double(rm[c * ms]) + momentum * double(m[c]));
        rv[c * vs] = T((1 - momentum) * double(rv[c * vs]) + momentum * double(v[c]) * unbias);
      }
    }, [&] {
      const Tensor<T> var_unbiased = mul(var_c, T(unbias));  // (C,): rounded to T once before the update
      cuda::batch_norm_update_running(running_mean.data(), ms, running_var.data(), vs, mean_c.data(), var_unbiased.data(), C,
                                      momentum);
    });
    running_mean.bump_version();
    running_var.bump_version();
  }
  return y;
}

}  // namespace packd::dist
