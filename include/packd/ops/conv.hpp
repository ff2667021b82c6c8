#pragma once
// Convolutions on NCHW tensors, as torch.nn.functional.conv2d / conv_transpose2d.
//
//   conv2d(x (N, C, H, W), w (K, C/groups, KH, KW), bias (K) or undefined, options)
//       -> (N, K, OH, OW),  OH = (H + 2 ph - dh (KH - 1) - 1) / sh + 1
//   conv_transpose2d(x (N, C, H, W), w (C, K/groups, KH, KW), bias (K) or undefined, options)
//       -> (N, K, OH, OW),  OH = (H - 1) sh - 2 ph + dh (KH - 1) + output_padding_h + 1
//
// A transposed convolution is the gradient of a convolution with respect to its input, so both
// ops use the three kernels of backend/cpu/conv.hpp (on CUDA: backend/cuda/conv.hpp, cuDNN):
//                          conv2d                 conv_transpose2d
//   forward                conv2d_forward         conv2d_backward_input
//   grad of the input      conv2d_backward_input  conv2d_forward
//   grad of the weight     conv2d_backward_weight conv2d_backward_weight (dy and x swapped)
// The geometry passed to the kernels is always that of the underlying convolution. How each kernel
// works (implicit-GEMM packing from the images, the flipped-weight stride-1 backward, col2im as a
// scatter for k2 s2) is described at the top of backend/cpu/conv.hpp.
#include <array>

#include "packd/backend/cpu/conv.hpp"
#include "packd/backend/cuda/conv.hpp"
#include "packd/ops/reduce.hpp"

namespace packd {

struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
  std::array<int64_t, 2> output_padding{0, 0};  // conv_transpose2d only
};

namespace detail {

inline void check_conv_options(const Conv2dOptions& o, const char* op) {
  for (int i = 0; i < 2; ++i) {
    PACKD_CHECK(o.stride[i] > 0, op, ": stride must be positive, got (", o.stride[0], ", ", o.stride[1], ")");
    PACKD_CHECK(o.dilation[i] > 0, op, ": dilation must be positive, got (", o.dilation[0], ", ", o.dilation[1], ")");
    PACKD_CHECK(o.padding[i] >= 0, op, ": padding must be non-negative, got (", o.padding[0], ", ", o.padding[1], ")");
    PACKD_CHECK(o.output_padding[i] >= 0, op, ": output_padding must be non-negative");
  }
  PACKD_CHECK(o.groups > 0, op, ": groups must be positive, got ", o.groups);
}

template <FloatScalar T>
void check_conv_bias(const Tensor<T>& bias, int64_t channels, const Tensor<T>& x, const char* op) {
  if (!bias.defined()) return;
  PACKD_CHECK(bias.dim() == 1 && bias.size(0) == channels, op, ": bias of shape ", bias.shape(), " for ", channels,
              " output channels");
  PACKD_CHECK(bias.device() == x.device(), op, ": bias on ", bias.device(), ", input on ", x.device());
}

// Geometry of y = conv2d(x, w) from x's and w's shapes (w: (K, C/groups, KH, KW)).
inline cpu::ConvGeometry conv_geometry(const Shape& x, const Shape& w, const Conv2dOptions& o, const char* op) {
  cpu::ConvGeometry g{};
  g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3];
  g.K = w[0], g.KH = w[2], g.KW = w[3];
  g.sh = o.stride[0], g.sw = o.stride[1], g.ph = o.padding[0], g.pw = o.padding[1];
  g.dh = o.dilation[0], g.dw = o.dilation[1], g.groups = o.groups;
  const int64_t eff_h = g.dh * (g.KH - 1) + 1, eff_w = g.dw * (g.KW - 1) + 1;
  PACKD_CHECK(g.H + 2 * g.ph >= eff_h && g.W + 2 * g.pw >= eff_w, op, ": the kernel of shape ", w, " (", eff_h, "x",
              eff_w, " with dilation) is larger than the padded input ", x, " with padding (", g.ph, ", ", g.pw, ")");
  g.OH = (g.H + 2 * g.ph - eff_h) / g.sh + 1;
  g.OW = (g.W + 2 * g.pw - eff_w) / g.sw + 1;
  return g;
}

// Contiguous inputs for the kernels (a no-op for contiguous tensors).
template <FloatScalar T>
Tensor<T> dense(const Tensor<T>& t) {
  return t.contiguous();
}

}  // namespace detail

