#pragma once
// Views and copies: the Tensor methods that change shape/strides/offset without touching data
// (view, reshape, permute, transpose, narrow, slice, select, expand, squeeze, unsqueeze, flatten),
// and the ones that copy (contiguous, clone, copy_, fill_, to). Each records its backward here.
//
// Note [Views share the version counter]: a view shares its base's Storage, hence its version
// counter (Note [Version counter]); writing through a view invalidates tensors saved from the base.
#include <algorithm>
#include <numeric>

#include "packd/autograd/node.hpp"
#include "packd/backend/cpu/elementwise.hpp"
#include "packd/backend/cuda/elementwise.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/backend/functors.hpp"
#include "packd/ops/fwd.hpp"

namespace packd {

namespace detail {

// Strides of `t` broadcast to `shape` (right-aligned; 0 along broadcast dimensions).
template <Scalar T>
Shape broadcast_strides(const Tensor<T>& t, const Shape& shape) {
  Shape st = Shape::filled(shape.size(), 0);
  const int off = shape.size() - t.dim();
  for (int i = 0; i < t.dim(); ++i) st[off + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

// A view of `t` with new metadata over the same storage, recorded with backward `fn`.
template <Scalar T, class Fn>
Tensor<T> make_view(const Tensor<T>& t, const Shape& shape, const Shape& strides, int64_t offset, const char* op, Fn fn) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = t.dtype();
  Tensor<T> out(std::move(impl));
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(t)) record<T>(op, {&t}, out, std::move(fn));
  }
  return out;
}

// Strides for viewing (shape, strides) as new_shape without a copy, or an empty optional.
// Works dimension group by group, as PyTorch's computeStride does.
inline std::optional<Shape> view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape) {
  Shape out = Shape::filled(new_shape.size(), 0);
  if (shape.numel() <= 1) return contiguous_strides(new_shape);
  int view_d = new_shape.size() - 1;
  int64_t chunk_base_stride = strides.size() ? strides.back() : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = shape.size() - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

// Resolves one -1 extent and checks the element count.
inline Shape infer_shape(const Shape& requested, int64_t numel, const char* op, const Shape& from) {
  Shape s = requested;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      PACKD_CHECK(infer < 0, op, ": only one dimension can be -1, got ", requested);
      infer = i;
    } else {
      PACKD_CHECK(s[i] >= 0, op, ": invalid extent ", s[i], " in shape ", requested);
      known *= s[i];
    }
  }
  if (infer >= 0) {
    PACKD_CHECK(known != 0 && numel % known == 0, op, ": shape ", requested, " is invalid for a tensor of shape ", from);
    s[infer] = numel / known;
  }
  PACKD_CHECK(s.numel() == numel, op, ": shape ", requested, " is invalid for a tensor of shape ", from, " (",
              numel, " elements)");
  return s;
}

template <FloatScalar T>
using Grads = std::vector<Tensor<T>>;

}  // namespace detail

template <Scalar T>
Tensor<T> Tensor<T>::view(const Shape& new_shape) const {
  Shape s = detail::infer_shape(new_shape, numel(), "view", shape());
  auto st = detail::view_strides(shape(), strides(), s);
  PACKD_CHECK(st.has_value(), "view: shape ", new_shape, " is not compatible with the strides ", strides(),
              " of a tensor of shape ", shape(), "; use reshape() (which copies when it must)");
  Shape in_shape = shape();
  return detail::make_view(*this, s, *st, offset(), "view", [in_shape](const Tensor<T>& g, const auto&) {
    return std::vector<Tensor<T>>{g.reshape(in_shape)};
  });
}

template <Scalar T>
Tensor<T> Tensor<T>::reshape(const Shape& new_shape) const {
  Shape s = detail::infer_shape(new_shape, numel(), "reshape", shape());
  if (detail::view_strides(shape(), strides(), s)) return view(s);
  return contiguous().view(s);
}

template <Scalar T>
Tensor<T> Tensor<T>::permute(const Shape& dims) const {
  PACKD_CHECK(dims.size() == dim(), "permute: ", dims.size(), " dims given for a tensor of shape ", shape());
  Shape s = shape(), st = strides(), inverse = Shape::filled(dim(), -1);
  for (int i = 0; i < dim(); ++i) {
    int d = wrap_dim(dims[i], dim(), "permute");
    PACKD_CHECK(inverse[d] < 0, "permute: dimension ", d, " repeats in ", dims);
    inverse[d] = i;
    s[i] = shape()[d];
    st[i] = strides()[d];
  }
  return detail::make_view(*this, s, st, offset(), "permute", [inverse](const Tensor<T>& g, const auto&) {
    return std::vector<Tensor<T>>{g.permute(inverse)};
  });
}

