#pragma once
// interpolate: F.interpolate of PyTorch 1.13 on (N, C, H, W), modes 'nearest' and 'bilinear',
// forward and backward (fused kernels in backend/cpu/resize.hpp).
//   Exactly one of size and scale_factor. With scale_factor, the output size is
//   floor(in * scale_factor); unless recompute_scale_factor, the kernel then uses 1 / scale_factor
//   as the source scale (align_corners = false and 'nearest'), which differs from in / out when
//   in * scale_factor is not an integer, as in PyTorch. align_corners: bilinear only (an error with
//   'nearest', as PyTorch); unset means false.
//   'nearest' is PyTorch's legacy nearest: src = floor(dst * scale) (not 'nearest-exact').
#include <array>
#include <cmath>
#include <optional>
#include <vector>

#include "packd/autograd/node.hpp"
#include "packd/backend/cpu/resize.hpp"
#include "packd/backend/cuda/resize.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/ops/fwd.hpp"
#include "packd/ops/reduce.hpp"  // and, through packd/tensor.hpp, the whole Tensor API

namespace packd {

enum class InterpMode { nearest, bilinear };

struct InterpolateOptions {
  std::optional<std::array<int64_t, 2>> size;        // (OH, OW)
  std::optional<std::array<double, 2>> scale_factor;  // (along H, along W)
  InterpMode mode = InterpMode::nearest;
  std::optional<bool> align_corners;
  bool recompute_scale_factor = false;
};

namespace detail {

struct ResizePlan {
  int64_t P, H, W, OH, OW;
  InterpMode mode;
  bool align_corners;
  std::optional<double> sh, sw;  // scales handed to the kernel
};

// (P, H, W) -> (P, OH, OW), or the transpose (backward) from (P, OH, OW) to (P, H, W).
template <FloatScalar T>
Tensor<T> resize_apply(const Tensor<T>& src, const ResizePlan& p, const Shape& out_shape, bool backward, const char* op) {
  Tensor<T> s = src.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(out_shape, src.device());
  // The index tables are computed on the host for both backends (the CUDA kernels copy them).
  auto run = [&](auto bilinear_forward, auto bilinear_backward, auto nearest_forward, auto nearest_backward) {
    if (p.mode == InterpMode::bilinear) {
      const auto ih = cpu::linear_index<T>(p.H, p.OH, p.align_corners, p.sh);
      const auto iw = cpu::linear_index<T>(p.W, p.OW, p.align_corners, p.sw);
      if (!backward)
        bilinear_forward(s.data(), out.data(), p.P, p.H, p.W, p.OH, p.OW, ih, iw);
      else
        bilinear_backward(s.data(), out.data(), p.P, p.H, p.W, p.OH, p.OW, ih, iw);
    } else {
      const auto ih = cpu::nearest_index(p.H, p.OH, p.sh), iw = cpu::nearest_index(p.W, p.OW, p.sw);
      if (!backward)
        nearest_forward(s.data(), out.data(), p.P, p.H, p.W, p.OH, p.OW, ih, iw);
      else
        nearest_backward(s.data(), out.data(), p.P, p.H, p.W, p.OH, p.OW, ih, iw);
    }
  };
  backend::dispatch(op, src.device(), [&] {
    run([](const auto&... a) { cpu::bilinear_forward_kernel<T>(a...); },
        [](const auto&... a) { cpu::bilinear_backward_kernel<T>(a...); },
        [](const auto&... a) { cpu::nearest_forward_kernel<T>(a...); },
        [](const auto&... a) { cpu::nearest_backward_kernel<T>(a...); });
  }, [&] {
    run([](const auto&... a) { cuda::bilinear_forward_kernel<T>(a...); },
        [](const auto&... a) { cuda::bilinear_backward_kernel<T>(a...); },
        [](const auto&... a) { cuda::nearest_forward_kernel<T>(a...); },
        [](const auto&... a) { cuda::nearest_backward_kernel<T>(a...); });
  });
  return out;
}

}  // namespace detail

// x: (N, C, H, W) -> (N, C, OH, OW).
template <FloatScalar T>
Tensor<T> interpolate(const Tensor<T>& x, const InterpolateOptions& opt) {
  const char* op = "interpolate";
  PACKD_CHECK(x.dim() == 4, op, ": expected a 4-D (N, C, H, W) input, got shape ", x.shape());
  PACKD_CHECK(opt.size.has_value() != opt.scale_factor.has_value(), op,
              ": exactly one of size and scale_factor must be given (input shape ", x.shape(), ")");
  PACKD_CHECK(!(opt.mode == InterpMode::nearest && opt.align_corners.has_value()), op,
              ": align_corners can only be set with the interpolating mode 'bilinear', not 'nearest' (input shape ",
              x.shape(), ")");
  const int64_t H = x.size(2), W = x.size(3);
  PACKD_CHECK(H > 0 && W > 0, op, ": the input's spatial size must be non-empty, got shape ", x.shape());
  detail::ResizePlan p{x.size(0) * x.size(1), H, W, 0, 0, opt.mode, opt.align_corners.value_or(false), {}, {}};
  if (opt.size) {
    p.OH = (*opt.size)[0], p.OW = (*opt.size)[1];
  } else {
    const double sh = (*opt.scale_factor)[0], sw = (*opt.scale_factor)[1];
    PACKD_CHECK(sh > 0 && sw > 0 && std::isfinite(sh) && std::isfinite(sw), op,
                ": scale_factor must be positive and finite, got (", sh, ", ", sw, ") for input shape ", x.shape());
    p.OH = int64_t(std::floor(double(H) * sh)), p.OW = int64_t(std::floor(double(W) * sw));
    if (!opt.recompute_scale_factor) p.sh = sh, p.sw = sw;
  }
  PACKD_CHECK(p.OH > 0 && p.OW > 0, op, ": output size (", p.OH, ", ", p.OW, ") must be positive (input shape ",
              x.shape(), ")");
  const Shape out_shape{x.size(0), x.size(1), p.OH, p.OW};
  Tensor<T> out = detail::resize_apply(x, p, out_shape, false, op);
  if (any_requires_grad(x))
    record<T>(op, {&x}, out, [p, in_shape = x.shape()](const Tensor<T>& g, const Node<T>&) {
      return std::vector<Tensor<T>>{detail::resize_apply(g, p, in_shape, true, "interpolate_backward")};
    });
  return out;
}

template <FloatScalar T>
Tensor<T> interpolate(const Tensor<T>& x, std::array<int64_t, 2> size, InterpMode mode = InterpMode::nearest,
                      std::optional<bool> align_corners = std::nullopt) {
  return interpolate(x, InterpolateOptions{size, std::nullopt, mode, align_corners, false});
}

template <FloatScalar T>
Tensor<T> interpolate(const Tensor<T>& x, double scale_factor, InterpMode mode = InterpMode::nearest,
                      std::optional<bool> align_corners = std::nullopt, bool recompute_scale_factor = false) {
  return interpolate(x, InterpolateOptions{std::nullopt, std::array<double, 2>{scale_factor, scale_factor}, mode,
                                           align_corners, recompute_scale_factor});
}

}  // namespace packd
