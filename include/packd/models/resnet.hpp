#pragma once
// torchvision's ResNet family (v1.5: the stride sits on the 3x3 conv), with torchvision's
// architecture, initialisation and state_dict keys, so that its weight files load by name:
//   resnet18, resnet34 (BasicBlock), resnet50, wide_resnet50_2 (Bottleneck, inner width x2).
//
//   stem    conv1 7x7/2 (3 -> b) . bn1 . relu . maxpool 3x3/2         b = base planes = 64
//   layer1  blocks of planes b,  stride 1   -> (N, b*e,  H/4,  W/4)    e = block expansion (1 or 4)
//   layer2  blocks of planes 2b, stride 2   -> (N, 2b*e, H/8,  W/8)
//   layer3  blocks of planes 4b, stride 2   -> (N, 4b*e, H/16, W/16)
//   layer4  blocks of planes 8b, stride 2   -> (N, 8b*e, H/32, W/32)   (not used by RD)
//   avgpool . fc                             -> (N, num_classes)
//
// RD's teacher needs layer1..layer3 only: features() stops there. layer4 and fc exist, so a full
// torchvision file loads strictly, and forward() computes them when a classifier is wanted.
// Options other than torchvision's (base_planes, num_classes) exist for small test models.
#include <array>
#include <memory>
#include <string>

#include "packd/nn/layers/basic.hpp"
#include "packd/nn/layers/conv_bn.hpp"
#include "packd/ops/pool.hpp"
#include "packd/ops/shape_ops.hpp"

namespace packd::models {

enum class BlockKind { basic, bottleneck };

inline int64_t expansion(BlockKind b) { return b == BlockKind::basic ? 1 : 4; }

struct ResNetSpec {
  std::string name = "wide_resnet50_2";
  BlockKind block = BlockKind::bottleneck;
  std::array<int64_t, 4> layers{3, 4, 6, 3};
  int64_t width_per_group = 128;  // Bottleneck inner width = planes * width_per_group / 64
  int64_t base_planes = 64;       // planes of layer1 (torchvision: 64)
  int64_t num_classes = 1000;
};

inline ResNetSpec resnet_spec(const std::string& name) {
  if (name == "wide_resnet50_2") return {name, BlockKind::bottleneck, {3, 4, 6, 3}, 128};
  if (name == "resnet50") return {name, BlockKind::bottleneck, {3, 4, 6, 3}, 64};
  if (name == "resnet34") return {name, BlockKind::basic, {3, 4, 6, 3}, 64};
  if (name == "resnet18") return {name, BlockKind::basic, {2, 2, 2, 2}, 64};
  PACKD_CHECK(false, "unknown backbone '", name, "' (known: wide_resnet50_2, resnet18, resnet34, resnet50)");
  return {};
}

// Channels of the layer1, layer2, layer3 features.
inline std::array<int64_t, 3> feature_channels(const ResNetSpec& s) {
  const int64_t c = s.base_planes * expansion(s.block);
  return {c, 2 * c, 4 * c};
}

template <FloatScalar T>
using Block = nn::UnaryModule<T>;

// torchvision BasicBlock: 3x3 (stride) . bn . relu . 3x3 . bn, + shortcut, relu.
template <FloatScalar T>
class BasicBlock : public Block<T> {
 public:
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride, bool downsample, Generator& gen) {
    auto conv1 = this->register_module("conv1", nn::conv3x3<T>(inplanes, planes, stride, gen));
    auto bn1 = this->register_module("bn1", std::make_shared<nn::BatchNorm2d<T>>(planes));
    auto conv2 = this->register_module("conv2", nn::conv3x3<T>(planes, planes, 1, gen));
    auto bn2 = this->register_module("bn2", std::make_shared<nn::BatchNorm2d<T>>(planes));
    cb1_ = {conv1, bn1};
    cb2_ = {conv2, bn2};
    if (downsample) {
      auto seq = this->register_module("downsample", std::make_shared<nn::Sequential<T>>());
      shortcut_ = {seq->push_back(nn::conv1x1<T>(inplanes, planes, stride, gen)),
                   seq->push_back(std::make_shared<nn::BatchNorm2d<T>>(planes))};
    }
  }
  Tensor<T> forward(const Tensor<T>& x) override {  // (N, inplanes, H, W) -> (N, planes, H/s, W/s)
    Tensor<T> out = cb2_(relu(cb1_(x)));
    return relu(add(out, shortcut_ ? shortcut_(x) : x));
  }

 private:
  nn::ConvBn<T> cb1_, cb2_, shortcut_;
};

