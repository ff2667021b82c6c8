#pragma once
// BatchNorm2d (torch.nn.BatchNorm2d with affine and running statistics; state_dict keys weight,
// bias, running_mean, running_var, num_batches_tracked).
//
// Training: normalises with the batch statistics and updates the running ones (momentum 0.1,
// unbiased variance), counting num_batches_tracked. Eval: uses the running statistics.
// With sync_with(comm) the training statistics are those of all ranks' batches together
// (torch.nn.SyncBatchNorm, dist/sync_batchnorm.hpp); nn::sync_batch_norms sets every layer's.
#include "packd/dist/sync_batchnorm.hpp"
#include "packd/nn/module.hpp"
#include "packd/ops/elementwise.hpp"
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
      // On the buffer's device: reading it back (item()) would wait for the GPU in every layer.
      add_(num_batches_tracked, scalar_tensor<int64_t>(1, num_batches_tracked.device()));
    }
    if (this->is_training() && sync_ && sync_->size() > 1)
      return dist::sync_batch_norm2d(x, weight, bias, running_mean, running_var, momentum_, eps_, *sync_);
    return batch_norm2d(x, weight, bias, running_mean, running_var, this->is_training(), momentum_, eps_);
  }
  // Synchronise training statistics over comm's ranks (nullptr: per-process statistics). The
  // communicator must outlive the layer's use.
  void sync_with(dist::Communicator* comm) { sync_ = comm; }
  double eps() const { return eps_; }
  int64_t channels() const { return weight.size(0); }

  Tensor<T> weight;                     // (C,) gamma
  Tensor<T> bias;                       // (C,) beta
  Tensor<T> running_mean;               // (C,)
  Tensor<T> running_var;                // (C,)
  Tensor<int64_t> num_batches_tracked;  // ()

 private:
  double eps_, momentum_;
  dist::Communicator* sync_ = nullptr;
};

// Every BatchNorm2d under `m` synchronises over comm (nullptr: back to per-process statistics).
template <FloatScalar T>
void sync_batch_norms(Module<T>& m, dist::Communicator* comm) {
  for (auto& [name, child] : m.named_modules())
    if (auto* bn = dynamic_cast<BatchNorm2d<T>*>(child.get())) bn->sync_with(comm);
}

}  // namespace packd::nn
