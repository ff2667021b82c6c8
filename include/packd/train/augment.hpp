#pragma once
// Support-view augmentation (packd-method.md D12), on ImageNet-normalised images:
//
//   aug=rot90 (default)  the right-angle rotations 0, 90, 180, 270 degrees counter-clockwise of each
//                        support (torch.rot90(x, r, dims=(-2, -1))): k supports -> 4k views, view
//                        4n + r = support n rotated r times
//   aug=regad            RegAD's 22 views per support (foundations.md 2.3): the original, the three
//                        right angles, 8 small rotations (+-pi/16, +-pi/8, +-3pi/16, +-pi/4), 8 shifts
//                        ((+-0.2, +-0.2), (+-0.1, +-0.1) in normalised coordinates), a horizontal flip
//                        and a greyscale copy; warps use bilinear grid_sample with reflection padding
//                        (align_corners false), view 22n + j
//   aug=none             the supports themselves
//
// The geometric views commute with the per-channel normalisation (their resampling weights sum
// to 1); the greyscale view does not, so it is computed on de-normalised values (weights 0.299,
// 0.587, 0.114) and normalised again.
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "packd/autograd/grad_mode.hpp"
#include "packd/ops/grid_sample.hpp"
#include "packd/ops/shape_ops.hpp"

namespace packd::train {

inline int64_t views_per_support(const std::string& aug) {
  if (aug == "rot90") return 4;
  if (aug == "regad") return 22;
  PACKD_CHECK(aug == "none", "augmentation '", aug, "' is unknown (rot90, regad, none)");
  return 1;
}

// supports (k, 3, H, W) -> views (k V, 3, H, W), no autograd (inputs, not parameters).
template <FloatScalar T>
Tensor<T> support_views(const Tensor<T>& supports, const std::string& aug) {
  PACKD_CHECK(supports.dim() == 4 && supports.size(1) == 3, "support_views: expected (k, 3, H, W), got ", supports.shape());
  const int64_t V = views_per_support(aug), k = supports.size(0), H = supports.size(2), W = supports.size(3);
  NoGradGuard no_grad;
  if (V == 1) return supports;
  std::vector<Tensor<T>> views;
  for (int64_t n = 0; n < k; ++n) {
    Tensor<T> x = supports.narrow(0, n, 1);  // (1, 3, H, W)
    views.push_back(x);
    for (int r = 1; r < 4; ++r) views.push_back(rot90(x, r).contiguous());
    if (aug != "regad") continue;
    auto warp = [&](double a, double b, double c, double d, double tx, double ty) {
      Tensor<T> theta = from_vector<T>({T(a), T(b), T(tx), T(c), T(d), T(ty)}, {1, 2, 3}, x.device());
      return grid_sample(x, affine_grid(theta, {1, 3, H, W}, false), GridMode::bilinear, GridPadding::reflection, false);
    };
    for (double t : {std::numbers::pi / 16, std::numbers::pi / 8, 3 * std::numbers::pi / 16, std::numbers::pi / 4})
      for (double s : {1.0, -1.0}) {
        const double th = s * t;
        views.push_back(warp(std::cos(th), -std::sin(th), std::sin(th), std::cos(th), 0, 0));
      }
    for (double m : {0.2, 0.1})
      for (double sx : {1.0, -1.0})
        for (double sy : {1.0, -1.0}) views.push_back(warp(1, 0, 0, 1, sx * m, sy * m));
    views.push_back(flip(x, {3}));
    // Greyscale on [0, 1] values: x01 = x * std + mean; g = 0.299 r + 0.587 g + 0.114 b; normalise.
    const T mean[3] = {T(0.485), T(0.456), T(0.406)}, stdv[3] = {T(0.229), T(0.224), T(0.225)};
    const T wts[3] = {T(0.299), T(0.587), T(0.114)};
    Tensor<T> g = zeros<T>({1, 1, H, W}, x.device());
    for (int c = 0; c < 3; ++c) g = add(g, mul(add(mul(x.narrow(1, c, 1), stdv[c]), mean[c]), wts[c]));
    std::vector<Tensor<T>> chans;
    for (int c = 0; c < 3; ++c) chans.push_back(mul(add(g, -mean[c]), T(1) / stdv[c]));
    views.push_back(cat<T>(chans, 1));
  }
  return cat<T>(views, 0);
}

}  // namespace packd::train
