#pragma once
// Batch normalisation over NCHW tensors, as torch.nn.functional.batch_norm on 4-D input:
//
//   batch_norm2d(x (N,C,H,W), weight (C,) | {}, bias (C,) | {}, running_mean (C,) | {},
//                running_var (C,) | {}, training, momentum = 0.1, eps = 1e-5) -> (N,C,H,W)
//
//   training: normalises with the batch statistics (mean and biased variance over N, H, W) and,
//             when the running buffers are given, updates them in place without autograd:
//                 running = (1 - momentum) * running + momentum * batch_stat,
//             with the UNBIASED batch variance for running_var, exactly as PyTorch. Their version
//             counters are bumped. Needs more than one value per channel.
//   eval:     normalises with running_mean / running_var (both required).
//   Gradients reach x, weight and bias; in training the input gradient goes through the batch
//   statistics (the full formula), in eval it is the per-channel affine map's.
//
//   fold_batch_norm(conv_weight (Cout, Cin/g, kh, kw), conv_bias | {}, running_mean, running_var,
//                   gamma | {}, beta | {}, eps) -> {weight, bias}
//   folds an eval-mode batch norm that follows a convolution into that convolution:
//       bn(conv(x, W, b)) == conv(x, W * s[:, None, None, None], (b - running_mean) * s + beta),
//   s = gamma / sqrt(running_var + eps). Built from differentiable packd ops.
//
// Forward and backward run one fused kernel each: on the CPU parallel over channels
// (backend/cpu/norm.hpp), on CUDA over channel slices (backend/cuda/norm.hpp).
#include <cmath>
#include <utility>

#include "packd/backend/cpu/norm.hpp"
#include "packd/backend/cuda/norm.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/view.hpp"

namespace packd {

namespace detail {

template <FloatScalar T>
void check_bn_param(const Tensor<T>& p, const Tensor<T>& x, const char* what) {
  if (!p.defined()) return;
  PACKD_CHECK(p.dim() == 1 && p.size(0) == x.size(1), "batch_norm2d: ", what, " of shape ", p.shape(),
              " does not match the ", x.size(1), " channels of the input of shape ", x.shape());
  check_same_device(p, x, "batch_norm2d");
}

}  // namespace detail

template <FloatScalar T>
Tensor<T> batch_norm2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, const Tensor<T>& running_mean,
                       const Tensor<T>& running_var, bool training, double momentum = 0.1, double eps = 1e-5) {
  PACKD_CHECK(x.dim() == 4, "batch_norm2d: expected a 4-D (N, C, H, W) input, got shape ", x.shape());
  detail::check_bn_param(weight, x, "weight");
  detail::check_bn_param(bias, x, "bias");
  detail::check_bn_param(running_mean, x, "running_mean");
  detail::check_bn_param(running_var, x, "running_var");
  PACKD_CHECK(running_mean.defined() == running_var.defined(), "batch_norm2d: running_mean and running_var must be given together");
  PACKD_CHECK(training || running_mean.defined(), "batch_norm2d: eval mode needs running_mean and running_var (input shape ",
              x.shape(), ")");
  PACKD_CHECK(eps > 0, "batch_norm2d: eps must be positive, got ", eps);
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2) * x.size(3);
  PACKD_CHECK(!training || N * S > 1, "batch_norm2d: expected more than 1 value per channel when training, got input of shape ",
              x.shape());

  Tensor<T> xc = x.contiguous();                            // (N, C, H, W)
  Tensor<T> out = Tensor<T>::empty(x.shape(), x.device());  // (N, C, H, W)
  Tensor<T> mean = Tensor<T>::empty({C}, x.device());       // (C,) what the output was normalised with
  Tensor<T> invstd = Tensor<T>::empty({C}, x.device());     // (C,) 1 / sqrt(var + eps)
  const T* w = weight.defined() ? weight.data() : nullptr;
  const T* b = bias.defined() ? bias.data() : nullptr;
  const int64_t ws = weight.defined() ? weight.stride(0) : 0, bs = bias.defined() ? bias.stride(0) : 0;

  backend::dispatch("batch_norm2d", x.device(), [&] {
    if (training) {
      Tensor<T> var_u = Tensor<T>::empty({C}, x.device());  // (C,) unbiased batch variance
      cpu::batch_norm_train_fwd(out.data(), xc.data(), N, C, S, w, ws, b, bs, eps, mean.data(), invstd.data(),
                                var_u.data());
      if (running_mean.defined()) {
        // no autograd: buffers, as in PyTorch
        T* rm = running_mean.data();
        T* rv = running_var.data();
        const int64_t ms = running_mean.stride(0), vs = running_var.stride(0);
        for (int64_t c = 0; c < C; ++c) {
          rm[c * ms] = T((1 - momentum) * double(rm[c * ms]) + momentum * double(mean.data()[c]));
          rv[c * vs] = T((1 - momentum) * double(rv[c * vs]) + momentum * double(var_u.data()[c]));
        }
        running_mean.bump_version();
        running_var.bump_version();
      }
    } else {
      Tensor<T> scale = Tensor<T>::empty({C}, x.device()), shift = Tensor<T>::empty({C}, x.device());  // (C,)
      const T* rm = running_mean.data();
      const T* rv = running_var.data();
      const int64_t ms = running_mean.stride(0), vs = running_var.stride(0);
      for (int64_t c = 0; c < C; ++c) {
        const double is = 1.0 / std::sqrt(double(rv[c * vs]) + eps);
        const double wc = w ? double(w[c * ws]) : 1.0, bc = b ? double(b[c * bs]) : 0.0;
        mean.data()[c] = rm[c * ms];
        invstd.data()[c] = T(is);
        scale.data()[c] = T(wc * is);
        shift.data()[c] = T(bc - double(rm[c * ms]) * wc * is);
      }
      cpu::batch_norm_affine(out.data(), xc.data(), N, C, S, scale.data(), shift.data());
    }
  }, [&] {  // the same steps as the CPU's, the per-channel host loops as kernels
    if (training) {
      Tensor<T> var_u = Tensor<T>::empty({C}, x.device());  // (C,) unbiased batch variance
      cuda::batch_norm_train_fwd(out.data(), xc.data(), N, C, S, w, ws, b, bs, eps, mean.data(), invstd.data(),
                                 var_u.data());
      if (running_mean.defined()) {
        cuda::batch_norm_update_running(running_mean.data(), running_mean.stride(0), running_var.data(),
                                        running_var.stride(0), mean.data(), var_u.data(), C, momentum);
        running_mean.bump_version();
        running_var.bump_version();
      }
    } else {
      Tensor<T> scale = Tensor<T>::empty({C}, x.device()), shift = Tensor<T>::empty({C}, x.device());  // (C,)
      cuda::batch_norm_eval_params(mean.data(), invstd.data(), scale.data(), shift.data(), running_mean.data(),
                                   running_mean.stride(0), running_var.data(), running_var.stride(0), w, ws, b, bs, C, eps);
      cuda::batch_norm_affine(out.data(), xc.data(), N, C, S, scale.data(), shift.data());
    }
  });

  if (any_requires_grad(x, weight, bias)) {
    SavedTensor<T> sx = save(xc, "batch_norm2d");
    SavedTensor<T> sw = save(weight, "batch_norm2d");
    record<T>("batch_norm2d", {&x, &weight, &bias}, out,
              [sx, sw, mean, invstd, training](const Tensor<T>& g, const Node<T>& n) {
                const Tensor<T>& xv = sx.unpack();  // (N, C, H, W) contiguous
                const Tensor<T>& wv = sw.unpack();  // (C,) or undefined
                Tensor<T> gc = g.contiguous();      // (N, C, H, W)
                const int64_t N_ = xv.size(0), C_ = xv.size(1), S_ = xv.size(2) * xv.size(3);
                Tensor<T> gx, gw, gb;
                if (n.needs_input_grad(0)) gx = Tensor<T>::empty(xv.shape(), xv.device());
                if (n.needs_input_grad(1)) gw = Tensor<T>::empty({C_}, xv.device());
                if (n.needs_input_grad(2)) gb = Tensor<T>::empty({C_}, xv.device());
                T* pgx = gx.defined() ? gx.data() : nullptr;
                T* pgw = gw.defined() ? gw.data() : nullptr;
                T* pgb = gb.defined() ? gb.data() : nullptr;
                const T* pw = wv.defined() ? wv.data() : nullptr;
                const int64_t pws = wv.defined() ? wv.stride(0) : 0;
                backend::dispatch("batch_norm2d_backward", xv.device(), [&] {
                  cpu::batch_norm_bwd(pgx, pgw, pgb, gc.data(), xv.data(), N_, C_, S_, pw, pws, mean.data(), invstd.data(),
                                      training);
                }, [&] {
                  cuda::batch_norm_bwd(pgx, pgw, pgb, gc.data(), xv.data(), N_, C_, S_, pw, pws, mean.data(), invstd.data(),
                                       training);
                });
                return std::vector<Tensor<T>>{gx, gw, gb};
              });
  }
  return out;
}

