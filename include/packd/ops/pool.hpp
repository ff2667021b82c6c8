#pragma once
// 2-D pooling over (N, C, H, W) or (C, H, W) inputs, with PyTorch's semantics:
//
//   max_pool2d(x, kernel, stride = kernel, padding = 0, dilation = 1, ceil_mode = false)
//   max_pool2d_with_indices(...) -> {values, int64 indices}  (return_indices=True: flat h*W + w
//                                   offsets within each input plane)
//   avg_pool2d(x, kernel, stride = kernel, padding = 0, ceil_mode = false, count_include_pad = true)
//   adaptive_avg_pool2d(x, output_size)  windows [floor(o*I/O), ceil((o+1)*I/O))
//
// Output extent (torch's pooling_output_shape):
//   out = floor_or_ceil((in + 2 pad - dilation (k - 1) - 1) / stride) + 1, and in ceil_mode the
//   last window is dropped when it would start inside the right padding ((out-1) stride >= in + pad).
// Checks as PyTorch: kernel, stride, dilation > 0; padding <= kernel / 2; output >= 1.
// Max pooling's backward routes each output gradient to its recorded argmax (NaN wins a window).
// kernel/stride/padding/dilation take one integer or {h, w}.
#include <utility>

#include "packd/backend/cpu/pool.hpp"
#include "packd/backend/cuda/pool.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/view.hpp"

