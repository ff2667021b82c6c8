#pragma once
// PACKD's student (paper section 4; packd-method.md D1-D7, D17): RD's OCBE and reversed decoder,
// guided by prototypes of the support images' teacher features (PEIM), plus the projection heads
// of the contrastive loss. The frozen teacher is held apart, as in ReverseDistillation.
//
// Shapes for a WideResNet50-2 teacher, 256x256 input, B queries with V support views each
// (stages i = 1, 2, 3: C = 256, 512, 1024 at N = 64^2, 32^2, 16^2 positions; L prototypes):
//
//   teacher   tq_i (B, C_i, H_i, W_i) of the queries, ts_i (B V, C_i, H_i, W_i) of the views
//   prototypes (Eq. 2) per stage: A = softmax over positions of proto.stage_i(ts_i)  (B V, L, N)
//              P = A ts_i^T  (B, M, C_i), M = V L (per_view) or L (joint, one softmax over all views)
//   integration (Eq. 3-4): sim = P^ s^ (B, M, N) (D17: x / max(|x|, 1e-8)); guide G: the raw prototype
//              of largest similarity at each position (B, C_i, H_i, W_i); prob map: mean_m sim (B, 1, H_i, W_i)
//   student   e = bn(tq) (B, 2048, 8, 8)
//             s3 = decoder.layer1(e)                     (B, 1024, 16, 16)
//             s2 = decoder.layer2(s3 + G3 + P3)          (B, 512, 32, 32)    first block in: 2049
//             s1 = decoder.layer3(s2 + G2 + P2)          (B, 256, 64, 64)    first block in: 1025
//             s1 = decoder.refine(s1 + G1 + P1)          (B, 256, 64, 64)    in: 513 (integrate=all)
//   ("+" is concatenation along channels)
//
// Parameter names (packd-method.md 3): bn.*, decoder.* (decoder.refine.*), proto.stage{1,2,3}.*
// (a conv, or Sequential(conv, BN) with proto_bn=on), proj.stage{1,2,3}.{0,1,3}.*.
#include <array>
#include <memory>
#include <string>

#include "packd/models/packd_config.hpp"
#include "packd/models/rd.hpp"
#include "packd/ops/linalg.hpp"
#include "packd/ops/softmax.hpp"

namespace packd::models {

// The prototypes of one stage and what the integration made of them.
template <FloatScalar T>
struct StageGuide {
  Tensor<T> prototypes;  // (B, M, C_i)
  Tensor<T> guide;       // (B, C_i, H_i, W_i)
  Tensor<T> prob;        // (B, 1, H_i, W_i)
};

template <FloatScalar T>
struct PackdForward {
  std::array<Tensor<T>, 3> teacher;        // tq_i (B, C_i, H_i, W_i)
  std::array<Tensor<T>, 3> support;        // ts_i (B V, C_i, H_i, W_i)
  std::array<Tensor<T>, 3> student;        // S_i  (B, C_i, H_i, W_i)
  std::array<Tensor<T>, 3> prototypes;     // P_i  (B, M, C_i); undefined with integrate=none
  std::array<Tensor<T>, 3> proto_attention;  // A_i (B V, L, N) (per_view) or (B, L, V N) (joint)
};

// PyTorch's F.normalize(x, dim, eps = 1e-8): x / max(|x|, 1e-8) (D17).
template <FloatScalar T>
Tensor<T> unit(const Tensor<T>& x, int64_t dim) {
  return normalize(x, 2.0, dim, 1e-8);
}

template <FloatScalar T>
class PackdStudent : public nn::Module<T> {
 public:
  PackdStudent(const ResNetSpec& teacher_spec, const RDSpec& student_spec, const PackdConfig& cfg, Generator& gen)
      : cfg_(cfg), teacher(std::make_shared<ResNet<T>>(teacher_spec, gen)) {
    cfg.validate();
    const std::array<int64_t, 3> c = feature_channels(teacher_spec);
    PACKD_CHECK(student_spec.base_planes == teacher_spec.base_planes && student_spec.block == teacher_spec.block,
                "PackdStudent: the student's block and widths must be the teacher's");
    const bool on = cfg.integrates();
    // Decoder layer2 and layer3 receive [s, G, P]: + C_i + 1 channels of the stage above.
    const std::array<int64_t, 3> extra{0, on ? c[2] + 1 : 0, on ? c[1] + 1 : 0};
    const int64_t refine_in = cfg.integrate == "all" ? 2 * c[0] + 1 : 0;
    bn = this->register_module("bn", std::make_shared<OCBE<T>>(student_spec, gen));
    decoder = this->register_module("decoder", std::make_shared<ReverseDecoder<T>>(student_spec, gen, extra, refine_in));
    if (on) {
      proto_ = this->register_module("proto", std::make_shared<nn::Module<T>>());
      // Stage 1's prototypes guide only the refine block (integrate=all).
      for (int i = cfg.integrate == "all" ? 0 : 1; i < 3; ++i) {
        auto conv = std::make_shared<nn::Conv2d<T>>(c[i], cfg.prototypes, 3, Conv2dOptions{.padding = {1, 1}}, true, gen);
        if (cfg.proto_bn == "on") {
          auto seq = std::make_shared<nn::Sequential<T>>();
          seq->push_back(conv);
          seq->push_back(std::make_shared<nn::BatchNorm2d<T>>(cfg.prototypes));
          proto_conv_[i] = proto_->register_module("stage" + std::to_string(i + 1), seq);
        } else {
          proto_conv_[i] = proto_->register_module("stage" + std::to_string(i + 1), conv);
        }
      }
    }
    if (cfg.proj == "head") {
      proj_ = this->register_module("proj", std::make_shared<nn::Module<T>>());
      for (int i = 0; i < 3; ++i) {
        auto seq = std::make_shared<nn::Sequential<T>>();
        seq->push_back(nn::conv1x1<T>(c[i], c[i], 1, gen));
        seq->push_back(std::make_shared<nn::BatchNorm2d<T>>(c[i]));
        seq->push_back(std::make_shared<nn::ReLU<T>>());
        seq->push_back(std::make_shared<nn::Conv2d<T>>(c[i], c[i], 1, Conv2dOptions{}, true, gen));
        proj_head_[i] = proj_->register_module("stage" + std::to_string(i + 1), seq);
      }
    }
    teacher->eval();
    teacher->requires_grad_(false);
  }

