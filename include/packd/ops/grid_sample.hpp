#pragma once
// Affine warps, as PyTorch 1.13 (RegAD-style small rotations and shifts of support images):
//   affine_grid(theta (N, 2, 3), size {N, C, H, W}, align_corners) -> grid (N, H, W, 2)
//       F.affine_grid: the base grid holds x = linspace(-1, 1, W), y = linspace(-1, 1, H) (scaled
//       by (n - 1) / n when !align_corners; 0 when n == 1) and 1; grid = base @ theta^T.
//       Differentiable in theta (through matmul).
//   grid_sample(x (N, C, H, W), grid (N, OH, OW, 2), mode, padding, align_corners) -> (N, C, OH, OW)
//       F.grid_sample with mode 'bilinear' or 'nearest' and padding_mode 'zeros', 'border' or
//       'reflection' (whose formulas differ with align_corners; backend/cpu/grid_sample.hpp).
//       Forward only: it refuses inputs that require grad (with grad mode on) with an error, rather
//       than return a result that silently has no gradient; detach or use NoGradGuard.
#include <vector>

#include "packd/autograd/node.hpp"
#include "packd/backend/cpu/grid_sample.hpp"
#include "packd/backend/cuda/grid_sample.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/ops/linalg.hpp"

namespace packd {

using GridPadding = cpu::GridPadding;
enum class GridMode { bilinear, nearest };

namespace detail {
// torch.linspace(-1, 1, n) as its CPU kernel computes it (symmetric halves), then the
// align_corners = false rescaling, in T.
template <FloatScalar T>
std::vector<T> affine_linspace(int64_t n, bool align_corners) {
  std::vector<T> r(n, T(0));
  if (n <= 1) return r;
  const T step = T(2) / T(n - 1);
  for (int64_t i = 0; i < n; ++i) {
    r[i] = i < n / 2 ? T(-1) + step * T(i) : T(1) - step * T(n - i - 1);
    if (!align_corners) r[i] = r[i] * T(n - 1) / T(n);
  }
  return r;
}
}  // namespace detail

template <FloatScalar T>
Tensor<T> affine_grid(const Tensor<T>& theta, const Shape& size, bool align_corners = false) {
  const char* op = "affine_grid";
  PACKD_CHECK(size.size() == 4, op, ": size must be (N, C, H, W) for 2-D grids, got ", size, " (theta shape ",
              theta.shape(), ")");
  PACKD_CHECK(theta.dim() == 3 && theta.size(1) == 2 && theta.size(2) == 3 && theta.size(0) == size[0], op,
              ": expected theta of shape (N, 2, 3) with N = size[0], got theta shape ", theta.shape(), " and size ", size);
  const int64_t N = size[0], H = size[2], W = size[3];
  PACKD_CHECK(H > 0 && W > 0, op, ": H and W must be positive, got size ", size);
  const std::vector<T> xs = detail::affine_linspace<T>(W, align_corners), ys = detail::affine_linspace<T>(H, align_corners);
  std::vector<T> base(std::size_t(H * W * 3));  // (H * W, 3): x, y, 1
  for (int64_t h = 0; h < H; ++h)
    for (int64_t w = 0; w < W; ++w) {
      T* b = base.data() + (h * W + w) * 3;
      b[0] = xs[w], b[1] = ys[h], b[2] = T(1);
    }
  Tensor<T> bt = from_vector<T>(base, Shape{1, H * W, 3}, theta.device()).expand({N, H * W, 3});
  return matmul(bt, theta.transpose(1, 2)).reshape({N, H, W, 2});
}

template <FloatScalar T>
Tensor<T> grid_sample(const Tensor<T>& x, const Tensor<T>& grid, GridMode mode = GridMode::bilinear,
                      GridPadding padding = GridPadding::zeros, bool align_corners = false) {
  const char* op = "grid_sample";
  PACKD_CHECK(x.dim() == 4 && grid.dim() == 4 && grid.size(3) == 2 && grid.size(0) == x.size(0), op,
              ": expected x (N, C, H, W) and grid (N, OH, OW, 2), got shapes ", x.shape(), " and ", grid.shape());
  PACKD_CHECK(x.device() == grid.device(), op, ": x (shape ", x.shape(), ") and grid (shape ", grid.shape(),
              ") are on different devices");
  PACKD_CHECK(x.size(2) > 0 && x.size(3) > 0, op, ": the input's spatial size must be non-empty, got shape ", x.shape());
  PACKD_CHECK(!any_requires_grad(x, grid), op,
              ": not differentiable in packd (forward only), but an input requires grad (shapes ", x.shape(), " and ",
              grid.shape(), "); detach the inputs or run under NoGradGuard");
  Tensor<T> xc = x.contiguous(), gc = grid.contiguous();
  const int64_t N = x.size(0), C = x.size(1), OH = grid.size(1), OW = grid.size(2);
  Tensor<T> out = Tensor<T>::empty({N, C, OH, OW}, x.device());
  backend::dispatch(op, x.device(), [&] {
    cpu::grid_sample_kernel(xc.data(), gc.data(), out.data(), N, C, x.size(2), x.size(3), OH, OW,
                            mode == GridMode::bilinear, padding, align_corners);
  }, [&] {
    cuda::grid_sample_kernel(xc.data(), gc.data(), out.data(), N, C, x.size(2), x.size(3), OH, OW,
                             mode == GridMode::bilinear, padding, align_corners);
  });
  return out;
}

}  // namespace packd
