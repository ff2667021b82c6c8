#pragma once
// BatchNorm2d (torch.nn.BatchNorm2d with affine and running statistics; state_dict keys weight,
// bias, running_mean, running_var, num_batches_tracked).
//
// Training: normalises with the batch statistics and updates the running ones (momentum 0.1,
// unbiased variance), counting num_batches_tracked. Eval: uses the running statistics.
#include "packd/nn/module.hpp"
#include "packd/ops/norm.hpp"

namespace packd::nn {

template <FloatScalar T>
class BatchNorm2d : public UnaryModule<T> {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1) : eps_(eps), momentum_(momentum) {
    PACKD_CHECK(channels > 0, "BatchNorm2d: channels must be positive, got ", channels);
    weight = this->register_parameter("weight", ones<T>({channels}));
    bias = this->register_parameter("bias", zeros<T>({channels}));
    running_mean = this->register_buffer("running_mean", zeros<T>({channels}));
    running_var = this->register_buffer("running_var", ones<T>({channels}));
    num_batches_tracked = this->register_buffer("num_batches_tracked", zeros<int64_t>({}));
  }

  Tensor<T> forward(const Tensor<T>& x) override {  // (N, C, H, W) -> (N, C, H, W)
    if (this->is_training()) {
      NoGradGuard no_grad;
      num_batches_tracked.fill_(num_batches_tracked.item() + 1);
    }
    return batch_norm2d(x, weight, bias, running_mean, running_var, this->is_training(), momentum_, eps_);
  }
  double eps() const { return eps_; }
  int64_t channels() const { return weight.size(0); }

  Tensor<T> weight;                     // (C,) gamma
  Tensor<T> bias;                       // (C,) beta
  Tensor<T> running_mean;               // (C,)
  Tensor<T> running_var;                // (C,)
  Tensor<int64_t> num_batches_tracked;  // ()

 private:
  double eps_, momentum_;
};

}  // namespace packd::nn