template <FloatScalar T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias = Tensor<T>(), const Conv2dOptions& o = {}) {
  const char* op = "conv2d";
  detail::check_conv_options(o, op);
  PACKD_CHECK(x.dim() == 4, op, ": expects the input as (N, C, H, W), got shape ", x.shape());
  PACKD_CHECK(w.dim() == 4, op, ": expects the weight as (out_channels, in_channels / groups, KH, KW), got shape ", w.shape());
  detail::check_same_device(x, w, op);
  PACKD_CHECK(x.size(1) % o.groups == 0 && w.size(0) % o.groups == 0, op, ": groups=", o.groups,
              " must divide the input channels of ", x.shape(), " and the output channels of weight ", w.shape());
  PACKD_CHECK(w.size(1) * o.groups == x.size(1), op, ": the input ", x.shape(), " has ", x.size(1),
              " channels, but the weight ", w.shape(), " with groups=", o.groups, " expects ", w.size(1) * o.groups);
  detail::check_conv_bias(bias, w.size(0), x, op);
  const cpu::ConvGeometry g = detail::conv_geometry(x.shape(), w.shape(), o, op);

  Tensor<T> xc = detail::dense(x), wc = detail::dense(w);            // (N, C, H, W), (K, C/g, KH, KW)
  Tensor<T> bc = bias.defined() ? detail::dense(bias) : Tensor<T>();  // (K)
  Tensor<T> y = Tensor<T>::empty({g.N, g.K, g.OH, g.OW}, x.device()); // (N, K, OH, OW)
  backend::dispatch(op, x.device(), [&] {
    cpu::conv2d_forward(xc.data(), wc.data(), bc.defined() ? bc.data() : nullptr, y.data(), g);
  }, [&] {
    cuda::conv2d_forward(xc.data(), wc.data(), bc.defined() ? bc.data() : nullptr, y.data(), g);
  });

  if (any_requires_grad(x, w, bias)) {
    SavedTensor<T> sx = w.requires_grad() ? save(xc, op) : SavedTensor<T>();
    SavedTensor<T> sw = x.requires_grad() ? save(wc, op) : SavedTensor<T>();
    record<T>(op, {&x, &w, &bias}, y, [sx, sw, g](const Tensor<T>& gy, const Node<T>& n) {
      Tensor<T> dy = gy.contiguous();  // (N, K, OH, OW)
      Tensor<T> dx, dw, db;
      if (n.needs_input_grad(0)) {
        dx = Tensor<T>::empty({g.N, g.C, g.H, g.W}, dy.device());
        backend::dispatch("conv2d_backward", dy.device(), [&] { cpu::conv2d_backward_input(dy.data(), sw.unpack().data(), dx.data(), g); },
                          [&] { cuda::conv2d_backward_input(dy.data(), sw.unpack().data(), dx.data(), g); });
      }
      if (n.needs_input_grad(1)) {
        dw = Tensor<T>::empty({g.K, g.Cg(), g.KH, g.KW}, dy.device());
        backend::dispatch("conv2d_backward", dy.device(), [&] { cpu::conv2d_backward_weight(dy.data(), sx.unpack().data(), dw.data(), g); },
                          [&] { cuda::conv2d_backward_weight(dy.data(), sx.unpack().data(), dw.data(), g); });
      }
      if (n.needs_input_grad(2)) {
        db = Tensor<T>::empty({g.K}, dy.device());
        backend::dispatch("conv2d_backward", dy.device(), [&] { cpu::conv2d_backward_bias(dy.data(), db.data(), g); },
                          [&] { cuda::conv2d_backward_bias(dy.data(), db.data(), g); });
      }
      return std::vector<Tensor<T>>{dx, dw, db};
    });
  }
  return y;
}