  const PackdConfig& config() const { return cfg_; }

  // Moves the student's parameters and buffers and the teacher's (held apart, not a child) to
  // `device` in place.
  void to(Device device) {
    nn::Module<T>::to(device);
    teacher->to(device);
  }

  // query (B, 3, H, W); support (B, V, 3, H, W): each query's own support views (already augmented).
  PackdForward<T> forward(const Tensor<T>& query, const Tensor<T>& support) {
    PACKD_CHECK(query.dim() == 4 && query.size(1) == 3, "PACKD: the queries must be (B, 3, H, W), got ", query.shape());
    PACKD_CHECK(support.dim() == 5 && support.size(0) == query.size(0) && support.size(2) == 3 &&
                    support.size(3) == query.size(2) && support.size(4) == query.size(3),
                "PACKD: the support views must be (B, V, 3, H, W) matching the queries ", query.shape(), ", got ",
                support.shape());
    const int64_t B = query.size(0), V = support.size(1);
    PackdForward<T> out;
    {
      NoGradGuard no_grad;  // the teacher is frozen
      out.teacher = teacher->features(query);
      // The views' features serve the prototypes and the contrastive loss's anchors.
      if (cfg_.integrates() || cfg_.lambda1 > 0)
        out.support = teacher->features(support.reshape({B * V, 3, support.size(3), support.size(4)}));
    }
    return decode(std::move(out), B, V);
  }

  // Teacher features of one set of support views (V, 3, H, W), for forward_shared.
  std::array<Tensor<T>, 3> encode_support(const Tensor<T>& views) {
    PACKD_CHECK(views.dim() == 4 && views.size(1) == 3, "PACKD: support views must be (V, 3, H, W), got ", views.shape());
    NoGradGuard no_grad;
    return teacher->features(views);
  }

  // Inference with one set of support views shared by every query (the evaluation protocol): the
  // views' teacher features (encode_support) and prototypes are computed once, not per query.
  // query (B, 3, H, W); support_features: encode_support's (V, C_i, H_i, W_i).
  PackdForward<T> forward_shared(const Tensor<T>& query, const std::array<Tensor<T>, 3>& support_features) {
    PACKD_CHECK(query.dim() == 4 && query.size(1) == 3, "PACKD: the queries must be (B, 3, H, W), got ", query.shape());
    PackdForward<T> out;
    {
      NoGradGuard no_grad;
      out.teacher = teacher->features(query);
    }
    for (int i = 0; i < 3; ++i)
      PACKD_CHECK(support_features[i].dim() == 4 && support_features[i].size(1) == out.teacher[i].size(1) &&
                      support_features[i].size(2) == out.teacher[i].size(2),
                  "PACKD: support features of stage ", i + 1, " have shape ", support_features[i].shape(),
                  ", the queries' ", out.teacher[i].shape());
    out.support = support_features;
    return decode(std::move(out), query.size(0), support_features[0].size(0), true);
  }

 private:
  // The student given the teacher features: out.support holds B V views, or V views shared by
  // all B queries (shared).
  PackdForward<T> decode(PackdForward<T> out, int64_t B, int64_t V, bool shared = false) {
    const auto& tq = out.teacher;
    Tensor<T> s3 = decoder->layer(0, bn->forward(tq));  // (B, C3, H/16, W/16)
    if (!cfg_.integrates()) {
      Tensor<T> s2 = decoder->layer(1, s3);
      out.student = {decoder->layer(2, s2), s2, s3};
      return out;
    }
    StageGuide<T> g3 = guide(2, out.support[2], s3, B, V, shared, out);
    Tensor<T> s2 = decoder->layer(1, cat<T>({s3, g3.guide, g3.prob}, 1));  // (B, C2, H/8, W/8)
    StageGuide<T> g2 = guide(1, out.support[1], s2, B, V, shared, out);
    Tensor<T> s1 = decoder->layer(2, cat<T>({s2, g2.guide, g2.prob}, 1));  // (B, C1, H/4, W/4)
    if (cfg_.integrate == "all") {
      StageGuide<T> g1 = guide(0, out.support[0], s1, B, V, shared, out);
      s1 = decoder->refine(cat<T>({s1, g1.guide, g1.prob}, 1));
    }
    out.student = {s1, s2, s3};
    return out;
  }

