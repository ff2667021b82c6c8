#pragma once
// Parameter initialisation as PyTorch's torch.nn.init, drawing from an explicit Generator.
//
//   fan_in  = size(1) * receptive field,  fan_out = size(0) * receptive field
//   (for a ConvTranspose2d weight (Cin, Cout/g, kh, kw) size(1) is the output side, so its
//    "fan_in" is Cout/g * kh * kw: PyTorch computes it this way and RD4AD's decoder relies on it)
//
//   kaiming_normal_(w, fan_out, relu):  N(0, 2 / fan)              torchvision's conv init
//   default_conv_init_(w, b):           kaiming_uniform_(a = sqrt 5) => U(-1/sqrt(fan_in), +..),
//                                       bias U(-1/sqrt(fan_in), +1/sqrt(fan_in))
//                                       (what nn.Conv2d, nn.ConvTranspose2d, nn.Linear do by default)
#include <cmath>

#include "packd/autograd/grad_mode.hpp"
#include "packd/core/generator.hpp"
#include "packd/ops/factory.hpp"

namespace packd::nn::init {

enum class FanMode { fan_in, fan_out };

namespace detail {
inline thread_local bool skip_init = false;
}

// Within its scope, modules are built without drawing initial values (parameters stay zero), as
// torch.nn.utils.skip_init: for models whose every weight is loaded from a file right after
// (a strict load_state_dict then guarantees that nothing stays uninitialised). Drawing Kaiming
// values for WideResNet50-2 and RD's student takes seconds that loading would throw away.
class SkipInitGuard {
 public:
  SkipInitGuard() : prev_(detail::skip_init) { detail::skip_init = true; }
  ~SkipInitGuard() { detail::skip_init = prev_; }
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;

 private:
  bool prev_;
};

template <FloatScalar T>
int64_t fan(const Tensor<T>& w, FanMode mode) {
  PACKD_CHECK(w.dim() >= 2, "init: fan of a tensor of shape ", w.shape(), " needs at least 2 dimensions");
  int64_t receptive = 1;
  for (int d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return (mode == FanMode::fan_in ? w.size(1) : w.size(0)) * receptive;
}

// Fills t in place (no autograd) with values drawn by draw(gen), in row-major order.
template <FloatScalar T, class Draw>
void fill_with(Tensor<T>& t, Generator& gen, Draw draw) {
  PACKD_CHECK(t.device().is_cpu() && t.is_contiguous(), "init: expects a contiguous CPU tensor, got shape ", t.shape(),
              " on ", t.device());
  if (detail::skip_init) return;
  NoGradGuard no_grad;
  T* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(draw(gen));
  t.bump_version();
}

template <FloatScalar T>
void normal_(Tensor<T>& t, Generator& gen, double mean, double stddev) {
  fill_with(t, gen, [=](Generator& g) { return mean + stddev * g.normal(); });
}

template <FloatScalar T>
void uniform_(Tensor<T>& t, Generator& gen, double low, double high) {
  fill_with(t, gen, [=](Generator& g) { return low + (high - low) * g.uniform(); });
}

// Kaiming (He) normal with the ReLU gain sqrt(2).
template <FloatScalar T>
void kaiming_normal_(Tensor<T>& w, Generator& gen, FanMode mode = FanMode::fan_out) {
  normal_(w, gen, 0.0, std::sqrt(2.0 / double(fan(w, mode))));
}

// PyTorch's default for Conv2d, ConvTranspose2d and Linear (kaiming_uniform_ with a = sqrt(5),
// which reduces to a bound of 1 / sqrt(fan_in)); the bias, when present, uses the same bound.
template <FloatScalar T>
void default_conv_init_(Tensor<T>& w, Tensor<T>* bias, Generator& gen) {
  const double bound = 1.0 / std::sqrt(double(fan(w, FanMode::fan_in)));
  uniform_(w, gen, -bound, bound);
  if (bias != nullptr && bias->defined()) uniform_(*bias, gen, -bound, bound);
}

}  // namespace packd::nn::init
