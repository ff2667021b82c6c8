#pragma once
// RD's anomaly map (foundations.md 1.8, packd-method.md D14), as the official test.py computes it:
//
//   per stage k:  m_k = 1 - cos(E_k, D_k) over channels (eps 1e-8)      (N, 1, H_k, W_k), in T
//                 upsampled bilinearly (align_corners = true) to (H, W)  (N, 1, H, W),     in T
//   combined:     sum over stages (or product: MapCombine::mul)           float64, as RD's numpy array
//   smoothed:     Gaussian sigma = 4, 33 taps, scipy 'reflect' (edge repeated), float64
//   image score:  max of the smoothed map
//
// Everything here runs without autograd: it is an evaluation, not a loss.
#include <array>

#include "packd/autograd/grad_mode.hpp"
#include "packd/ops/distance.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/filter.hpp"
#include "packd/ops/reduce.hpp"
#include "packd/ops/resize.hpp"

namespace packd::eval {

enum class MapCombine { sum, mul };

struct AnomalyMapOptions {
  std::array<int64_t, 2> size{256, 256};  // (H, W) of the map: the input image's size
  MapCombine combine = MapCombine::sum;
  double sigma = 4.0;                      // <= 0 turns the smoothing off
  BlurPadding padding = BlurPadding::scipy_reflect;
};

// teacher[k], student[k]: (N, C_k, H_k, W_k) -> the smoothed map (N, 1, H, W) in float64.
template <FloatScalar T, std::size_t K>
Tensor<double> anomaly_map(const std::array<Tensor<T>, K>& teacher, const std::array<Tensor<T>, K>& student,
                           const AnomalyMapOptions& opt = {}) {
  NoGradGuard no_grad;
  Tensor<double> total;  // (N, 1, H, W)
  for (std::size_t k = 0; k < K; ++k) {
    PACKD_CHECK(teacher[k].shape() == student[k].shape(), "anomaly_map: stage ", k + 1, " teacher feature ",
                teacher[k].shape(), " and student feature ", student[k].shape(), " differ in shape");
    PACKD_CHECK(teacher[k].dim() == 4, "anomaly_map: stage ", k + 1, " features must be (N, C, H, W), got ",
                teacher[k].shape());
    Tensor<T> m = add(neg(cosine_similarity(teacher[k], student[k], 1, 1e-8)), T(1)).unsqueeze(1);  // (N, 1, H_k, W_k)
    Tensor<double> up = interpolate(m, opt.size, InterpMode::bilinear, true).template to<double>();  // (N, 1, H, W)
    total = !total.defined() ? up : opt.combine == MapCombine::sum ? add(total, up) : mul(total, up);
  }
  return opt.sigma > 0 ? gaussian_blur2d(total, opt.sigma, 4.0, opt.padding) : total;
}

// Image scores: the max of each map. (N, 1, H, W) -> (N,)
inline Tensor<double> image_scores(const Tensor<double>& maps) { return amax(maps.flatten(1), {1}); }

}  // namespace packd::eval
