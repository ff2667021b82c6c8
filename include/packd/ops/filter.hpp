#pragma once
// Gaussian blur over the last two dimensions (H, W) of a tensor of rank >= 2 (e.g. (H, W) or
// (N, C, H, W)), with scipy.ndimage.gaussian_filter's semantics:
//   radius r = int(truncate * sigma + 0.5) (33 taps for sigma 4, truncate 4), weights
//   exp(-t^2 / (2 sigma^2)) for t in [-r, r] normalised to sum 1, applied separably (along H, then
//   along W), each 1-D pass a correlation with the padded signal.
// Padding (BlurPadding):
//   scipy_reflect  scipy's mode='reflect' (the default of gaussian_filter): half-sample symmetric,
//                  the edge sample IS repeated: ... c b a | a b c ... | c b a ...; extends
//                  periodically (period 2n), so radii larger than the image are fine. This is the
//                  anomaly-map blur of RD4AD (scipy.ndimage.gaussian_filter(map, sigma=4)).
//   torch_reflect  PyTorch's F.pad(mode='reflect') as kornia/anomalib's GaussianBlur2d uses: the
//                  edge sample is NOT repeated: ... c b | a b c ... ; like PyTorch, it needs
//                  r < H and r < W (an error otherwise).
// The blur is linear; its backward is the adjoint (transposed) operator, applied by a fused
// kernel (backend/cpu/filter.hpp).
#include <cmath>
#include <vector>

#include "packd/autograd/node.hpp"
#include "packd/backend/cpu/filter.hpp"
#include "packd/backend/cuda/filter.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/ops/fwd.hpp"
#include "packd/ops/reduce.hpp"  // and, through packd/tensor.hpp, the whole Tensor API

namespace packd {

enum class BlurPadding { scipy_reflect, torch_reflect };

namespace detail {

// scipy's _gaussian_kernel1d (order 0), normalised in double, then rounded to T.
template <FloatScalar T>
std::vector<T> gaussian_taps(double sigma, int64_t radius) {
  std::vector<double> phi(2 * radius + 1);
  double total = 0;
  for (int64_t t = -radius; t <= radius; ++t) total += phi[t + radius] = std::exp(-0.5 / (sigma * sigma) * double(t * t));
  std::vector<T> taps(phi.size());
  for (std::size_t i = 0; i < phi.size(); ++i) taps[i] = T(phi[i] / total);
  return taps;
}

// Blur (or its adjoint) of x, rank >= 2, over the last two dims.
template <FloatScalar T>
Tensor<T> gaussian_blur_apply(const Tensor<T>& x, const std::vector<T>& taps, BlurPadding padding, bool adjoint,
                              const char* op) {
  Tensor<T> xc = x.detach().contiguous();  // (..., H, W)
  Tensor<T> out = Tensor<T>::empty(x.shape(), x.device());
  const int64_t H = x.size(-2), W = x.size(-1), planes = H * W > 0 ? x.numel() / (H * W) : 0;
  const bool edge_repeated = padding == BlurPadding::scipy_reflect;
  Tensor<T> tmp = Tensor<T>::empty(x.shape(), x.device());  // between the two passes
  backend::dispatch(op, x.device(), [&] {
    cpu::gaussian_blur_kernel(xc.data(), out.data(), tmp.data(), planes, H, W, taps, edge_repeated, adjoint);
  }, [&] { cuda::gaussian_blur_kernel(xc.data(), out.data(), tmp.data(), planes, H, W, taps, edge_repeated, adjoint); });
  return out;
}

}  // namespace detail

// x: (..., H, W) -> (..., H, W).
template <FloatScalar T>
Tensor<T> gaussian_blur2d(const Tensor<T>& x, double sigma = 4.0, double truncate = 4.0,
                          BlurPadding padding = BlurPadding::scipy_reflect) {
  PACKD_CHECK(x.dim() >= 2, "gaussian_blur2d: expected a tensor of rank >= 2 ((H, W) or (N, C, H, W)), got shape ",
              x.shape());
  PACKD_CHECK(sigma > 0 && std::isfinite(sigma), "gaussian_blur2d: sigma must be positive and finite, got ", sigma,
              " (input shape ", x.shape(), ")");
  PACKD_CHECK(truncate >= 0 && std::isfinite(truncate), "gaussian_blur2d: truncate must be >= 0, got ", truncate,
              " (input shape ", x.shape(), ")");
  const int64_t radius = int64_t(truncate * sigma + 0.5);
  if (padding == BlurPadding::torch_reflect)
    PACKD_CHECK(radius < x.size(-2) && radius < x.size(-1), "gaussian_blur2d: torch_reflect padding needs the radius (",
                radius, ") to be smaller than H and W, as PyTorch's reflect pad does; got shape ", x.shape(),
                " (use BlurPadding::scipy_reflect for small images)");
  std::vector<T> taps = detail::gaussian_taps<T>(sigma, radius);
  Tensor<T> out = detail::gaussian_blur_apply(x, taps, padding, false, "gaussian_blur2d");
  if (any_requires_grad(x))
    record<T>("gaussian_blur2d", {&x}, out, [taps, padding](const Tensor<T>& g, const Node<T>&) {
      return std::vector<Tensor<T>>{detail::gaussian_blur_apply(g, taps, padding, true, "gaussian_blur2d_backward")};
    });
  return out;
}

}  // namespace packd
