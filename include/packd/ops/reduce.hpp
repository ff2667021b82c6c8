#pragma once
// Reductions over any set of dimensions, with keepdim:
//   sum, mean, amax/amin (max/min values), argmax/argmin (one dimension, int64 indices), var,
//   and sum_to (sums a broadcast result back to a shape: the backward of broadcasting).
// An empty dims list means all dimensions. Float sums accumulate in double (acc_t).
// amax/amin split the gradient evenly between tied maxima, as torch.amax does.
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "packd/backend/cpu/reduce.hpp"
#include "packd/backend/cuda/reduce.hpp"
#include "packd/ops/elementwise.hpp"

namespace packd {

namespace detail {

// Which dimensions a reduction folds (all when dims is empty), and the output shape.
struct ReducePlan {
  std::vector<bool> mask;
  Shape out_shape;      // with keepdim applied
  Shape keep_shape;     // with the reduced dims kept as 1 (for broadcasting back)
  int64_t reduced = 1;  // number of elements folded into each output
};

inline ReducePlan plan_reduce(const Shape& shape, const Dims& dims, bool keepdim, const char* op) {
  ReducePlan p;
  p.mask.assign(shape.size(), dims.empty());
  for (int64_t d : dims) {
    int w = wrap_dim(d, shape.size(), op);
    if (shape.size() == 0) continue;
    PACKD_CHECK(!p.mask[w], op, ": dimension ", d, " appears twice in the reduced dims of shape ", shape);
    p.mask[w] = true;
  }
  for (int i = 0; i < shape.size(); ++i) {
    if (p.mask[i]) {
      p.reduced *= shape[i];
      p.keep_shape.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.keep_shape.push_back(shape[i]);
      p.out_shape.push_back(shape[i]);
    }
  }
  return p;
}

// The CPU folds with (init, step, combine, finish); CUDA runs cuda_fn(out) with the matching
// reduction of packd/backend/cuda/reduce.hpp.
template <Scalar Out, Scalar T, class Acc, class Step, class Combine, class Finish, class CudaFn>
Tensor<Out> reduce(const Tensor<T>& x, const ReducePlan& p, const char* op, Acc init, Step step, Combine combine,
                   Finish finish, CudaFn cuda_fn) {
  Tensor<Out> out = Tensor<Out>::empty(p.out_shape, x.device());
  backend::dispatch(op, x.device(), [&] {
    cpu::reduce_kernel(out.data(), x.data(), x.shape(), x.strides(), p.mask, init, step, combine, finish);
  }, [&] { cuda_fn(out.data()); });
  return out;
}

template <Scalar T>
Tensor<T> sum_impl(const Tensor<T>& x, const ReducePlan& p, double scale, const char* op) {
  using A = acc_t<T>;
  return reduce<T>(x, p, op, A(0), [](A acc, T v, int64_t) { return A(acc + A(v)); }, [](A a, A b) { return A(a + b); },
                   [scale](A acc) { return T(scale == 1.0 ? acc : A(acc * scale)); },
                   [&](T* out) { cuda::reduce_kernel(out, x.data(), x.shape(), x.strides(), p.mask, cuda::ReduceOp::sum, scale); });
}

}  // namespace detail

template <Scalar T>
Tensor<T> sum(const Tensor<T>& x, const Dims& dims, bool keepdim) {
  detail::ReducePlan p = detail::plan_reduce(x.shape(), dims, keepdim, "sum");
  Tensor<T> out = detail::sum_impl(x, p, 1.0, "sum");
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(x))
      record<T>("sum", {&x}, out, [keep = p.keep_shape, shape = x.shape()](const Tensor<T>& g, const Node<T>&) {
        return std::vector<Tensor<T>>{g.reshape(keep).expand(shape)};
      });
  }
  return out;
}
template <Scalar T>
Tensor<T> sum(const Tensor<T>& x) {
  return sum(x, Dims{}, false);
}

template <FloatScalar T>
Tensor<T> mean(const Tensor<T>& x, const Dims& dims, bool keepdim = false) {
  detail::ReducePlan p = detail::plan_reduce(x.shape(), dims, keepdim, "mean");
  const double scale = 1.0 / double(p.reduced);  // 0 elements: nan, as PyTorch
  Tensor<T> out = detail::sum_impl(x, p, scale, "mean");
  if (any_requires_grad(x))
    record<T>("mean", {&x}, out, [keep = p.keep_shape, shape = x.shape(), scale](const Tensor<T>& g, const Node<T>&) {
      return std::vector<Tensor<T>>{mul(g, T(scale)).reshape(keep).expand(shape)};
    });
  return out;
}
template <FloatScalar T>
Tensor<T> mean(const Tensor<T>& x) {
  return mean(x, Dims{}, false);
}