template <FloatScalar T>
Tensor<T> conv_transpose2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias = Tensor<T>(),
                           const Conv2dOptions& o = {}) {
  const char* op = "conv_transpose2d";
  detail::check_conv_options(o, op);
  PACKD_CHECK(x.dim() == 4, op, ": expects the input as (N, C, H, W), got shape ", x.shape());
  PACKD_CHECK(w.dim() == 4, op, ": expects the weight as (in_channels, out_channels / groups, KH, KW), got shape ", w.shape());
  detail::check_same_device(x, w, op);
  PACKD_CHECK(x.size(1) % o.groups == 0, op, ": groups=", o.groups, " must divide the input channels of ", x.shape());
  PACKD_CHECK(w.size(0) == x.size(1), op, ": the input ", x.shape(), " has ", x.size(1), " channels, but the weight ",
              w.shape(), " expects ", w.size(0));
  for (int i = 0; i < 2; ++i)
    PACKD_CHECK(o.output_padding[i] < o.stride[i] || o.output_padding[i] < o.dilation[i], op, ": output_padding (",
                o.output_padding[0], ", ", o.output_padding[1], ") must be smaller than the stride or the dilation");
  const int64_t K = w.size(1) * o.groups;  // output channels
  detail::check_conv_bias(bias, K, x, op);
  const int64_t OH = (x.size(2) - 1) * o.stride[0] - 2 * o.padding[0] + o.dilation[0] * (w.size(2) - 1) + o.output_padding[0] + 1;
  const int64_t OW = (x.size(3) - 1) * o.stride[1] - 2 * o.padding[1] + o.dilation[1] * (w.size(3) - 1) + o.output_padding[1] + 1;
  PACKD_CHECK(OH > 0 && OW > 0, op, ": input ", x.shape(), " with weight ", w.shape(), " gives a non-positive output size (",
              OH, ", ", OW, ")");
  // The underlying convolution maps the output (N, K, OH, OW) to the input (N, C, H, W) with
  // weight w read as (C, K/groups, KH, KW).
  cpu::ConvGeometry g = detail::conv_geometry({x.size(0), K, OH, OW}, w.shape(), o, op);
  PACKD_ASSERT(g.OH == x.size(2) && g.OW == x.size(3), op, ": geometry mismatch");

  Tensor<T> xc = detail::dense(x), wc = detail::dense(w);  // (N, C, H, W), (C, K/g, KH, KW)
  Tensor<T> y = Tensor<T>::empty({x.size(0), K, OH, OW}, x.device());  // (N, K, OH, OW)
  backend::dispatch(op, x.device(), [&] {
    cpu::conv2d_backward_input(xc.data(), wc.data(), y.data(), g);
    if (bias.defined()) {
      Tensor<T> bc = bias.contiguous();
      const int64_t plane = OH * OW;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t k = 0; k < K; ++k) {
          T* row = y.data() + (n * K + k) * plane;
          const T b = bc.data()[k];
          for (int64_t i = 0; i < plane; ++i) row[i] += b;
        }
    }
  }, [&] {
    cuda::conv2d_backward_input(xc.data(), wc.data(), y.data(), g);
    if (bias.defined()) cuda::add_channel_bias(y.data(), bias.contiguous().data(), g.N, K, OH * OW);
  });

  if (any_requires_grad(x, w, bias)) {
    SavedTensor<T> sx = w.requires_grad() ? save(xc, op) : SavedTensor<T>();
    SavedTensor<T> sw = x.requires_grad() ? save(wc, op) : SavedTensor<T>();
    record<T>(op, {&x, &w, &bias}, y, [sx, sw, g](const Tensor<T>& gy, const Node<T>& n) {
      Tensor<T> dy = gy.contiguous();  // (N, K, OH, OW): the underlying convolution's input
      Tensor<T> dx, dw, db;
      if (n.needs_input_grad(0)) {
        dx = Tensor<T>::empty({g.N, g.K, g.OH, g.OW}, dy.device());  // (N, C, H, W)
        backend::dispatch("conv_transpose2d_backward", dy.device(),
                          [&] { cpu::conv2d_forward(dy.data(), sw.unpack().data(), static_cast<const T*>(nullptr), dx.data(), g); },
                          [&] {
                            cuda::conv2d_forward(dy.data(), sw.unpack().data(), static_cast<const T*>(nullptr), dx.data(),
                                                 g);
                          });
      }
      if (n.needs_input_grad(1)) {
        dw = Tensor<T>::empty({g.K, g.Cg(), g.KH, g.KW}, dy.device());  // (C, K/g, KH, KW)
        backend::dispatch("conv_transpose2d_backward", dy.device(),
                          [&] { cpu::conv2d_backward_weight(sx.unpack().data(), dy.data(), dw.data(), g); },
                          [&] { cuda::conv2d_backward_weight(sx.unpack().data(), dy.data(), dw.data(), g); });
      }
      if (n.needs_input_grad(2)) db = sum(dy, {0, 2, 3});
      return std::vector<Tensor<T>>{dx, dw, db};
    });
  }
  return y;
}

}  // namespace packd
