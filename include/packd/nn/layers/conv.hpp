#pragma once
// Conv2d and ConvTranspose2d modules (torch.nn names and state_dict keys: weight, bias).
//
//   Conv2d           weight (out, in/groups, kh, kw), bias (out,) optional
//   ConvTranspose2d  weight (in, out/groups, kh, kw), bias (out,) optional
//
// Both start with PyTorch's default initialisation (nn/init.hpp); models that initialise
// differently (torchvision's Kaiming normal) overwrite it.
#include <algorithm>
#include <array>

#include "packd/core/generator.hpp"
#include "packd/nn/init.hpp"
#include "packd/nn/module.hpp"
#include "packd/ops/conv.hpp"

namespace packd::nn {

namespace detail {
// Checks a convolution's sizes, then registers `weight` (of weight_shape) and, with_bias, `bias`
// (out,) on m, both initialised as torch.nn's convolutions.
template <FloatScalar T>
void register_conv_params(Module<T>& m, const char* what, int64_t in, int64_t out, std::array<int64_t, 2> kernel,
                          int64_t groups, const Shape& weight_shape, bool with_bias, Generator& gen, Tensor<T>& weight,
                          Tensor<T>& bias) {
  PACKD_CHECK(in > 0 && out > 0 && kernel[0] > 0 && kernel[1] > 0, what, ": invalid sizes in=", in, " out=", out,
              " kernel=(", kernel[0], ", ", kernel[1], ")");
  PACKD_CHECK(groups > 0 && in % groups == 0 && out % groups == 0, what, ": groups=", groups, " must divide in=", in,
              " and out=", out);
  weight = m.register_parameter("weight", zeros<T>(weight_shape));
  if (with_bias) bias = m.register_parameter("bias", zeros<T>({out}));
  init::default_conv_init_(weight, &bias, gen);
}
}  // namespace detail

template <FloatScalar T>
class Conv2d : public UnaryModule<T> {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel, const Conv2dOptions& options,
         bool with_bias, Generator& gen)
      : options_(options) {
    const int64_t g = std::max<int64_t>(options.groups, 1);  // checked in register_conv_params
    detail::register_conv_params<T>(*this, "Conv2d", in_channels, out_channels, kernel, options.groups,
                                    {out_channels, in_channels / g, kernel[0], kernel[1]}, with_bias, gen, weight, bias);
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
    const int64_t g = std::max<int64_t>(options.groups, 1);  // checked in register_conv_params
    detail::register_conv_params<T>(*this, "ConvTranspose2d", in_channels, out_channels, kernel, options.groups,
                                    {in_channels, out_channels / g, kernel[0], kernel[1]}, with_bias, gen, weight, bias);
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