// torchvision Bottleneck: 1x1 . bn . relu . 3x3 (stride) . bn . relu . 1x1 (x4) . bn, + shortcut, relu.
template <FloatScalar T>
class Bottleneck : public Block<T> {
 public:
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride, bool downsample, int64_t width_per_group, Generator& gen) {
    const int64_t width = planes * width_per_group / 64, out = planes * 4;
    auto conv1 = this->register_module("conv1", nn::conv1x1<T>(inplanes, width, 1, gen));
    auto bn1 = this->register_module("bn1", std::make_shared<nn::BatchNorm2d<T>>(width));
    auto conv2 = this->register_module("conv2", nn::conv3x3<T>(width, width, stride, gen));
    auto bn2 = this->register_module("bn2", std::make_shared<nn::BatchNorm2d<T>>(width));
    auto conv3 = this->register_module("conv3", nn::conv1x1<T>(width, out, 1, gen));
    auto bn3 = this->register_module("bn3", std::make_shared<nn::BatchNorm2d<T>>(out));
    cb1_ = {conv1, bn1};
    cb2_ = {conv2, bn2};
    cb3_ = {conv3, bn3};
    if (downsample) {
      auto seq = this->register_module("downsample", std::make_shared<nn::Sequential<T>>());
      shortcut_ = {seq->push_back(nn::conv1x1<T>(inplanes, out, stride, gen)),
                   seq->push_back(std::make_shared<nn::BatchNorm2d<T>>(out))};
    }
  }
  Tensor<T> forward(const Tensor<T>& x) override {  // (N, inplanes, H, W) -> (N, 4 planes, H/s, W/s)
    Tensor<T> out = cb3_(relu(cb2_(relu(cb1_(x)))));
    return relu(add(out, shortcut_ ? shortcut_(x) : x));
  }

 private:
  nn::ConvBn<T> cb1_, cb2_, cb3_, shortcut_;
};

// torchvision's init: Kaiming normal (fan_out, ReLU gain) for every Conv2d, BN weight 1 bias 0
// (BatchNorm2d starts that way). ConvTranspose2d and Linear keep PyTorch's default.
template <FloatScalar T>
void kaiming_init_convs(nn::Module<T>& m, Generator& gen) {
  for (auto& [name, child] : m.named_modules())
    if (auto* conv = dynamic_cast<nn::Conv2d<T>*>(child.get())) nn::init::kaiming_normal_(conv->weight, gen);
}

template <FloatScalar T>
class ResNet : public nn::Module<T> {
 public:
  explicit ResNet(const ResNetSpec& spec, Generator& gen) : spec_(spec) {
    PACKD_CHECK(spec.base_planes > 0 && spec.width_per_group > 0 && spec.num_classes > 0, "ResNet: invalid spec for ",
                spec.name);
    for (int64_t n : spec.layers) PACKD_CHECK(n > 0, "ResNet ", spec.name, ": every layer needs at least one block");
    const int64_t b = spec.base_planes;
    auto conv1 = this->register_module(
        "conv1", std::make_shared<nn::Conv2d<T>>(3, b, 7, Conv2dOptions{.stride = {2, 2}, .padding = {3, 3}}, false, gen));
    auto bn1 = this->register_module("bn1", std::make_shared<nn::BatchNorm2d<T>>(b));
    stem_ = {conv1, bn1};
    int64_t inplanes = b;
    for (int i = 0; i < 4; ++i) {
      layers_[i] = this->register_module("layer" + std::to_string(i + 1),
                                         make_layer(inplanes, b << i, spec.layers[i], i == 0 ? 1 : 2, gen));
    }
    fc = this->register_module("fc", std::make_shared<nn::Linear<T>>(inplanes, spec.num_classes, true, gen));
    kaiming_init_convs(*this, gen);
  }

  // layer1, layer2, layer3 features of an ImageNet-normalised (N, 3, H, W) batch.
  std::array<Tensor<T>, 3> features(const Tensor<T>& x) {
    PACKD_CHECK(x.dim() == 4 && x.size(1) == 3, spec_.name, ": expects an image batch (N, 3, H, W), got shape ", x.shape());
    Tensor<T> s = max_pool2d(relu(stem_(x)), 3, 2, 1);  // (N, b, H/4, W/4)
    Tensor<T> f1 = layers_[0]->forward(s);               // (N, b e, H/4, W/4)
    Tensor<T> f2 = layers_[1]->forward(f1);              // (N, 2b e, H/8, W/8)
    Tensor<T> f3 = layers_[2]->forward(f2);              // (N, 4b e, H/16, W/16)
    return {f1, f2, f3};
  }
  // The classifier: (N, 3, H, W) -> logits (N, num_classes).
  Tensor<T> forward(const Tensor<T>& x) {
    Tensor<T> f4 = layers_[3]->forward(features(x)[2]);           // (N, 8b e, H/32, W/32)
    return fc->forward(adaptive_avg_pool2d(f4, 1).flatten(1));   // (N, num_classes)
  }

  const ResNetSpec& spec() const { return spec_; }
  std::shared_ptr<nn::Linear<T>> fc;

 private:
  std::shared_ptr<nn::Sequential<T>> make_layer(int64_t& inplanes, int64_t planes, int64_t blocks, int64_t stride,
                                                Generator& gen) {
    auto layer = std::make_shared<nn::Sequential<T>>();
    const int64_t out = planes * expansion(spec_.block);
    for (int64_t i = 0; i < blocks; ++i) {
      const int64_t s = i == 0 ? stride : 1;
      const bool down = i == 0 && (stride != 1 || inplanes != out);
      if (spec_.block == BlockKind::basic)
        layer->push_back(std::make_shared<BasicBlock<T>>(inplanes, planes, s, down, gen));
      else
        layer->push_back(std::make_shared<Bottleneck<T>>(inplanes, planes, s, down, spec_.width_per_group, gen));
      inplanes = out;
    }
    return layer;
  }

  ResNetSpec spec_;
  nn::ConvBn<T> stem_;
  std::array<std::shared_ptr<nn::Sequential<T>>, 4> layers_;
};

template <FloatScalar T>
std::shared_ptr<ResNet<T>> make_resnet(const std::string& name, Generator& gen) {
  return std::make_shared<ResNet<T>>(resnet_spec(name), gen);
}

}  // namespace packd::models