template <Scalar T>
Tensor<T> Tensor<T>::transpose(int64_t d0, int64_t d1) const {
  Shape p = Shape::filled(dim(), 0);
  std::iota(p.begin(), p.end(), int64_t(0));
  if (dim() == 0) return permute(p);
  std::swap(p[wrap_dim(d0, dim(), "transpose")], p[wrap_dim(d1, dim(), "transpose")]);
  return permute(p);
}

template <Scalar T>
Tensor<T> Tensor<T>::t() const {
  PACKD_CHECK(dim() <= 2, "t: expects a tensor of rank <= 2, got shape ", shape());
  return dim() < 2 ? *this : transpose(0, 1);
}

template <Scalar T>
Tensor<T> Tensor<T>::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  PACKD_CHECK(dim() > 0, "slice: cannot slice a 0-dimensional tensor");
  const int dd = wrap_dim(d, dim(), "slice");
  PACKD_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = shape()[dd];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[dd] = (end - start + step - 1) / step;
  st[dd] = strides()[dd] * step;
  Shape in_shape = shape();
  return detail::make_view(*this, s, st, offset() + start * strides()[dd], "slice",
                           [in_shape, dd, start, end, step](const Tensor<T>& g, const auto&) {
                             Tensor<T> gi = zeros<T>(in_shape, g.device());
                             gi.slice(dd, start, end, step).copy_(g);
                             return std::vector<Tensor<T>>{gi};
                           });
}

template <Scalar T>
Tensor<T> Tensor<T>::narrow(int64_t d, int64_t start, int64_t length) const {
  const int dd = wrap_dim(d, dim(), "narrow");
  const int64_t n = shape()[dd];
  if (start < 0) start += n;
  PACKD_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: start ", start, " and length ", length,
              " do not fit dimension ", dd, " of shape ", shape());
  return slice(dd, start, start + length);
}

template <Scalar T>
Tensor<T> Tensor<T>::select(int64_t d, int64_t index) const {
  const int dd = wrap_dim(d, dim(), "select");
  const int64_t n = shape()[dd];
  PACKD_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dimension ", dd, " of shape ", shape());
  if (index < 0) index += n;
  return slice(dd, index, index + 1).squeeze(dd);
}

template <Scalar T>
Tensor<T> Tensor<T>::expand(const Shape& target) const {
  PACKD_CHECK(target.size() >= dim(), "expand: the target shape ", target, " has fewer dimensions than the tensor's ", shape());
  Shape s = target, st = Shape::filled(target.size(), 0);
  const int off = target.size() - dim();
  for (int i = 0; i < target.size(); ++i) {
    if (i < off) {
      PACKD_CHECK(target[i] >= 0, "expand: the new leading extent in ", target, " must be non-negative");
      continue;
    }
    const int64_t have = shape()[i - off];
    if (target[i] == -1 || target[i] == have) {
      s[i] = have;
      st[i] = strides()[i - off];
    } else {
      PACKD_CHECK(have == 1, "expand: the tensor of shape ", shape(), " cannot be expanded to ", target,
                  " (dimension ", i, " has extent ", have, ", not 1)");
      s[i] = target[i];
    }
  }
  Shape in_shape = shape();
  return detail::make_view(*this, s, st, offset(), "expand", [in_shape](const Tensor<T>& g, const auto&) {
    return std::vector<Tensor<T>>{sum_to(g, in_shape)};
  });
}

template <Scalar T>
Tensor<T> Tensor<T>::squeeze() const {
  Shape s;
  for (int64_t e : shape())
    if (e != 1) s.push_back(e);
  return view(s);
}

template <Scalar T>
Tensor<T> Tensor<T>::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  const int dd = wrap_dim(d, dim(), "squeeze");
  if (shape()[dd] != 1) return *this;
  Shape s = shape(), st = strides();
  s.erase(dd);
  st.erase(dd);
  Shape in_shape = shape();
  return detail::make_view(*this, s, st, offset(), "squeeze", [in_shape](const Tensor<T>& g, const auto&) {
    return std::vector<Tensor<T>>{g.reshape(in_shape)};
  });
}

template <Scalar T>
Tensor<T> Tensor<T>::unsqueeze(int64_t d) const {
  const int dd = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  s.insert(dd, 1);
  st.insert(dd, dd < dim() ? shape()[dd] * strides()[dd] : 1);
  Shape in_shape = shape();
  return detail::make_view(*this, s, st, offset(), "unsqueeze", [in_shape](const Tensor<T>& g, const auto&) {
    return std::vector<Tensor<T>>{g.reshape(in_shape)};
  });
}