namespace packd {

// One extent per spatial dimension; an integer means the same for both.
struct PoolSize {
  int64_t h, w;
  PoolSize(int64_t v) : h(v), w(v) {}  // NOLINT: implicit, as PyTorch's int-or-tuple arguments
  PoolSize(int64_t vh, int64_t vw) : h(vh), w(vw) {}
  static PoolSize unset() { return {-1, -1}; }  // "same as the kernel" for stride
  bool is_unset() const { return h == -1 && w == -1; }
};
inline std::ostream& operator<<(std::ostream& os, const PoolSize& s) { return os << '(' << s.h << ", " << s.w << ')'; }

namespace detail {

inline int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil_mode) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // floor division (num may be negative for a too-small input)
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

template <Scalar T>
cpu::Pool2dGeom pool2d_geometry(const Tensor<T>& x, PoolSize k, PoolSize& s, PoolSize p, PoolSize d, bool ceil_mode, const char* op) {
  PACKD_CHECK(x.dim() == 3 || x.dim() == 4, op, ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape ", x.shape());
  if (s.is_unset()) s = k;
  PACKD_CHECK(k.h > 0 && k.w > 0, op, ": kernel size should be greater than zero, got ", k, " for input of shape ", x.shape());
  PACKD_CHECK(s.h > 0 && s.w > 0, op, ": stride should be greater than zero, got ", s, " for input of shape ", x.shape());
  PACKD_CHECK(d.h > 0 && d.w > 0, op, ": dilation should be greater than zero, got ", d, " for input of shape ", x.shape());
  PACKD_CHECK(p.h >= 0 && p.w >= 0 && p.h <= k.h / 2 && p.w <= k.w / 2, op,
              ": pad should be at least zero and at most half of kernel size, got padding ", p, " and kernel ", k);
  const int64_t H = x.size(-2), W = x.size(-1);
  PACKD_CHECK(x.numel() > 0 || (H > 0 && W > 0), op, ": empty input of shape ", x.shape());
  const int64_t OH = pool_out_size(H, k.h, p.h, s.h, d.h, ceil_mode), OW = pool_out_size(W, k.w, p.w, s.w, d.w, ceil_mode);
  PACKD_CHECK(OH >= 1 && OW >= 1, op, ": given input of shape ", x.shape(), ", the calculated output size (", OH, ", ", OW,
              ") is too small (kernel ", k, ", stride ", s, ", padding ", p, ", dilation ", d, ")");
  return {H, W, OH, OW, k.h, k.w, s.h, s.w, p.h, p.w, d.h, d.w};
}

inline Shape pooled_shape(const Shape& in, int64_t OH, int64_t OW) {
  Shape s = in;
  s[s.size() - 2] = OH;
  s[s.size() - 1] = OW;
  return s;
}

}  // namespace detail

template <FloatScalar T>
std::pair<Tensor<T>, Tensor<int64_t>> max_pool2d_with_indices(const Tensor<T>& x, PoolSize kernel, PoolSize stride = PoolSize::unset(),
                                                               PoolSize padding = 0, PoolSize dilation = 1, bool ceil_mode = false) {
  const cpu::Pool2dGeom g = detail::pool2d_geometry(x, kernel, stride, padding, dilation, ceil_mode, "max_pool2d");
  const Shape oshape = detail::pooled_shape(x.shape(), g.OH, g.OW);
  Tensor<T> xc = x.contiguous();                            // (N, C, H, W)
  Tensor<T> out = Tensor<T>::empty(oshape, x.device());     // (N, C, OH, OW)
  Tensor<int64_t> idx = Tensor<int64_t>::empty(oshape, x.device());  // (N, C, OH, OW) flat offsets in the plane
  const int64_t P = x.numel() / (g.H * g.W);
  backend::dispatch("max_pool2d", x.device(), [&] { cpu::max_pool2d_fwd(out.data(), idx.data(), xc.data(), P, g); },
                    [&] { cuda::max_pool2d_fwd(out.data(), idx.data(), xc.data(), P, g); });
  if (any_requires_grad(x)) {
    record<T>("max_pool2d", {&x}, out, [idx, version = idx.version(), ishape = x.shape(), g, P](const Tensor<T>& gy, const Node<T>&) {
      PACKD_CHECK(idx.version() == version, "max_pool2d: the indices needed for the gradient were modified in place");
      Tensor<T> gc = gy.contiguous();                             // (N, C, OH, OW)
      Tensor<T> gx = Tensor<T>::empty(ishape, gy.device());      // (N, C, H, W)
      backend::dispatch("max_pool2d_backward", gy.device(),
                        [&] { cpu::max_pool2d_bwd(gx.data(), gc.data(), idx.data(), P, g.H * g.W, g.OH * g.OW); },
                        [&] { cuda::max_pool2d_bwd(gx.data(), gc.data(), idx.data(), P, g.H * g.W, g.OH * g.OW); });
      return std::vector<Tensor<T>>{gx};
    });
  }
  return {out, idx};
}

template <FloatScalar T>
Tensor<T> max_pool2d(const Tensor<T>& x, PoolSize kernel, PoolSize stride = PoolSize::unset(), PoolSize padding = 0, PoolSize dilation = 1,
                     bool ceil_mode = false) {
  return max_pool2d_with_indices(x, kernel, stride, padding, dilation, ceil_mode).first;
}

template <FloatScalar T>
Tensor<T> avg_pool2d(const Tensor<T>& x, PoolSize kernel, PoolSize stride = PoolSize::unset(), PoolSize padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true) {
  const cpu::Pool2dGeom g = detail::pool2d_geometry(x, kernel, stride, padding, 1, ceil_mode, "avg_pool2d");
  Tensor<T> xc = x.contiguous();                                                             // (N, C, H, W)
  Tensor<T> out = Tensor<T>::empty(detail::pooled_shape(x.shape(), g.OH, g.OW), x.device());  // (N, C, OH, OW)
  const int64_t P = x.numel() / (g.H * g.W);
  backend::dispatch("avg_pool2d", x.device(), [&] { cpu::avg_pool2d_fwd(out.data(), xc.data(), P, g, count_include_pad); },
                    [&] { cuda::avg_pool2d_fwd(out.data(), xc.data(), P, g, count_include_pad); });
  if (any_requires_grad(x)) {
    record<T>("avg_pool2d", {&x}, out, [ishape = x.shape(), g, P, count_include_pad](const Tensor<T>& gy, const Node<T>&) {
      Tensor<T> gc = gy.contiguous();                         // (N, C, OH, OW)
      Tensor<T> gx = Tensor<T>::empty(ishape, gy.device());  // (N, C, H, W)
      backend::dispatch("avg_pool2d_backward", gy.device(),
                        [&] { cpu::avg_pool2d_bwd(gx.data(), gc.data(), P, g, count_include_pad); },
                        [&] { cuda::avg_pool2d_bwd(gx.data(), gc.data(), P, g, count_include_pad); });
      return std::vector<Tensor<T>>{gx};
    });
  }
  return out;
}

template <FloatScalar T>
Tensor<T> adaptive_avg_pool2d(const Tensor<T>& x, PoolSize output_size) {
  PACKD_CHECK(x.dim() == 3 || x.dim() == 4, "adaptive_avg_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape ",
              x.shape());
  const int64_t H = x.size(-2), W = x.size(-1), OH = output_size.h, OW = output_size.w;
  PACKD_CHECK(H > 0 && W > 0, "adaptive_avg_pool2d: empty spatial dimensions in input of shape ", x.shape());
  PACKD_CHECK(OH > 0 && OW > 0, "adaptive_avg_pool2d: output size must be positive, got ", output_size, " for input of shape ",
              x.shape());
  Tensor<T> xc = x.contiguous();                                                         // (N, C, H, W)
  Tensor<T> out = Tensor<T>::empty(detail::pooled_shape(x.shape(), OH, OW), x.device());  // (N, C, OH, OW)
  const int64_t P = x.numel() / (H * W);
  backend::dispatch("adaptive_avg_pool2d", x.device(),
                    [&] { cpu::adaptive_avg_pool2d_fwd(out.data(), xc.data(), P, H, W, OH, OW); },
                    [&] { cuda::adaptive_avg_pool2d_fwd(out.data(), xc.data(), P, H, W, OH, OW); });
  if (any_requires_grad(x)) {
    record<T>("adaptive_avg_pool2d", {&x}, out, [ishape = x.shape(), P, H, W, OH, OW](const Tensor<T>& gy, const Node<T>&) {
      Tensor<T> gc = gy.contiguous();                         // (N, C, OH, OW)
      Tensor<T> gx = Tensor<T>::empty(ishape, gy.device());  // (N, C, H, W)
      backend::dispatch("adaptive_avg_pool2d_backward", gy.device(),
                        [&] { cpu::adaptive_avg_pool2d_bwd(gx.data(), gc.data(), P, H, W, OH, OW); },
                        [&] { cuda::adaptive_avg_pool2d_bwd(gx.data(), gc.data(), P, H, W, OH, OW); });
      return std::vector<Tensor<T>>{gx};
    });
  }
  return out;
}

}  // namespace packd
