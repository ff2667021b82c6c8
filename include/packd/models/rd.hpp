#pragma once
// Reverse distillation's student (RD4AD, Deng & Li, CVPR 2022), with the official code's
// architecture, initialisation and state_dict keys, so that its checkpoints
// ({'bn': ..., 'decoder': ...}) load by name.
//
// OCBE (RD4AD's BN_layer, key prefix "bn."): multi-scale fusion + one-class embedding. For a
// WideResNet50-2 teacher on a 256x256 input (e = 4, b = 64, w = width_per_group = 128):
//   conv1/bn1/relu  f1 (N, b e, 64, 64)   -> 3x3/2 -> (N, 2b e, 32, 32)
//   conv2/bn2/relu                        -> 3x3/2 -> (N, 4b e, 16, 16)
//   conv3/bn3/relu  f2 (N, 2b e, 32, 32)  -> 3x3/2 -> (N, 4b e, 16, 16)
//   cat [conv2 path, conv3 path, f3]      -> (N, 12b e, 16, 16)
//   bn_layer: blocks of planes 8b, stride 2 (the first sees 3 x 4b e channels) -> (N, 8b e, 8, 8)
//   conv4/bn4 (1x1, 16b e -> 8b e) exist in the official code and its checkpoints but are never
//   used; they are kept so that state_dicts match key for key (and get no gradient).
//
// ReverseDecoder (RD4AD's de_resnet, key prefix "decoder."): three layers mirroring the
// teacher's, each starting with a 2x2 stride-2 transposed conv:
//   layer1: planes 4b -> (N, 4b e, 16, 16)   aligned with the teacher's layer3
//   layer2: planes 2b -> (N, 2b e, 32, 32)   aligned with layer2
//   layer3: planes b  -> (N, b e, 64, 64)    aligned with layer1
// forward() returns them in the teacher's order (stage 1 first). The first block of each layer
// upsamples: 1x1 . bn . relu . deconv2x2 . bn . relu . 1x1 . bn (Bottleneck) or deconv2x2 . bn
// . relu . 3x3 . bn (BasicBlock), with an `upsample` shortcut [deconv2x2, bn].
//
// Initialisation as the official code: Kaiming normal (fan_out) for nn.Conv2d only; the
// transposed convs keep PyTorch's default (U(+-1/sqrt(4 out))) because RD4AD's init loop tests
// isinstance(m, nn.Conv2d), which a ConvTranspose2d is not.
#include <array>
#include <memory>
#include <string>

#include "packd/eval/anomaly_map.hpp"
#include "packd/models/resnet.hpp"
#include "packd/ops/distance.hpp"
#include "packd/ops/reduce.hpp"
#include "packd/ops/shape_ops.hpp"