 public:
  // g_i of the contrastive loss (identity with proj=none): (B, C_i, H_i, W_i) -> same.
  Tensor<T> project(int i, const Tensor<T>& s) { return proj_head_[std::size_t(i)] ? proj_head_[std::size_t(i)]->forward(s) : s; }

  // Eq. 2: the prototypes of stage i from the support views' teacher features ts (B V, C, H, W).
  // Returns P (B, M, C) and the attention maps.
  std::pair<Tensor<T>, Tensor<T>> prototypes(int i, const Tensor<T>& ts, int64_t B, int64_t V) {
    const int64_t C = ts.size(1), N = ts.size(2) * ts.size(3), L = cfg_.prototypes;
    Tensor<T> logits = proto_conv_[std::size_t(i)]->forward(ts).reshape({B * V, L, N});  // (B V, L, N)
    Tensor<T> feats = ts.reshape({B * V, C, N});                                          // (B V, C, N)
    if (cfg_.proto_pool == "joint") {
      Tensor<T> a = softmax(logits.reshape({B, V, L, N}).permute({0, 2, 1, 3}).reshape({B, L, V * N}), 2);  // (B, L, V N)
      Tensor<T> f = feats.reshape({B, V, C, N}).permute({0, 1, 3, 2}).reshape({B, V * N, C});            // (B, V N, C)
      return {bmm(a, f), a};                                                                                // (B, L, C)
    }
    Tensor<T> a = softmax(logits, 2);                                   // (B V, L, N)
    Tensor<T> p = bmm(a, feats.transpose(1, 2));                       // (B V, L, C)
    return {p.reshape({B, V * L, C}), a};
  }

 private:
  // Eq. 3-4 at stage i: prototypes of the support views, guide feature and probability map for
  // the student feature s (B, C, H, W).
  StageGuide<T> guide(int i, const Tensor<T>& ts, const Tensor<T>& s, int64_t B, int64_t V, bool shared,
                      PackdForward<T>& out) {
    const int64_t C = s.size(1), H = s.size(2), W = s.size(3), N = H * W;
    auto [p, attention] = prototypes(i, ts, shared ? 1 : B, V);  // (B, M, C), or (1, M, C) shared
    if (shared) p = p.expand({B, p.size(1), C});
    const int64_t M = p.size(1);
    out.prototypes[std::size_t(i)] = p;
    out.proto_attention[std::size_t(i)] = attention;
    Tensor<T> sim = bmm(unit(p, 2), unit(s.reshape({B, C, N}), 1));  // (B, M, N)
    StageGuide<T> g;
    g.prototypes = p;
    if (cfg_.guide == "soft") {
      Tensor<T> w = softmax(mul(sim, T(1.0 / cfg_.tau)), 1);         // (B, M, N)
      g.guide = bmm(p.transpose(1, 2), w).reshape({B, C, H, W});     // (B, C, H, W)
    } else {
      // The prototype of largest similarity at each position (ties: the lowest index), gathered
      // from the flattened (B M, C) prototypes: the gradient reaches the chosen ones only.
      // Row q's prototypes start at q M: index = q M + best, computed on the device (no host copy).
      Tensor<int64_t> best = argmax(sim.detach(), 1);                                   // (B, N)
      Tensor<int64_t> first = mul(arange<int64_t>(0, B, 1, p.device()), M).unsqueeze(1);  // (B, 1)
      Tensor<int64_t> index = add(best, first).reshape({B * N});                        // (B N,)
      g.guide = index_select(p.reshape({B * M, C}), 0, index).reshape({B, H, W, C}).permute({0, 3, 1, 2});
    }
    Tensor<T> total = sum(sim, {1}, true);  // (B, 1, N)
    g.prob = (cfg_.prob_map == "sum" ? total : mul(total, T(1.0 / double(M)))).reshape({B, 1, H, W});
    return g;
  }

  PackdConfig cfg_;
  std::shared_ptr<nn::Module<T>> proto_, proj_;
  std::array<std::shared_ptr<nn::UnaryModule<T>>, 3> proto_conv_{};
  std::array<std::shared_ptr<nn::Sequential<T>>, 3> proj_head_{};

 public:
  std::shared_ptr<ResNet<T>> teacher;
  std::shared_ptr<OCBE<T>> bn;
  std::shared_ptr<ReverseDecoder<T>> decoder;
};

}  // namespace packd::models