template <FloatScalar T>
struct FoldedConv {
  Tensor<T> weight;  // (Cout, Cin/g, kh, kw)
  Tensor<T> bias;    // (Cout,)
};

template <FloatScalar T>
FoldedConv<T> fold_batch_norm(const Tensor<T>& conv_weight, const Tensor<T>& conv_bias, const Tensor<T>& running_mean,
                              const Tensor<T>& running_var, const Tensor<T>& gamma, const Tensor<T>& beta,
                              double eps = 1e-5) {
  PACKD_CHECK(conv_weight.dim() == 4, "fold_batch_norm: expected a 4-D conv weight (Cout, Cin/g, kh, kw), got shape ",
              conv_weight.shape());
  const int64_t C = conv_weight.size(0);
  auto check = [&](const Tensor<T>& p, const char* what, bool required) {
    PACKD_CHECK(p.defined() || !required, "fold_batch_norm: ", what, " is required");
    if (p.defined())
      PACKD_CHECK(p.dim() == 1 && p.size(0) == C, "fold_batch_norm: ", what, " of shape ", p.shape(),
                  " does not match the ", C, " output channels of the conv weight of shape ", conv_weight.shape());
  };
  check(conv_bias, "conv_bias", false);
  check(running_mean, "running_mean", true);
  check(running_var, "running_var", true);
  check(gamma, "gamma", false);
  check(beta, "beta", false);
  Tensor<T> s = rsqrt(add(running_var, T(eps)));  // (C,)
  if (gamma.defined()) s = mul(s, gamma);
  Tensor<T> w = mul(conv_weight, s.reshape({C, 1, 1, 1}));                         // (Cout, Cin/g, kh, kw)
  Tensor<T> b = conv_bias.defined() ? sub(conv_bias, running_mean) : neg(running_mean);  // (C,)
  b = mul(b, s);
  if (beta.defined()) b = add(b, beta);
  return {w, b};
}

}  // namespace packd