namespace packd::models {

struct RDSpec {
  BlockKind block = BlockKind::bottleneck;
  int64_t ocbe_blocks = 3;                        // blocks of the one-class embedding layer
  std::array<int64_t, 3> decoder_layers{3, 4, 6};  // blocks of decoder layer1..3
  int64_t width_per_group = 128;
  int64_t base_planes = 64;
};

// RD4AD's student for each backbone (resnet.py / de_resnet.py of the official code).
inline RDSpec rd_spec(const ResNetSpec& teacher) {
  RDSpec s;
  s.block = teacher.block;
  s.ocbe_blocks = teacher.block == BlockKind::basic && teacher.layers[3] == 2 ? 2 : 3;  // resnet18: BN_layer(.., 2)
  s.decoder_layers = {teacher.layers[0], teacher.layers[1], teacher.layers[2]};
  s.width_per_group = teacher.width_per_group;
  s.base_planes = teacher.base_planes;
  return s;
}

// The decoder's mirror of BasicBlock: (deconv2x2 | 3x3) . bn . relu . 3x3 . bn, + shortcut, relu.
template <FloatScalar T>
class DeBasicBlock : public Block<T> {
 public:
  DeBasicBlock(int64_t inplanes, int64_t planes, bool upsample, Generator& gen) {
    std::shared_ptr<nn::ConvTranspose2d<T>> up1;
    std::shared_ptr<nn::Conv2d<T>> conv1;
    if (upsample)
      up1 = this->register_module("conv1", nn::deconv2x2<T>(inplanes, planes, gen));
    else
      conv1 = this->register_module("conv1", nn::conv3x3<T>(inplanes, planes, 1, gen));
    auto bn1 = this->register_module("bn1", std::make_shared<nn::BatchNorm2d<T>>(planes));
    if (upsample)
      up_cb1_ = {up1, bn1};
    else
      cb1_ = {conv1, bn1};
    auto conv2 = this->register_module("conv2", nn::conv3x3<T>(planes, planes, 1, gen));
    cb2_ = {conv2, this->register_module("bn2", std::make_shared<nn::BatchNorm2d<T>>(planes))};
    if (upsample) {
      auto seq = this->register_module("upsample", std::make_shared<nn::Sequential<T>>());
      shortcut_ = {seq->push_back(nn::deconv2x2<T>(inplanes, planes, gen)),
                   seq->push_back(std::make_shared<nn::BatchNorm2d<T>>(planes))};
    } else if (inplanes != planes) {
      // A stride-1 block whose width changes (PACKD's refine block) projects with a 1x1 conv + bn.
      auto seq = this->register_module("upsample", std::make_shared<nn::Sequential<T>>());
      projection_ = {seq->push_back(nn::conv1x1<T>(inplanes, planes, 1, gen)),
                     seq->push_back(std::make_shared<nn::BatchNorm2d<T>>(planes))};
    }
  }
  Tensor<T> forward(const Tensor<T>& x) override {  // (N, inplanes, H, W) -> (N, planes, sH, sW), s = 2 if upsampling
    const bool up = bool(up_cb1_);
    Tensor<T> out = cb2_(relu(up ? up_cb1_(x) : cb1_(x)));
    return relu(add(out, up ? shortcut_(x) : projection_ ? projection_(x) : x));
  }

 private:
  nn::ConvBn<T, nn::ConvTranspose2d<T>> up_cb1_;
  nn::ConvBn<T> cb1_, cb2_, projection_;
  nn::ConvBn<T, nn::ConvTranspose2d<T>> shortcut_;
};

// The decoder's mirror of Bottleneck: 1x1 . bn . relu . (deconv2x2 | 3x3) . bn . relu . 1x1 . bn,
// + shortcut, relu.
template <FloatScalar T>
class DeBottleneck : public Block<T> {
 public:
  DeBottleneck(int64_t inplanes, int64_t planes, bool upsample, int64_t width_per_group, Generator& gen) {
    const int64_t width = planes * width_per_group / 64, out = planes * 4;
    auto conv1 = this->register_module("conv1", nn::conv1x1<T>(inplanes, width, 1, gen));
    cb1_ = {conv1, this->register_module("bn1", std::make_shared<nn::BatchNorm2d<T>>(width))};
    std::shared_ptr<nn::ConvTranspose2d<T>> up2;
    std::shared_ptr<nn::Conv2d<T>> conv2;
    if (upsample)
      up2 = this->register_module("conv2", nn::deconv2x2<T>(width, width, gen));
    else
      conv2 = this->register_module("conv2", nn::conv3x3<T>(width, width, 1, gen));
    auto bn2 = this->register_module("bn2", std::make_shared<nn::BatchNorm2d<T>>(width));
    if (upsample)
      up_cb2_ = {up2, bn2};
    else
      cb2_ = {conv2, bn2};
    auto conv3 = this->register_module("conv3", nn::conv1x1<T>(width, out, 1, gen));
    cb3_ = {conv3, this->register_module("bn3", std::make_shared<nn::BatchNorm2d<T>>(out))};
    if (upsample) {
      auto seq = this->register_module("upsample", std::make_shared<nn::Sequential<T>>());
      shortcut_ = {seq->push_back(nn::deconv2x2<T>(inplanes, out, gen)),
                   seq->push_back(std::make_shared<nn::BatchNorm2d<T>>(out))};
    } else if (inplanes != out) {
      // A stride-1 block whose width changes (PACKD's refine block) projects with a 1x1 conv + bn.
      auto seq = this->register_module("upsample", std::make_shared<nn::Sequential<T>>());
      projection_ = {seq->push_back(nn::conv1x1<T>(inplanes, out, 1, gen)),
                     seq->push_back(std::make_shared<nn::BatchNorm2d<T>>(out))};
    }
  }
  Tensor<T> forward(const Tensor<T>& x) override {  // (N, inplanes, H, W) -> (N, 4 planes, sH, sW)
    const bool up = bool(up_cb2_);
    Tensor<T> h = relu(cb1_(x));                  // (N, width, H, W)
    h = relu(up ? up_cb2_(h) : cb2_(h));          // (N, width, sH, sW)
    Tensor<T> out = cb3_(h);                      // (N, 4 planes, sH, sW)
    Tensor<T> identity = up ? shortcut_(x) : projection_ ? projection_(x) : x;
    return relu(add(out, identity));
  }