template <Scalar T>
Tensor<T> Tensor<T>::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int a = wrap_dim(start_dim, dim(), "flatten"), b = wrap_dim(end_dim, dim(), "flatten");
  PACKD_CHECK(a <= b, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape s;
  for (int i = 0; i < a; ++i) s.push_back(shape()[i]);
  int64_t n = 1;
  for (int i = a; i <= b; ++i) n *= shape()[i];
  s.push_back(n);
  for (int i = b + 1; i < dim(); ++i) s.push_back(shape()[i]);
  return reshape(s);
}

template <Scalar T>
Tensor<T> Tensor<T>::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = shape();
  impl->strides = strides();
  impl->offset = offset();
  impl->dtype = dtype();
  return Tensor<T>(std::move(impl));
}

// ---- copies --------------------------------------------------------------------------------------

namespace detail {
// dst (any strides) = src broadcast to dst's shape, converting the scalar type.
template <Scalar To, Scalar Ti>
void copy_into(const Tensor<To>& dst, const Tensor<Ti>& src, const char* op) {
  PACKD_CHECK(dst.device() == src.device(), op, ": source on ", src.device(), ", destination on ", dst.device());
  PACKD_CHECK(src.dim() <= dst.dim() && broadcast_shapes(dst.shape(), src.shape(), op) == dst.shape(), op, ": a tensor of shape ", src.shape(),
              " cannot be broadcast to the destination shape ", dst.shape());
  Shape sst = broadcast_strides(src, dst.shape());
  backend::dispatch(op, dst.device(), [&] { cpu::copy_kernel(dst.data(), dst.shape(), dst.strides(), src.data(), sst); },
                    [&] { cuda::copy_kernel(dst.data(), dst.shape(), dst.strides(), src.data(), sst); });
}

template <Scalar T>
void check_inplace_allowed(const Tensor<T>& t, const char* op) {
  PACKD_CHECK(!(is_grad_enabled() && t.requires_grad()), op, ": in-place change of a tensor of shape ", t.shape(),
              " that requires grad; do it under NoGradGuard (as optimisers do) or on a clone");
}
}  // namespace detail

template <Scalar T>
Tensor<T>& Tensor<T>::copy_(const Tensor<T>& src) {
  detail::check_inplace_allowed(*this, "copy_");
  detail::copy_into(*this, src, "copy_");
  bump_version();
  return *this;
}

template <Scalar T>
Tensor<T>& Tensor<T>::fill_(T value) {
  detail::check_inplace_allowed(*this, "fill_");
  backend::dispatch("fill_", device(), [&] { cpu::unary_kernel(data(), shape(), strides(), data(), strides(), fn::Fill<T>{value}); },
                    [&] { cuda::unary_kernel(data(), shape(), strides(), data(), strides(), fn::Fill<T>{value}); });
  bump_version();
  return *this;
}

template <Scalar T>
Tensor<T> Tensor<T>::clone() const {
  Tensor<T> out = Tensor<T>::empty(shape(), device());
  detail::copy_into(out, *this, "clone");
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(*this))
      record<T>("clone", {this}, out, [](const Tensor<T>& g, const auto&) { return std::vector<Tensor<T>>{g}; });
  }
  return out;
}

template <Scalar T>
Tensor<T> Tensor<T>::contiguous() const {
  return is_contiguous() ? *this : clone();
}

template <Scalar T>
std::vector<T> Tensor<T>::to_vector() const {
  Tensor<T> c = to(Device::cpu()).contiguous();
  return std::vector<T>(c.data(), c.data() + c.numel());
}

template <Scalar T>
template <Scalar U>
Tensor<U> Tensor<T>::to() const {
  if constexpr (std::is_same_v<T, U>) {
    return *this;
  } else {
    // A graph holds one scalar type, so a conversion cannot carry gradients: refuse rather than cut.
    PACKD_CHECK(!any_requires_grad(*this), "to<", dtype_name(dtype_of<U>), ">: the ", dtype_name(dtype()),
                " tensor of shape ", shape(), " requires grad, and dtype conversion is not differentiable in packd; "
                "convert a detach()ed tensor (or the inputs, before the computation)");
    Tensor<U> out = Tensor<U>::empty(shape(), device());
    detail::copy_into(out, *this, "to");
    return out;
  }
}

template <Scalar T>
Tensor<T> Tensor<T>::to(Device target) const {
  if (target == device()) return *this;
  check_device_built(target, "to");
  Tensor<T> src = contiguous();
  Tensor<T> out = Tensor<T>::empty(shape(), target);
  copy_bytes(out.data(), target, src.data(), src.device(), std::size_t(numel()) * sizeof(T));
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(*this)) {
      Device from = device();
      record<T>("to", {this}, out, [from](const Tensor<T>& g, const auto&) { return std::vector<Tensor<T>>{g.to(from)}; });
    }
  }
  return out;
}

}  // namespace packd

// Completes the Tensor class (autograd methods, the other core ops) for a TU that includes only
// this header: see packd/tensor.hpp.
#include "packd/tensor.hpp"
