#pragma once
// ConvBn: a convolution (Conv2d or ConvTranspose2d) followed by a batch norm, as the blocks of
// ResNet and RD's decoder use them, with eval-mode folding for inference.
//
// In training, or whenever gradients are recorded, it runs conv then bn exactly as written.
// In eval mode under NoGradGuard it runs one convolution with the batch norm folded into it
// (fold_batch_norm: W * s, (b - mean) * s + beta, s = gamma / sqrt(var + eps)), which saves a
// pass over the output. The folded weights are cached and rebuilt when any of the five source
// tensors changes (tracked by storage identity and version counter, so load_state_dict,
// optimiser steps and to(device) all invalidate it).
#include <array>
#include <memory>
#include <utility>

#include "packd/nn/layers/batchnorm.hpp"
#include "packd/nn/layers/conv.hpp"

namespace packd::nn {

template <FloatScalar T, class ConvModule = Conv2d<T>>
class ConvBn {
 public:
  ConvBn() = default;
  ConvBn(std::shared_ptr<ConvModule> conv, std::shared_ptr<BatchNorm2d<T>> bn) : conv_(std::move(conv)), bn_(std::move(bn)) {}

  Tensor<T> operator()(const Tensor<T>& x) {  // (N, Cin, H, W) -> (N, Cout, OH, OW)
    if (!bn_->is_training() && !is_grad_enabled()) {
      refresh();
      if constexpr (kTransposed)
        return conv_transpose2d(x, folded_.weight, folded_.bias, conv_->options());
      else
        return conv2d(x, folded_.weight, folded_.bias, conv_->options());
    }
    return bn_->forward(conv_->forward(x));
  }
  const std::shared_ptr<ConvModule>& conv() const { return conv_; }
  explicit operator bool() const { return conv_ != nullptr; }
  const std::shared_ptr<BatchNorm2d<T>>& bn() const { return bn_; }

 private:
  static constexpr bool kTransposed = std::is_same_v<ConvModule, ConvTranspose2d<T>>;
  struct Stamp {
    const Storage* storage = nullptr;
    uint64_t version = 0;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp stamp(const Tensor<T>& t) {
    return t.defined() ? Stamp{t.storage().get(), t.version()} : Stamp{};
  }

  void refresh() {
    const std::array<Stamp, 6> now{stamp(conv_->weight), stamp(conv_->bias), stamp(bn_->weight),
                                   stamp(bn_->bias),     stamp(bn_->running_mean), stamp(bn_->running_var)};
    if (folded_.weight.defined() && now == stamps_) return;
    NoGradGuard no_grad;
    Tensor<T> bias = conv_->bias.defined() ? conv_->bias.detach() : Tensor<T>();
    if constexpr (kTransposed) {
      // The weight is (Cin, Cout/g, kh, kw): fold along dim 1 by folding its (1, 0)-transpose.
      // (groups == 1 only: with groups the output channel of dim 1 depends on the group.)
      PACKD_CHECK(conv_->options().groups == 1, "ConvBn: folding a grouped transposed convolution is not supported");
      folded_ = fold_batch_norm(conv_->weight.detach().transpose(0, 1), bias, bn_->running_mean, bn_->running_var,
                                bn_->weight.detach(), bn_->bias.detach(), bn_->eps());
      folded_.weight = folded_.weight.transpose(0, 1).contiguous();
    } else {
      folded_ = fold_batch_norm(conv_->weight.detach(), bias, bn_->running_mean, bn_->running_var, bn_->weight.detach(),
                                bn_->bias.detach(), bn_->eps());
      folded_.weight = folded_.weight.contiguous();
    }
    // Hold the source storages so that a Stamp's pointer cannot be reused by a new allocation.
    keep_ = {conv_->weight.storage(), bn_->weight.storage(), bn_->bias.storage(), bn_->running_mean.storage(),
             bn_->running_var.storage()};
    if (conv_->bias.defined()) keep_.push_back(conv_->bias.storage());
    stamps_ = now;
  }

  std::shared_ptr<ConvModule> conv_;
  std::shared_ptr<BatchNorm2d<T>> bn_;
  FoldedConv<T> folded_;  // weight (Cout, Cin/g, kh, kw), bias (Cout,)
  std::array<Stamp, 6> stamps_{};
  std::vector<std::shared_ptr<Storage>> keep_;
};

}  // namespace packd::nn
