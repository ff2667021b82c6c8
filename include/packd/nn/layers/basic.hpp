#pragma once
// Small modules: ReLU, MaxPool2d, Linear, Sequential.
#include <string>
#include <vector>

#include "packd/core/generator.hpp"
#include "packd/nn/init.hpp"
#include "packd/nn/module.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/linear.hpp"
#include "packd/ops/pool.hpp"

namespace packd::nn {

template <FloatScalar T>
class ReLU : public UnaryModule<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return relu(x); }
};

template <FloatScalar T>
class MaxPool2d : public UnaryModule<T> {
 public:
  MaxPool2d(PoolSize kernel, PoolSize stride, PoolSize padding = 0) : kernel_(kernel), stride_(stride), padding_(padding) {}
  Tensor<T> forward(const Tensor<T>& x) override { return max_pool2d(x, kernel_, stride_, padding_); }

 private:
  PoolSize kernel_, stride_, padding_;
};

template <FloatScalar T>
class Linear : public UnaryModule<T> {
 public:
  Linear(int64_t in_features, int64_t out_features, bool with_bias, Generator& gen) {
    PACKD_CHECK(in_features > 0 && out_features > 0, "Linear: invalid sizes in=", in_features, " out=", out_features);
    weight = this->register_parameter("weight", zeros<T>({out_features, in_features}));
    if (with_bias) bias = this->register_parameter("bias", zeros<T>({out_features}));
    init::default_conv_init_(weight, &bias, gen);
  }
  Tensor<T> forward(const Tensor<T>& x) override { return linear(x, weight, bias); }  // (N, in) -> (N, out)

  Tensor<T> weight;  // (out, in)
  Tensor<T> bias;    // (out,) or undefined
};

// Children named "0", "1", ... as torch.nn.Sequential, applied in order.
template <FloatScalar T>
class Sequential : public UnaryModule<T> {
 public:
  Sequential() = default;
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    static_assert(std::is_base_of_v<UnaryModule<T>, M>, "Sequential holds UnaryModules");
    layers_.push_back(m);
    return this->register_module(std::to_string(layers_.size() - 1), std::move(m));
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    Tensor<T> y = x;
    for (auto& m : layers_) y = m->forward(y);
    return y;
  }
  std::size_t size() const { return layers_.size(); }
  const std::shared_ptr<UnaryModule<T>>& operator[](std::size_t i) const { return layers_.at(i); }

 private:
  std::vector<std::shared_ptr<UnaryModule<T>>> layers_;
};

}  // namespace packd::nn
