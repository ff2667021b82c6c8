#pragma once
// Distances along one dimension, with fused forward and backward kernels (backend/cpu/distance.hpp,
// backend/cuda/distance.hpp):
//
//   cosine_similarity(x1, x2, dim = 1, eps = 1e-8)
//       F.cosine_similarity of PyTorch 1.13: x1 and x2 broadcast together; the result has the
//       broadcast shape without `dim`. Each norm is clamped separately:
//       sum_dim( x1 / max(||x1||, eps) * x2 / max(||x2||, eps) ), so a zero vector gives 0 and a
//       tiny one (||x|| < eps) gives a shrunken value (not the product-clamped form of torch < 1.12).
//       Gradient as PyTorch 1.13 computes it (its clamp is in place under no_grad):
//       d/dx1 = g (x2n - cos x1n) / max(||x1||, eps), with xn = x / max(||x||, eps).
//   normalize(x, p = 2, dim = 1, eps = 1e-12)
//       F.normalize: x / max(||x||_2, eps) along dim; where ||x|| < eps the norm is a constant
//       (clamp_min's gradient), so the gradient there is g / eps. Only p = 2.
#include <vector>

#include "packd/autograd/node.hpp"
#include "packd/backend/cpu/distance.hpp"
#include "packd/backend/cuda/distance.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/ops/fwd.hpp"
#include "packd/ops/reduce.hpp"  // and, through packd/tensor.hpp, the whole Tensor API