namespace detail {
// amax (Max = true) or amin; NaN propagates as in PyTorch.
template <bool Max, Scalar T>
Tensor<T> extremum(const Tensor<T>& x, const Dims& dims, bool keepdim, const char* op) {
  ReducePlan p = plan_reduce(x.shape(), dims, keepdim, op);
  PACKD_CHECK(p.reduced > 0, op, ": cannot reduce over an empty dimension of shape ", x.shape());
  auto better = [](T a, T b) {  // is a preferred over b
    if constexpr (FloatScalar<T>)
      if (std::isnan(a)) return !std::isnan(b);
    return Max ? a > b : a < b;
  };
  // ±inf, not lowest()/max(), so that a reduction over -inf values (a fully masked row) gives -inf
  using lim = std::numeric_limits<T>;
  const T init = lim::has_infinity ? (Max ? -lim::infinity() : lim::infinity()) : (Max ? lim::lowest() : lim::max());
  auto step = [better](T acc, T v, int64_t) { return better(v, acc) ? v : acc; };
  Tensor<T> out = reduce<T>(x, p, op, init, step, [better](T a, T b) { return better(b, a) ? b : a; }, [](T a) { return a; },
                            [&](T* o) {
                              cuda::reduce_kernel(o, x.data(), x.shape(), x.strides(), p.mask,
                                                  Max ? cuda::ReduceOp::max : cuda::ReduceOp::min, 1.0);
                            });
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(x))
      record<T>(op, {&x}, out, [sx = save(x, op), so = save(out, op), keep = p.keep_shape, d = dims](const Tensor<T>& g, const Node<T>&) {
        // gradient split evenly over the positions that attain the extremum
        Tensor<T> mask = eq(sx.unpack(), so.unpack().reshape(keep));
        Tensor<T> count = sum(mask, d, true);
        return std::vector<Tensor<T>>{mul(mask, div(g.reshape(keep), count))};
      });
  }
  return out;
}

template <bool Max, Scalar T>
Tensor<int64_t> arg_extremum(const Tensor<T>& x, std::optional<int64_t> dim, bool keepdim, const char* op) {
  if (!dim) return arg_extremum<Max>(x.reshape({-1}), 0, false, op);
  ReducePlan p = plan_reduce(x.shape(), Dims{*dim}, keepdim, op);
  PACKD_CHECK(p.reduced > 0, op, ": cannot reduce over an empty dimension of shape ", x.shape());
  using Acc = std::pair<T, int64_t>;
  auto better = [](const Acc& a, const Acc& b) {  // first occurrence wins ties; NaN counts as the extremum
    if (b.second < 0) return true;
    if constexpr (FloatScalar<T>) {
      if (std::isnan(b.first)) return std::isnan(a.first) && a.second < b.second;
      if (std::isnan(a.first)) return true;
    }
    if (a.first == b.first) return a.second < b.second;
    return Max ? a.first > b.first : a.first < b.first;
  };
  return reduce<int64_t>(
      x, p, op, Acc{T(0), -1}, [better](Acc acc, T v, int64_t i) { return better(Acc{v, i}, acc) ? Acc{v, i} : acc; },
      [better](Acc a, Acc b) { return better(b, a) ? b : a; }, [](Acc a) { return a.second; },
      [&](int64_t* o) { cuda::arg_reduce_kernel(o, x.data(), x.shape(), x.strides(), p.mask, Max); });
}
}  // namespace detail

template <Scalar T>
Tensor<T> amax(const Tensor<T>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::extremum<true>(x, dims, keepdim, "amax");
}
template <Scalar T>
Tensor<T> amin(const Tensor<T>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::extremum<false>(x, dims, keepdim, "amin");
}
// max/min over dims: the values (the same as amax/amin).
template <Scalar T>
Tensor<T> max(const Tensor<T>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::extremum<true>(x, dims, keepdim, "max");
}
template <Scalar T>
Tensor<T> min(const Tensor<T>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::extremum<false>(x, dims, keepdim, "min");
}
// Index of the first maximum along dim (of the flattened tensor when dim is empty).
template <Scalar T>
Tensor<int64_t> argmax(const Tensor<T>& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false) {
  return detail::arg_extremum<true>(x, dim, keepdim, "argmax");
}
template <Scalar T>
Tensor<int64_t> argmin(const Tensor<T>& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false) {
  return detail::arg_extremum<false>(x, dim, keepdim, "argmin");
}

// Variance with Bessel's correction by default (correction = 1, as torch.var); differentiable
// through its composition from mean, sub, mul and sum.
template <FloatScalar T>
Tensor<T> var(const Tensor<T>& x, const Dims& dims = {}, int64_t correction = 1, bool keepdim = false) {
  detail::ReducePlan p = detail::plan_reduce(x.shape(), dims, keepdim, "var");
  Tensor<T> centred = sub(x, mean(x, dims, true));
  const double denom = std::max<double>(0.0, double(p.reduced - correction));
  return div(sum(mul(centred, centred), dims, keepdim), T(denom));
}

template <Scalar T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  PACKD_CHECK(shape.size() <= x.dim(), "sum_to: cannot sum a tensor of shape ", x.shape(), " to the larger rank shape ", shape);
  Dims dims;
  const int lead = x.dim() - shape.size();
  for (int i = 0; i < x.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    const int64_t want = shape[i - lead];
    PACKD_CHECK(want == x.shape()[i] || want == 1, "sum_to: shape ", x.shape(), " does not broadcast from ", shape);
    if (want == 1 && x.shape()[i] != 1) dims.push_back(i);
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace packd

// Completes the Tensor class (autograd methods, the other core ops) for a TU that includes only
// this header: see packd/tensor.hpp.
#include "packd/tensor.hpp"
