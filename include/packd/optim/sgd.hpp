#pragma once
// optim::SGD<T>: torch.optim.SGD 1.13, single-tensor path (foreach=False, its default).
//
// Per parameter p with gradient g:
//   d = g + weight_decay * p
//   with momentum:  buf = d on the parameter's first step, else buf = momentum * buf + (1 - dampening) * d
//                   d = d + momentum * buf (nesterov) or d = buf
//   p = p - lr * d
// The state is "<param>.momentum_buffer" (none without momentum). One pass over memory per
// parameter, on the worker pool; on CUDA one multi-tensor kernel updates all parameters of the
// step (backend/cuda/optim.hpp), with the same arithmetic.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/cpu/simd.hpp"
#include "packd/backend/cuda/optim.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/optim/optimizer.hpp"

namespace packd::cpu {

template <FloatScalar T>
struct SgdStepArgs {
  T* param;
  const T* grad;
  T* momentum_buffer;  // null without momentum
  int64_t numel;
  T weight_decay, momentum, one_minus_dampening, neg_lr;
};

// kFirst: the momentum buffer is new and takes d as it is.
template <bool kWeightDecay, bool kMomentum, bool kFirst, bool kNesterov, FloatScalar T>
void sgd_step_range(const SgdStepArgs<T>& a, int64_t begin, int64_t end) {
  const T wd = a.weight_decay, mom = a.momentum, omd = a.one_minus_dampening, neg_lr = a.neg_lr;
  T* __restrict p = a.param;
  const T* __restrict g = a.grad;
  T* __restrict buf = a.momentum_buffer;
  for (int64_t i = begin; i < end; ++i) {
    T d = g[i];
    if constexpr (kWeightDecay) d = d + wd * p[i];
    if constexpr (kMomentum) {
      T b;
      if constexpr (kFirst) b = d;
      else b = buf[i] * mom + omd * d;
      buf[i] = b;
      if constexpr (kNesterov) d = d + mom * b;
      else d = b;
    }
    p[i] = p[i] + neg_lr * d;
  }
}

template <bool kWeightDecay, bool kMomentum, bool kFirst, bool kNesterov, FloatScalar T>
void sgd_step(const SgdStepArgs<T>& a) {
  parallel_for(0, a.numel, threads_for(a.numel), [&](int64_t begin, int64_t end) {
    simd_run([&] { sgd_step_range<kWeightDecay, kMomentum, kFirst, kNesterov>(a, begin, end); });
  });
}

}  // namespace packd::cpu

namespace packd::optim {

struct SgdOptions {
  double lr = 1e-3;  // torch.optim.SGD has no default: set it
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;

  void check() const {
    PACKD_CHECK(std::isfinite(lr) && lr >= 0, "SGD: invalid learning rate ", lr);
    PACKD_CHECK(std::isfinite(momentum) && momentum >= 0, "SGD: invalid momentum value ", momentum);
    PACKD_CHECK(std::isfinite(dampening), "SGD: invalid dampening ", dampening);
    PACKD_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, "SGD: invalid weight_decay value ", weight_decay);
    PACKD_CHECK(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum requires a momentum and zero dampening");
  }

  nlohmann::json to_json() const {
    return {{"type", "sgd"},           {"lr", lr}, {"momentum", momentum}, {"dampening", dampening},
            {"weight_decay", weight_decay}, {"nesterov", nesterov}};
  }
  // The inverse of to_json; absent keys keep their defaults, unknown keys are errors.
  static SgdOptions from_json(const nlohmann::json& j) {
    SgdOptions o;
    detail::read_json_object(j, "SGD", "sgd", [&](const std::string& key, const nlohmann::json& v) {
      if (key == "lr") o.lr = v.get<double>();
      else if (key == "momentum") o.momentum = v.get<double>();
      else if (key == "dampening") o.dampening = v.get<double>();
      else if (key == "weight_decay") o.weight_decay = v.get<double>();
      else if (key == "nesterov") o.nesterov = v.get<bool>();
      else PACKD_CHECK(false, "SGD: unknown hyper-parameter '", key, "'");
    });
    o.check();
    return o;
  }
};

template <FloatScalar T>
class SGD : public Optimizer<T> {
 public:
  explicit SGD(NamedParameters<T> params, const SgdOptions& options)
      : Optimizer<T>(std::move(params), options.lr, slots(options), false, "SGD"), options_(options) {
    options_.check();
  }

  std::string name() const override { return "SGD"; }
  SgdOptions options() const {
    SgdOptions o = options_;
    o.lr = this->lr();
    return o;
  }
  nlohmann::json hyperparameters() const override { return options().to_json(); }

 protected:
  using Update = typename Optimizer<T>::Update;

  void update(const Tensor<T>& param, const Tensor<T>& grad, ParamState<T>& s, bool first) override {
    const bool has_momentum = options_.momentum != 0;
    const cpu::SgdStepArgs<T> a{param.data(),
                                grad.data(),
                                has_momentum ? s.slots[0].data() : nullptr,
                                param.numel(),
                                T(options_.weight_decay),
                                T(options_.momentum),
                                T(1 - options_.dampening),
                                T(-this->lr())};
    backend::dispatch(
        "sgd_step", param.device(),
        [&] {
          detail::with_flag(options_.weight_decay != 0, [&]<bool kWd>() {
            detail::with_flag(has_momentum, [&]<bool kMomentum>() {
              detail::with_flag(first, [&]<bool kFirst>() {
                detail::with_flag(options_.nesterov, [&]<bool kNesterov>() {
                  cpu::sgd_step<kWd, kMomentum, kFirst && kMomentum, kNesterov && kMomentum>(a);
                });
              });
            });
          });
        },
        [&] { cuda_step({cuda::SgdParam<T>{a.param, a.grad, a.momentum_buffer, a.numel, first}}); });
  }

  // CPU parameters one by one (update()); those of a CUDA device in one launch.
  void apply(std::vector<Update>& updates) override {
    this->for_each_device(updates, [&](Device device, const std::vector<Update*>& group) {
      if (device.is_cpu()) {
        for (Update* u : group) update(*u->param, u->grad, *u->state, u->first);
        return;
      }
      std::vector<cuda::SgdParam<T>> params;
      for (Update* u : group)
        params.push_back({u->param->data(), u->grad.data(), options_.momentum != 0 ? u->state->slots[0].data() : nullptr,
                          u->param->numel(), u->first});
      backend::dispatch("sgd_step", device, [] {}, [&] { cuda_step(params); });  // (never the CPU here)
    });
  }

 private:
  void cuda_step(const std::vector<cuda::SgdParam<T>>& params) const {
    const cuda::SgdConstants<T> c{T(options_.weight_decay), T(options_.momentum), T(1 - options_.dampening), T(-this->lr())};
    cuda::sgd_step<T>(params, c, options_.weight_decay != 0, options_.momentum != 0, options_.nesterov);
  }

  static std::vector<std::string> slots(const SgdOptions& o) {
    if (o.momentum != 0) return {"momentum_buffer"};
    return {};
  }

  SgdOptions options_;  // lr: the initial one (the current one is Optimizer::lr())
};

}  // namespace packd::optim