 private:
  nn::ConvBn<T> cb1_, cb2_, cb3_;
  nn::ConvBn<T, nn::ConvTranspose2d<T>> up_cb2_, shortcut_;
  nn::ConvBn<T> projection_;
};

// RD4AD's BN_layer: multi-scale feature fusion and the one-class embedding.
template <FloatScalar T>
class OCBE : public nn::Module<T> {
 public:
  OCBE(const RDSpec& spec, Generator& gen) : spec_(spec) {
    const int64_t e = expansion(spec.block), b = spec.base_planes;
    const int64_t c1 = b * e, c2 = 2 * b * e, c3 = 4 * b * e;  // teacher feature channels
    // Registered first, as in the official code (state_dict order).
    bn_layer_ = this->register_module("bn_layer", std::make_shared<nn::Sequential<T>>());
    int64_t inplanes = 3 * c3;
    const int64_t planes = 8 * b, out = planes * e;
    for (int64_t i = 0; i < spec.ocbe_blocks; ++i) {
      const bool first = i == 0;
      if (spec.block == BlockKind::basic)
        bn_layer_->push_back(std::make_shared<BasicBlock<T>>(inplanes, planes, first ? 2 : 1, first, gen));
      else
        bn_layer_->push_back(
            std::make_shared<Bottleneck<T>>(inplanes, planes, first ? 2 : 1, first, spec.width_per_group, gen));
      inplanes = out;
    }
    auto conv1 = this->register_module("conv1", nn::conv3x3<T>(c1, c2, 2, gen));
    auto bn1 = this->register_module("bn1", std::make_shared<nn::BatchNorm2d<T>>(c2));
    auto conv2 = this->register_module("conv2", nn::conv3x3<T>(c2, c3, 2, gen));
    auto bn2 = this->register_module("bn2", std::make_shared<nn::BatchNorm2d<T>>(c3));
    auto conv3 = this->register_module("conv3", nn::conv3x3<T>(c2, c3, 2, gen));
    auto bn3 = this->register_module("bn3", std::make_shared<nn::BatchNorm2d<T>>(c3));
    this->register_module("conv4", nn::conv1x1<T>(4 * c3, out, 1, gen));  // unused (see above)
    this->register_module("bn4", std::make_shared<nn::BatchNorm2d<T>>(out));
    cb1_ = {conv1, bn1};
    cb2_ = {conv2, bn2};
    cb3_ = {conv3, bn3};
    kaiming_init_convs(*this, gen);
  }

