#pragma once
// Softmax family along dimensions, as PyTorch 1.13 (torch.softmax, torch.log_softmax,
// torch.logsumexp), numerically stable (the maximum is subtracted before exp), each a fused kernel
// (backend/cpu/softmax.hpp, backend/cuda/softmax.hpp), not a composition:
//   softmax(x, dim)         exp(x - max) / sum exp(x - max)       backward y (g - sum(g y))
//   log_softmax(x, dim)     x - max - log sum exp(x - max)        backward g - exp(y) sum(g)
//   logsumexp(x, dims, keepdim = false)   max + log sum exp(x - max) (an infinite max is not
//                           subtracted, so all -inf gives -inf); empty dims = all dims;
//                           backward g exp(x - out) = g softmax(x).
// Rows of all -inf give NaN in softmax/log_softmax, as in PyTorch.
#include <algorithm>
#include <vector>

#include "packd/autograd/node.hpp"
#include "packd/backend/cpu/softmax.hpp"
#include "packd/backend/cuda/softmax.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/fwd.hpp"
#include "packd/ops/reduce.hpp"  // and, through packd/tensor.hpp, the whole Tensor API

namespace packd {

namespace detail {

// Forward or backward of softmax/log_softmax along dim d on contiguous copies.
template <cpu::SoftmaxKind K, FloatScalar T>
Tensor<T> softmax_apply(const Tensor<T>& x, int d, const char* op) {
  Tensor<T> xc = x.detach().contiguous();  // (O, N, I)
  Tensor<T> y = Tensor<T>::empty(x.shape(), x.device());
  int64_t O = 1, I = 1;
  for (int k = 0; k < d; ++k) O *= x.shape()[k];
  for (int k = d + 1; k < x.dim(); ++k) I *= x.shape()[k];
  const int64_t N = x.dim() ? x.shape()[d] : 1;
  backend::dispatch(op, x.device(), [&] { cpu::softmax_forward_kernel<K>(xc.data(), y.data(), O, N, I); },
                    [&] { cuda::softmax_forward_kernel<K>(xc.data(), y.data(), O, N, I); });
  return y;
}

template <cpu::SoftmaxKind K, FloatScalar T>
Tensor<T> softmax_backward(const Tensor<T>& g, const Tensor<T>& y, int d, const char* op) {
  Tensor<T> gc = g.contiguous();  // (O, N, I)
  Tensor<T> gx = Tensor<T>::empty(y.shape(), y.device());
  int64_t O = 1, I = 1;
  for (int k = 0; k < d; ++k) O *= y.shape()[k];
  for (int k = d + 1; k < y.dim(); ++k) I *= y.shape()[k];
  const int64_t N = y.dim() ? y.shape()[d] : 1;
  backend::dispatch(op, y.device(), [&] { cpu::softmax_backward_kernel<K>(gc.data(), y.data(), gx.data(), O, N, I); },
                    [&] { cuda::softmax_backward_kernel<K>(gc.data(), y.data(), gx.data(), O, N, I); });
  return gx;
}

template <cpu::SoftmaxKind K, FloatScalar T>
Tensor<T> softmax_op(const Tensor<T>& x, int64_t dim, const char* op, const char* bop) {
  const int d = wrap_dim(dim, x.dim(), op);
  Tensor<T> y = softmax_apply<K>(x, d, op);
  if (any_requires_grad(x))
    record<T>(op, {&x}, y, [sy = save(y, op), d, bop](const Tensor<T>& g, const Node<T>&) {
      return std::vector<Tensor<T>>{softmax_backward<K>(g, sy.unpack(), d, bop)};
    });
  return y;
}

}  // namespace detail

// x: any shape -> same shape; sums to 1 along dim.
template <FloatScalar T>
Tensor<T> softmax(const Tensor<T>& x, int64_t dim) {
  return detail::softmax_op<cpu::SoftmaxKind::softmax>(x, dim, "softmax", "softmax_backward");
}

template <FloatScalar T>
Tensor<T> log_softmax(const Tensor<T>& x, int64_t dim) {
  return detail::softmax_op<cpu::SoftmaxKind::log_softmax>(x, dim, "log_softmax", "log_softmax_backward");
}

// x: any shape -> x's shape without dims (kept as 1 with keepdim).
template <FloatScalar T>
Tensor<T> logsumexp(const Tensor<T>& x, const Dims& dims, bool keepdim = false) {
  const char* op = "logsumexp";
  std::vector<bool> red(std::max(x.dim(), 1), dims.empty());
  for (int64_t dd : dims) {
    const int w = wrap_dim(dd, x.dim(), op);
    PACKD_CHECK(!red[w] || dims.empty(), op, ": dimension ", dd, " appears twice in the reduced dims of shape ", x.shape());
    red[w] = true;
  }
  // kept dims first, reduced dims last: (O, N) with I = 1
  Shape perm, out_shape, keep_shape;
  int64_t O = 1, N = 1;
  for (int k = 0; k < x.dim(); ++k)
    if (!red[k]) perm.push_back(k), O *= x.shape()[k];
  for (int k = 0; k < x.dim(); ++k)
    if (red[k]) perm.push_back(k), N *= x.shape()[k];
  for (int k = 0; k < x.dim(); ++k) {
    keep_shape.push_back(red[k] ? 1 : x.shape()[k]);
    if (!red[k] || keepdim) out_shape.push_back(red[k] ? 1 : x.shape()[k]);
  }
  Tensor<T> xp = x.dim() ? x.detach().permute(perm).contiguous() : x.detach();  // (O, N)
  Tensor<T> out = Tensor<T>::empty(out_shape, x.device());
  backend::dispatch(op, x.device(), [&] {
    cpu::softmax_forward_kernel<cpu::SoftmaxKind::logsumexp>(xp.data(), out.data(), O, N, int64_t(1));
  }, [&] { cuda::softmax_forward_kernel<cuda::SoftmaxKind::logsumexp>(xp.data(), out.data(), O, N, int64_t(1)); });
  if (any_requires_grad(x))
    record<T>(op, {&x}, out, [sx = save(x, op), so = save(out, op), keep_shape](const Tensor<T>& g, const Node<T>&) {
      const Tensor<T>& xv = sx.unpack();
      return std::vector<Tensor<T>>{mul(g.reshape(keep_shape), exp(sub(xv, so.unpack().reshape(keep_shape))))};
    });
  return out;
}
template <FloatScalar T>
Tensor<T> logsumexp(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  return logsumexp(x, Dims{dim}, keepdim);
}

}  // namespace packd
