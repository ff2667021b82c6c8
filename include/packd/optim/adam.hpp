#pragma once
// optim::Adam<T>: torch.optim.Adam 1.13, single-tensor path (foreach=False, its default).
//
// Per parameter p with gradient g, at its step t (counted per parameter, from 1):
//   g  = g + weight_decay * p                 (L2 added to the gradient: Adam, not AdamW)
//   m  = beta1 * m + (1 - beta1) * g          (exp_avg)
//   v  = beta2 * v + (1 - beta2) * g * g      (exp_avg_sq)
//   vmax = max(vmax, v), used for v below     (AMSGrad only: max_exp_avg_sq)
//   bc1 = 1 - beta1^t, bc2 = 1 - beta2^t, step_size = lr / bc1     (in double, as Python does)
//   p  = p - step_size * m / (sqrt(v) / sqrt(bc2) + eps)
// Every element operation is PyTorch's, in its order and in T (the double constants rounded to T
// as PyTorch rounds a Python scalar), so results match to rounding (the compiler may fuse a
// multiply-add where PyTorch's scalar path does not).
//
// The update is one pass over memory per parameter (no temporaries: it runs over every parameter
// of the model at each step), spread over the worker pool; on CUDA one multi-tensor kernel updates
// all parameters of the step (backend/cuda/optim.hpp), with the same arithmetic.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/cpu/simd.hpp"
#include "packd/backend/cuda/optim.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/optim/optimizer.hpp"

namespace packd::cpu {

// One Adam update of `numel` contiguous elements; the constants are already in T.
template <FloatScalar T>
struct AdamStepArgs {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  T* max_exp_avg_sq;  // AMSGrad only, else null
  int64_t numel;
  T beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, bias_correction2_sqrt, eps, neg_step_size;
};

// Elements [begin, end), in blocks whose denominators wait in an L1 buffer: with errno-setting
// sqrt (the default -fmath-errno) GCC vectorises no loop that calls std::sqrt, so the square roots
// get a loop of their own and the two loops around them (the moments, the divisions and the
// write of p) vectorise. Memory is still read and written once.
template <bool kWeightDecay, bool kAmsgrad, FloatScalar T>
void adam_step_range(const AdamStepArgs<T>& a, int64_t begin, int64_t end) {
  constexpr int64_t kBlock = 256;
  alignas(64) T denom[kBlock];
  const T beta1 = a.beta1, omb1 = a.one_minus_beta1, beta2 = a.beta2, omb2 = a.one_minus_beta2;
  const T wd = a.weight_decay, bc2_sqrt = a.bias_correction2_sqrt, eps = a.eps, neg_step = a.neg_step_size;
  for (int64_t b0 = begin; b0 < end; b0 += kBlock) {
    const int64_t n = std::min(kBlock, end - b0);
    T* __restrict p = a.param + b0;
    const T* __restrict g = a.grad + b0;
    T* __restrict m = a.exp_avg + b0;
    T* __restrict v = a.exp_avg_sq + b0;
    T* __restrict vmax = kAmsgrad ? a.max_exp_avg_sq + b0 : nullptr;
    for (int64_t i = 0; i < n; ++i) {
      T gi = g[i];
      if constexpr (kWeightDecay) gi = gi + wd * p[i];
      m[i] = m[i] * beta1 + omb1 * gi;
      const T vi = v[i] * beta2 + omb2 * gi * gi;
      v[i] = vi;
      if constexpr (kAmsgrad) {
        const T mx = (vi != vi || vi > vmax[i]) ? vi : vmax[i];  // torch.maximum: NaN wins
        vmax[i] = mx;
        denom[i] = mx;
      } else {
        denom[i] = vi;
      }
    }
    for (int64_t i = 0; i < n; ++i) denom[i] = std::sqrt(denom[i]);
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] + neg_step * m[i] / (denom[i] / bc2_sqrt + eps);
  }
}

template <bool kWeightDecay, bool kAmsgrad, FloatScalar T>
void adam_step(const AdamStepArgs<T>& a) {
  parallel_for(0, a.numel, threads_for(a.numel), [&](int64_t begin, int64_t end) {
    simd_run([&] { adam_step_range<kWeightDecay, kAmsgrad>(a, begin, end); });
  });
}

}  // namespace packd::cpu