  // The teacher's three features -> the embedding (N, 8b e, H/32, W/32).
  Tensor<T> forward(const std::array<Tensor<T>, 3>& f) {
    Tensor<T> l1 = relu(cb2_(relu(cb1_(f[0]))));  // (N, 4b e, H/16, W/16)
    Tensor<T> l2 = relu(cb3_(f[1]));             // (N, 4b e, H/16, W/16)
    PACKD_CHECK(l1.shape() == f[2].shape() && l2.shape() == f[2].shape(), "OCBE: the fused stage-1 and stage-2 features ",
                l1.shape(), " and ", l2.shape(), " do not match the stage-3 feature ", f[2].shape(),
                " (the input side must be a multiple of 32)");
    Tensor<T> fused = cat<T>({l1, l2, f[2]}, 1);  // (N, 12b e, H/16, W/16)
    return bn_layer_->forward(fused).contiguous();
  }
  const RDSpec& spec() const { return spec_; }

 private:
  RDSpec spec_;
  std::shared_ptr<nn::Sequential<T>> bn_layer_;
  nn::ConvBn<T> cb1_, cb2_, cb3_;
};

// RD4AD's reversed decoder. extra_in adds input channels to the first block of layer1..3 (PACKD
// concatenates its guide feature and probability map there); zero gives RD's decoder.
// refine_in > 0 adds PACKD's refine block ("refine": one stride-1 decoder block of planes b,
// refine_in -> b e channels, with a 1x1 conv + bn shortcut), applied by refine().
template <FloatScalar T>
class ReverseDecoder : public nn::Module<T> {
 public:
  ReverseDecoder(const RDSpec& spec, Generator& gen, std::array<int64_t, 3> extra_in = {0, 0, 0}, int64_t refine_in = 0)
      : spec_(spec) {
    const int64_t e = expansion(spec.block), b = spec.base_planes;
    int64_t inplanes = 8 * b * e;
    for (int i = 0; i < 3; ++i) {
      const int64_t planes = (4 * b) >> i;
      auto layer = std::make_shared<nn::Sequential<T>>();
      for (int64_t k = 0; k < spec.decoder_layers[i]; ++k) {
        const int64_t in = k == 0 ? inplanes + extra_in[i] : planes * e;
        if (spec.block == BlockKind::basic)
          layer->push_back(std::make_shared<DeBasicBlock<T>>(in, planes, k == 0, gen));
        else
          layer->push_back(std::make_shared<DeBottleneck<T>>(in, planes, k == 0, spec.width_per_group, gen));
      }
      inplanes = planes * e;
      layers_[i] = this->register_module("layer" + std::to_string(i + 1), layer);
    }
    if (refine_in > 0) {
      if (spec.block == BlockKind::basic)
        refine_ = this->register_module("refine", std::make_shared<DeBasicBlock<T>>(refine_in, b, false, gen));
      else
        refine_ = this->register_module("refine",
                                        std::make_shared<DeBottleneck<T>>(refine_in, b, false, spec.width_per_group, gen));
    }
    kaiming_init_convs(*this, gen);
  }

  // PACKD's refine block: (N, refine_in, H, W) -> (N, b e, H, W).
  Tensor<T> refine(const Tensor<T>& x) {
    PACKD_CHECK(refine_ != nullptr, "ReverseDecoder: this decoder has no refine block");
    return refine_->forward(x);
  }
  bool has_refine() const { return refine_ != nullptr; }

  // One decoder layer i (0, 1, 2): (N, C, H, W) -> (N, C/2, 2H, 2W).
  Tensor<T> layer(int i, const Tensor<T>& x) { return layers_.at(std::size_t(i))->forward(x); }

  // The embedding (N, 8b e, h, w) -> student features in the teacher's order:
  // {(N, b e, 8h, 8w), (N, 2b e, 4h, 4w), (N, 4b e, 2h, 2w)}.
  std::array<Tensor<T>, 3> forward(const Tensor<T>& embedding) {
    Tensor<T> a = layer(0, embedding);  // (N, 4b e, 2h, 2w)
    Tensor<T> b = layer(1, a);          // (N, 2b e, 4h, 4w)
    Tensor<T> c = layer(2, b);          // (N, b e, 8h, 8w)
    return {c, b, a};
  }
  const RDSpec& spec() const { return spec_; }

