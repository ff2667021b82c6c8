#pragma once
// Conv2d and ConvTranspose2d modules (torch.nn names and state_dict keys: weight, bias).
//
//   Conv2d           weight (out, in/groups, kh, kw), bias (out,) optional
//   ConvTranspose2d  weight (in, out/groups, kh, kw), bias (out,) optional
//
// Both start with PyTorch's default initialisation (nn/init.hpp); models that initialise
// differently (torchvision's Kaiming normal) overwrite it.
#include <array>

#include "packd/core/generator.hpp"
#include "packd/nn/init.hpp"
#include "packd/nn/module.hpp"
#include "packd/ops/conv.hpp"

namespace packd::nn {

template <FloatScalar T>
class Conv2d : public UnaryModule<T> {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel, const Conv2dOptions& options,
         bool with_bias, Generator& gen)
      : options_(options) {
    PACKD_CHECK(in_channels > 0 && out_channels > 0 && kernel[0] > 0 && kernel[1] > 0, "Conv2d: invalid sizes in=",
                in_channels, " out=", out_channels, " kernel=(", kernel[0], ", ", kernel[1], ")");
    PACKD_CHECK(options.groups > 0 && in_channels % options.groups == 0 && out_channels % options.groups == 0,
                "Conv2d: groups=", options.groups, " must divide in=", in_channels, " and out=", out_channels);
    weight = this->register_parameter("weight", zeros<T>({out_channels, in_channels / options.groups, kernel[0], kernel[1]}));
    if (with_bias) bias = this->register_parameter("bias", zeros<T>({out_channels}));
    init::default_conv_init_(weight, &bias, gen);
  }
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, const Conv2dOptions& options, bool with_bias, Generator& gen)
      : Conv2d(in_channels, out_channels, {kernel, kernel}, options, with_bias, gen) {}

  Tensor<T> forward(const Tensor<T>& x) override { return conv2d(x, weight, bias, options_); }  // (N, out, OH, OW)
  const Conv2dOptions& options() const { return options_; }

  Tensor<T> weight;  // (out, in/groups, kh, kw)
  Tensor<T> bias;    // (out,) or undefined

 private:
  Conv2dOptions options_;
};

template <FloatScalar T>
class ConvTranspose2d : public UnaryModule<T> {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel, const Conv2dOptions& options,
                  bool with_bias, Generator& gen)
      : options_(options) {
    PACKD_CHECK(in_channels > 0 && out_channels > 0 && kernel[0] > 0 && kernel[1] > 0, "ConvTranspose2d: invalid sizes in=",
                in_channels, " out=", out_channels, " kernel=(", kernel[0], ", ", kernel[1], ")");
    PACKD_CHECK(options.groups > 0 && in_channels % options.groups == 0 && out_channels % options.groups == 0,
                "ConvTranspose2d: groups=", options.groups, " must divide in=", in_channels, " and out=", out_channels);
    weight = this->register_parameter("weight", zeros<T>({in_channels, out_channels / options.groups, kernel[0], kernel[1]}));
    if (with_bias) bias = this->register_parameter("bias", zeros<T>({out_channels}));
    init::default_conv_init_(weight, &bias, gen);
  }
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel, const Conv2dOptions& options, bool with_bias,
                  Generator& gen)
      : ConvTranspose2d(in_channels, out_channels, {kernel, kernel}, options, with_bias, gen) {}

  Tensor<T> forward(const Tensor<T>& x) override { return conv_transpose2d(x, weight, bias, options_); }  // (N, out, OH, OW)
  const Conv2dOptions& options() const { return options_; }

  Tensor<T> weight;  // (in, out/groups, kh, kw)
  Tensor<T> bias;    // (out,) or undefined

 private:
  Conv2dOptions options_;
};

// The conv shorthands torchvision and RD4AD use (all without bias).
template <FloatScalar T>
std::shared_ptr<Conv2d<T>> conv3x3(int64_t in, int64_t out, int64_t stride, Generator& gen, int64_t groups = 1) {
  return std::make_shared<Conv2d<T>>(in, out, 3, Conv2dOptions{.stride = {stride, stride}, .padding = {1, 1}, .groups = groups},
                                     false, gen);
}
template <FloatScalar T>
std::shared_ptr<Conv2d<T>> conv1x1(int64_t in, int64_t out, int64_t stride, Generator& gen) {
  return std::make_shared<Conv2d<T>>(in, out, 1, Conv2dOptions{.stride = {stride, stride}}, false, gen);
}
// RD4AD's deconv2x2: a 2x2 stride-2 transposed convolution without bias.
template <FloatScalar T>
std::shared_ptr<ConvTranspose2d<T>> deconv2x2(int64_t in, int64_t out, Generator& gen, int64_t groups = 1) {
  return std::make_shared<ConvTranspose2d<T>>(in, out, 2, Conv2dOptions{.stride = {2, 2}, .groups = groups}, false, gen);
}

}  // namespace packd::nn