namespace packd::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::array<double, 2> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;  // L2 penalty added to the gradient (torch.optim.Adam; not AdamW)
  bool amsgrad = false;

  // PyTorch's argument checks.
  void check() const {
    PACKD_CHECK(std::isfinite(lr) && lr >= 0, "Adam: invalid learning rate ", lr);
    PACKD_CHECK(std::isfinite(eps) && eps >= 0, "Adam: invalid eps ", eps);
    PACKD_CHECK(betas[0] >= 0 && betas[0] < 1, "Adam: invalid beta parameter at index 0: ", betas[0]);
    PACKD_CHECK(betas[1] >= 0 && betas[1] < 1, "Adam: invalid beta parameter at index 1: ", betas[1]);
    PACKD_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, "Adam: invalid weight_decay ", weight_decay);
  }

  nlohmann::json to_json() const {
    return {{"type", "adam"},  {"lr", lr},     {"betas", {betas[0], betas[1]}}, {"eps", eps},
            {"weight_decay", weight_decay}, {"amsgrad", amsgrad}};
  }
  // The inverse of to_json; absent keys keep their defaults, unknown keys are errors.
  static AdamOptions from_json(const nlohmann::json& j) {
    AdamOptions o;
    detail::read_json_object(j, "Adam", "adam", [&](const std::string& key, const nlohmann::json& v) {
      if (key == "lr") o.lr = v.get<double>();
      else if (key == "betas") o.betas = v.get<std::array<double, 2>>();
      else if (key == "eps") o.eps = v.get<double>();
      else if (key == "weight_decay") o.weight_decay = v.get<double>();
      else if (key == "amsgrad") o.amsgrad = v.get<bool>();
      else PACKD_CHECK(false, "Adam: unknown hyper-parameter '", key, "'");
    });
    o.check();
    return o;
  }
};

template <FloatScalar T>
class Adam : public Optimizer<T> {
 public:
  explicit Adam(NamedParameters<T> params, const AdamOptions& options = {})
      : Optimizer<T>(std::move(params), options.lr, slots(options), true, "Adam"), options_(options) {
    options_.check();
  }

  std::string name() const override { return "Adam"; }
  // The options, with the current lr.
  AdamOptions options() const {
    AdamOptions o = options_;
    o.lr = this->lr();
    return o;
  }
  nlohmann::json hyperparameters() const override { return options().to_json(); }

 protected:
  using Update = typename Optimizer<T>::Update;

  void update(const Tensor<T>& param, const Tensor<T>& grad, ParamState<T>& s, bool /*first*/) override {
    const cpu::AdamStepArgs<T> a = step_args(param, grad, s);
    backend::dispatch(
        "adam_step", param.device(),
        [&] {
          detail::with_flag(options_.weight_decay != 0, [&]<bool kWeightDecay>() {
            detail::with_flag(options_.amsgrad, [&]<bool kAmsgrad>() { cpu::adam_step<kWeightDecay, kAmsgrad>(a); });
          });
        },
        [&] { cuda::adam_step<T>({cuda_param(a)}, cuda_constants(a), options_.weight_decay != 0, options_.amsgrad); });
  }

  // CPU parameters one by one (update()); those of a CUDA device in one launch.
  void apply(std::vector<Update>& updates) override {
    this->for_each_device(updates, [&](Device device, const std::vector<Update*>& group) {
      if (device.is_cpu()) {
        for (Update* u : group) update(*u->param, u->grad, *u->state, u->first);
        return;
      }
      std::vector<cuda::AdamParam<T>> params;
      for (Update* u : group) params.push_back(cuda_param(step_args(*u->param, u->grad, *u->state)));
      const cuda::AdamConstants<T> c = cuda_constants(step_args(*group[0]->param, group[0]->grad, *group[0]->state));
      backend::dispatch("adam_step", device, [] {},  // (never the CPU here)
                        [&] { cuda::adam_step<T>(params, c, options_.weight_decay != 0, options_.amsgrad); });
    });
  }

 private:
  // The step's arguments for one parameter: its bias corrections (from its own step count) in
  // double, as Python computes them, then every constant rounded to T.
  cpu::AdamStepArgs<T> step_args(const Tensor<T>& param, const Tensor<T>& grad, ParamState<T>& s) const {
    const double beta1 = options_.betas[0], beta2 = options_.betas[1];
    const double bias_correction1 = 1 - std::pow(beta1, double(s.step));
    const double bias_correction2 = 1 - std::pow(beta2, double(s.step));
    const double step_size = this->lr() / bias_correction1;
    return cpu::AdamStepArgs<T>{param.data(),
                                grad.data(),
                                s.slots[0].data(),
                                s.slots[1].data(),
                                options_.amsgrad ? s.slots[2].data() : nullptr,
                                param.numel(),
                                T(beta1),
                                T(1 - beta1),
                                T(beta2),
                                T(1 - beta2),
                                T(options_.weight_decay),
                                T(std::sqrt(bias_correction2)),
                                T(options_.eps),
                                T(-step_size)};
  }
  static cuda::AdamParam<T> cuda_param(const cpu::AdamStepArgs<T>& a) {
    return {a.param, a.grad, a.exp_avg, a.exp_avg_sq, a.max_exp_avg_sq, a.numel, a.bias_correction2_sqrt, a.neg_step_size};
  }
  static cuda::AdamConstants<T> cuda_constants(const cpu::AdamStepArgs<T>& a) {
    return {a.beta1, a.one_minus_beta1, a.beta2, a.one_minus_beta2, a.weight_decay, a.eps};
  }

  static std::vector<std::string> slots(const AdamOptions& o) {
    if (o.amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }

  AdamOptions options_;  // lr: the initial one (the current one is Optimizer::lr())
};

}  // namespace packd::optim