namespace packd {

namespace detail {

// Strides of the dims [a, b) of (shape, strides) as one dimension, if they collapse into one.
inline bool collapse_dims(const Shape& shape, const Shape& strides, int a, int b, int64_t& stride) {
  stride = 0;
  int last = -1;
  for (int d = b - 1; d >= a; --d) {
    if (shape[d] == 1) continue;
    if (last < 0) {
      stride = strides[d];
    } else if (strides[d] != strides[last] * shape[last]) {
      return false;
    }
    last = d;
  }
  return true;
}

// t broadcast to bshape and viewed as (O, C, I) around dim d. `holder` keeps a contiguous copy
// alive when the strides do not collapse (e.g. a broadcast dim inside I).
template <FloatScalar T>
const T* view3(const Tensor<T>& t, const Shape& bshape, int d, Tensor<T>& holder, backend::Strides3& s) {
  Shape st = broadcast_strides(t, bshape);
  if (collapse_dims(bshape, st, 0, d, s.o) && collapse_dims(bshape, st, d + 1, bshape.size(), s.i)) {
    s.c = st[d];
    return t.data();
  }
  holder = t.detach().expand(bshape).contiguous();
  const Shape& hs = holder.strides();
  collapse_dims(bshape, hs, 0, d, s.o);
  collapse_dims(bshape, hs, d + 1, bshape.size(), s.i);
  s.c = hs[d];
  return holder.data();
}

struct Dims3 {
  int64_t O = 1, C = 1, I = 1;
};
inline Dims3 dims3(const Shape& shape, int d) {
  Dims3 r;
  for (int k = 0; k < shape.size(); ++k) (k < d ? r.O : k == d ? r.C : r.I) *= shape[k];
  return r;
}

inline Shape without_dim(const Shape& shape, int d) {
  Shape out;
  for (int k = 0; k < shape.size(); ++k)
    if (k != d) out.push_back(shape[k]);
  return out;
}

}  // namespace detail

// x1, x2: broadcastable, e.g. (N, C, H, W) -> (N, H, W) for dim = 1.
template <FloatScalar T>
Tensor<T> cosine_similarity(const Tensor<T>& x1, const Tensor<T>& x2, int64_t dim = 1, double eps = 1e-8) {
  const char* op = "cosine_similarity";
  PACKD_CHECK(x1.device() == x2.device(), op, ": expected both tensors on one device, got shapes ", x1.shape(), " on ",
              x1.device(), " and ", x2.shape(), " on ", x2.device());
  const Shape bshape = broadcast_shapes(x1.shape(), x2.shape(), op);
  PACKD_CHECK(bshape.size() >= 1, op, ": expected tensors of rank >= 1, got shapes ", x1.shape(), " and ", x2.shape());
  PACKD_CHECK(dim >= -bshape.size() && dim < bshape.size(), op, ": dim ", dim, " is out of range for shapes ",
              x1.shape(), " and ", x2.shape(), " (broadcast ", bshape, ")");
  const int d = wrap_dim(dim, bshape.size(), op);
  const detail::Dims3 g3 = detail::dims3(bshape, d);
  const Shape oshape = detail::without_dim(bshape, d);  // (O..., I...)
  Tensor<T> out = Tensor<T>::empty(oshape, x1.device());
  Tensor<T> n1 = Tensor<T>::empty(oshape, x1.device()), n2 = Tensor<T>::empty(oshape, x1.device());
  Tensor<T> hold1, hold2;  // contiguous copies where an operand's strides do not collapse to (O, C, I)
  backend::Strides3 st1, st2;
  const T* px1 = detail::view3(x1, bshape, d, hold1, st1);
  const T* px2 = detail::view3(x2, bshape, d, hold2, st2);
  backend::dispatch(op, x1.device(), [&] {
    cpu::cosine_forward_kernel(px1, st1, px2, st2, g3.O, g3.C, g3.I, T(eps), out.data(), n1.data(), n2.data());
  }, [&] { cuda::cosine_forward_kernel(px1, st1, px2, st2, g3.O, g3.C, g3.I, T(eps), out.data(), n1.data(), n2.data()); });
  if (any_requires_grad(x1, x2))
    record<T>(op, {&x1, &x2}, out,
              [sx1 = save(x1, op), sx2 = save(x2, op), so = save(out, op), n1, n2, bshape, d, g3, eps](
                  const Tensor<T>& g, const Node<T>& node) {
                const Tensor<T>&a = sx1.unpack(), &b = sx2.unpack();
                Tensor<T> gc = g.contiguous(), cv = so.unpack();  // (O..., I...)
                const bool need1 = node.needs_input_grad(0), need2 = node.needs_input_grad(1);
                Tensor<T> g1 = need1 ? Tensor<T>::empty(bshape, g.device()) : Tensor<T>();
                Tensor<T> g2 = need2 ? Tensor<T>::empty(bshape, g.device()) : Tensor<T>();
                Tensor<T> h1, h2;
                backend::Strides3 s1, s2;
                const T* p1 = detail::view3(a, bshape, d, h1, s1);
                const T* p2 = detail::view3(b, bshape, d, h2, s2);
                T* pg1 = need1 ? g1.data() : nullptr;
                T* pg2 = need2 ? g2.data() : nullptr;
                backend::dispatch("cosine_similarity_backward", g.device(), [&] {
                  cpu::cosine_backward_kernel(p1, s1, p2, s2, g3.O, g3.C, g3.I, T(eps), gc.data(), cv.data(), n1.data(),
                                              n2.data(), pg1, pg2);
                }, [&] {
                  cuda::cosine_backward_kernel(p1, s1, p2, s2, g3.O, g3.C, g3.I, T(eps), gc.data(), cv.data(), n1.data(),
                                               n2.data(), pg1, pg2);
                });
                return std::vector<Tensor<T>>{need1 ? sum_to(g1, a.shape()) : Tensor<T>(),
                                              need2 ? sum_to(g2, b.shape()) : Tensor<T>()};
              });
  return out;
}

// x: any rank >= 1 -> same shape, unit L2 norm along dim (or x / eps where the norm is < eps).
template <FloatScalar T>
Tensor<T> normalize(const Tensor<T>& x, double p = 2.0, int64_t dim = 1, double eps = 1e-12) {
  const char* op = "normalize";
  PACKD_CHECK(p == 2.0, op, ": only p = 2 is supported, got p = ", p, " (input shape ", x.shape(), ")");
  PACKD_CHECK(x.dim() >= 1, op, ": expected a tensor of rank >= 1, got shape ", x.shape());
  PACKD_CHECK(dim >= -x.dim() && dim < x.dim(), op, ": dim ", dim, " is out of range for shape ", x.shape());
  const int d = wrap_dim(dim, x.dim(), op);
  const detail::Dims3 g3 = detail::dims3(x.shape(), d);
  Tensor<T> y = Tensor<T>::empty(x.shape(), x.device());
  Tensor<T> nrm = Tensor<T>::empty(detail::without_dim(x.shape(), d), x.device());  // (O..., I...)
  Tensor<T> h;  // a contiguous copy where x's strides do not collapse to (O, C, I)
  backend::Strides3 s;
  const T* px = detail::view3(x, x.shape(), d, h, s);
  backend::dispatch(op, x.device(), [&] { cpu::normalize_forward_kernel(px, s, g3.O, g3.C, g3.I, T(eps), y.data(), nrm.data()); },
                    [&] { cuda::normalize_forward_kernel(px, s, g3.O, g3.C, g3.I, T(eps), y.data(), nrm.data()); });
  if (any_requires_grad(x))
    record<T>(op, {&x}, y, [sy = save(y, op), nrm, g3, eps](const Tensor<T>& g, const Node<T>&) {
      Tensor<T> gc = g.contiguous(), yv = sy.unpack();
      Tensor<T> gx = Tensor<T>::empty(g.shape(), g.device());
      backend::dispatch("normalize_backward", g.device(), [&] {
        cpu::normalize_backward_kernel(gc.data(), yv.data(), nrm.data(), g3.O, g3.C, g3.I, T(eps), gx.data());
      }, [&] { cuda::normalize_backward_kernel(gc.data(), yv.data(), nrm.data(), g3.O, g3.C, g3.I, T(eps), gx.data()); });
      return std::vector<Tensor<T>>{gx};
    });
  return y;
}

}  // namespace packd