 private:
  RDSpec spec_;
  std::array<std::shared_ptr<nn::Sequential<T>>, 3> layers_;
  std::shared_ptr<Block<T>> refine_;
};

// RD's training loss (the official code's form, which PACKD's Eq. 1 keeps): per stage, one cosine
// between the flattened C*H*W teacher and student features of each sample, 1 - cos averaged over
// the batch, summed over stages. teacher[k], student[k]: (N, C_k, H_k, W_k) -> scalar.
template <FloatScalar T, std::size_t K>
Tensor<T> rd_loss(const std::array<Tensor<T>, K>& teacher, const std::array<Tensor<T>, K>& student) {
  Tensor<T> loss;
  for (std::size_t k = 0; k < K; ++k) {
    PACKD_CHECK(teacher[k].shape() == student[k].shape(), "rd_loss: stage ", k + 1, " teacher ", teacher[k].shape(),
                " and student ", student[k].shape(), " differ in shape");
    const int64_t n = teacher[k].size(0);
    Tensor<T> cos = cosine_similarity(teacher[k].reshape({n, -1}), student[k].reshape({n, -1}), 1, 1e-8);  // (N,)
    Tensor<T> term = mean(add(neg(cos), T(1)));
    loss = loss.defined() ? add(loss, term) : term;
  }
  return loss;
}

// Reverse distillation: a frozen teacher, and the student (OCBE "bn" + decoder "decoder") as the
// module's children, so that state_dict() has the official checkpoint's keys (bn.*, decoder.*)
// and an RD4AD checkpoint loads with load_state_dict. The teacher is held apart: it is loaded from
// torchvision's files, stays in eval mode, and runs without autograd.
template <FloatScalar T>
class ReverseDistillation : public nn::Module<T> {
 public:
  ReverseDistillation(const ResNetSpec& teacher_spec, Generator& gen)
      : ReverseDistillation(teacher_spec, rd_spec(teacher_spec), gen) {}
  ReverseDistillation(const ResNetSpec& teacher_spec, const RDSpec& student_spec, Generator& gen)
      : teacher(std::make_shared<ResNet<T>>(teacher_spec, gen)) {
    bn = this->register_module("bn", std::make_shared<OCBE<T>>(student_spec, gen));
    decoder = this->register_module("decoder", std::make_shared<ReverseDecoder<T>>(student_spec, gen));
    teacher->eval();
    teacher->requires_grad_(false);
  }

  // Moves the student and the teacher (held apart, not a child) to `device` in place.
  void to(Device device) {
    nn::Module<T>::to(device);
    teacher->to(device);
  }

  // Teacher features of an ImageNet-normalised batch (N, 3, H, W), without autograd.
  std::array<Tensor<T>, 3> teacher_features(const Tensor<T>& x) {
    NoGradGuard no_grad;
    return teacher->features(x);
  }
  // Student features from the teacher's: {(N, C1, H/4, W/4), (N, C2, H/8, W/8), (N, C3, H/16, W/16)}.
  std::array<Tensor<T>, 3> student(const std::array<Tensor<T>, 3>& teacher_feats) {
    return decoder->forward(bn->forward(teacher_feats));
  }
  // Inference: the smoothed anomaly map (N, 1, H, W) (float64) of a batch, student in eval mode.
  Tensor<double> anomaly_map(const Tensor<T>& x, eval::AnomalyMapOptions opt = {}) {
    NoGradGuard no_grad;
    std::array<Tensor<T>, 3> t = teacher_features(x);
    opt.size = {x.size(2), x.size(3)};
    return eval::anomaly_map(t, student(t), opt);
  }

  std::shared_ptr<ResNet<T>> teacher;
  std::shared_ptr<OCBE<T>> bn;
  std::shared_ptr<ReverseDecoder<T>> decoder;
};

}  // namespace packd::models
