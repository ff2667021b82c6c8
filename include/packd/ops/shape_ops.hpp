#pragma once
// Shape ops, with PyTorch 1.13 semantics and autograd:
//
//   cat(tensors, dim)            joins along dim; 1-D empty tensors are skipped (PyTorch's legacy rule)
//   stack(tensors, dim)          joins equal shapes along a new dim
//   split(x, size, dim)          views of `size` (the last may be shorter); split(x, {sizes}, dim)
//   chunk(x, chunks, dim)        split(x, ceil(n / chunks), dim), so possibly fewer than `chunks`
//   pad(x, pads, mode, value)    pads as F.pad: (left, right) pairs, the LAST dimension first;
//                                constant (negative pads crop), reflect (pad < size, edge not
//                                repeated), replicate (edge repeated). reflect/replicate take any
//                                number of trailing dims (PyTorch limits them to 1-3)
//   flip(x, dims)                reverses the listed dims
//   rot90(x, k, dims = {-2, -1}) torch.rot90 (k any integer, negative rotates the other way); an
//                                exact permutation. torch's default dims are {0, 1}: packd's default
//                                rotates the trailing (H, W) plane of NCHW images.
//   index_select(x, dim, index)  index: 1-D (or 0-D) int64
//   gather(x, dim, index)        out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1; index has
//                                x's rank and extents <= x's in the other dims
// Indices out of range throw, naming the index, the dimension's size and the shapes.
// pad, flip and index_select run one gather-by-index-maps kernel; their gradients its adjoint
// (backend/cpu/shape_ops.hpp). Split results are views.
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "packd/backend/cpu/shape_ops.hpp"
#include "packd/backend/cuda/shape_ops.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/factory.hpp"
#include "packd/ops/view.hpp"

namespace packd {

enum class PadMode { constant, reflect, replicate };

template <Scalar T> Tensor<T> flip(const Tensor<T>& x, const Dims& dims);

namespace detail {

// record() for a variable number of inputs (cat, stack).
template <FloatScalar T, class Fn>
void record_inputs(const char* name, const std::vector<Tensor<T>>& inputs, const Tensor<T>& out, Fn fn) {
  auto node = std::make_shared<FunctionNode<T, Fn>>(name, std::move(fn));
  for (const Tensor<T>& in : inputs) {
    node->next_edges.push_back(gradient_edge(in));
    node->input_shapes.push_back(in.shape());
  }
  AutogradMeta<T>& meta = ensure_autograd_meta(out);
  meta.requires_grad = true;
  meta.grad_fn = std::move(node);
}

// Offset maps of the identity (index i -> i * stride) for each dimension.
inline cpu::OffsetMaps identity_maps(const Shape& shape, const Shape& strides) {
  cpu::OffsetMaps m(shape.size());
  for (int d = 0; d < shape.size(); ++d) {
    m[d].resize(shape[d]);
    for (int64_t i = 0; i < shape[d]; ++i) m[d][i] = i * strides[d];
  }
  return m;
}

// out (contiguous, oshape) = x gathered along `maps` (source offsets built from x's strides).
template <Scalar T>
Tensor<T> gather_maps(const Tensor<T>& x, const Shape& oshape, const cpu::OffsetMaps& maps, T fill, const char* op) {
  Tensor<T> out = Tensor<T>::empty(oshape, x.device());
  backend::dispatch(op, x.device(), [&] { cpu::index_map_gather(out.data(), oshape, x.data(), maps, fill); },
                    [&] { cuda::index_map_gather(out.data(), oshape, x.data(), maps, fill); });
  return out;
}

// The adjoint of gather_maps for maps built from contiguous strides of `ishape`.
template <Scalar T>
Tensor<T> scatter_maps(const Tensor<T>& g, const Shape& ishape, const cpu::OffsetMaps& maps, bool dim0_one_to_one,
                       const char* op) {
  Tensor<T> gc = g.contiguous();
  Tensor<T> gx = zeros<T>(ishape, g.device());
  backend::dispatch(op, g.device(), [&] { cpu::index_map_scatter_add(gx.data(), g.shape(), gc.data(), maps, dim0_one_to_one); },
                    [&] { cuda::index_map_scatter_add(gx.data(), g.shape(), gc.data(), maps, dim0_one_to_one); });
  return gx;
}

// The index's values on the host (copied from a device), contiguous, checked to lie in [0, size).
inline Tensor<int64_t> checked_host_index(const Tensor<int64_t>& index, int64_t size, int dim, const Shape& xshape,
                                          const char* op) {
  Tensor<int64_t> ic = index.device().is_cpu() ? index.contiguous() : index.to(Device::cpu());
  const int64_t* p = ic.data();
  for (int64_t i = 0; i < ic.numel(); ++i)
    PACKD_CHECK(p[i] >= 0 && p[i] < size, op, ": index ", p[i], " is out of bounds for dimension ", dim, " with size ", size,
                " (input shape ", xshape, ", index shape ", index.shape(), ")");
  return ic;
}

}  // namespace detail

// ---- cat / stack / split / chunk ---------------------------------------------------------------

template <Scalar T>
Tensor<T> cat(const std::vector<Tensor<T>>& tensors, int64_t dim = 0) {
  PACKD_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  std::vector<Tensor<T>> parts;  // without the legacy (0,)-shaped tensors
  for (const Tensor<T>& t : tensors)
    if (!(t.dim() == 1 && t.size(0) == 0)) parts.push_back(t);
  if (parts.empty()) return tensors[0].clone();
  const Tensor<T>& ref = parts[0];
  PACKD_CHECK(ref.dim() > 0, "cat: zero-dimensional tensor (shape ", ref.shape(), ") cannot be concatenated");
  const int d = wrap_dim(dim, ref.dim(), "cat");
  Shape oshape = ref.shape();
  oshape[d] = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Tensor<T>& t = parts[i];
    PACKD_CHECK(t.dim() == ref.dim(), "cat: tensors must have the same rank: tensor ", i, " has shape ", t.shape(),
                ", tensor 0 has shape ", ref.shape());
    for (int k = 0; k < t.dim(); ++k)
      PACKD_CHECK(k == d || t.size(k) == ref.size(k), "cat: sizes of tensors must match except in dimension ", d, ": tensor ",
                  i, " has shape ", t.shape(), ", tensor 0 has shape ", ref.shape());
    detail::check_same_device(t, ref, "cat");
    oshape[d] += t.size(d);
  }
  Tensor<T> out = Tensor<T>::empty(oshape, ref.device());
  std::vector<int64_t> offsets;  // per input: where it starts along d, -1 for a skipped legacy empty
  int64_t off = 0;
  for (const Tensor<T>& t : tensors) {
    if (t.dim() == 1 && t.size(0) == 0 && ref.dim() != 1) {
      offsets.push_back(-1);
      continue;
    }
    if (t.size(d) > 0) detail::copy_into(out.narrow(d, off, t.size(d)).detach(), t, "cat");
    offsets.push_back(off);
    off += t.size(d);
  }
  if constexpr (FloatScalar<T>) {
    bool any = false;
    for (const Tensor<T>& t : tensors) any = any || any_requires_grad(t);
    if (any) {
      std::vector<int64_t> sizes;
      for (const Tensor<T>& t : tensors) sizes.push_back(t.dim() == 1 && t.size(0) == 0 ? 0 : t.size(d));
      detail::record_inputs<T>("cat", tensors, out, [sizes, offsets, d](const Tensor<T>& g, const Node<T>& n) {
        std::vector<Tensor<T>> grads(sizes.size());
        for (std::size_t i = 0; i < sizes.size(); ++i) {
          if (!n.needs_input_grad(i)) continue;
          grads[i] = offsets[i] < 0 ? zeros<T>({0}, g.device()) : g.narrow(d, offsets[i], sizes[i]);
        }
        return grads;
      });
    }
  }
  return out;
}

template <Scalar T>
Tensor<T> stack(const std::vector<Tensor<T>>& tensors, int64_t dim = 0) {
  PACKD_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const int d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor<T>> parts;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    PACKD_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: expects each tensor to be equal size, but got ",
                tensors[0].shape(), " at entry 0 and ", tensors[i].shape(), " at entry ", i);
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

template <Scalar T>
std::vector<Tensor<T>> split(const Tensor<T>& x, const std::vector<int64_t>& sizes, int64_t dim = 0) {
  PACKD_CHECK(x.dim() > 0, "split: cannot split a zero-dimensional tensor");
  const int d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    PACKD_CHECK(s >= 0, "split: split sizes must be non-negative, got ", s, " for a tensor of shape ", x.shape());
    total += s;
  }
  PACKD_CHECK(total == x.size(d), "split: split sizes sum to ", total, " but dimension ", d, " of shape ", x.shape(), " has size ",
              x.size(d));
  std::vector<Tensor<T>> out;
  int64_t off = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(d, off, s));
    off += s;
  }
  return out;
}

template <Scalar T>
std::vector<Tensor<T>> split(const Tensor<T>& x, int64_t split_size, int64_t dim = 0) {
  PACKD_CHECK(x.dim() > 0, "split: cannot split a zero-dimensional tensor");
  const int d = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(d);
  PACKD_CHECK(split_size > 0 || (split_size == 0 && n == 0), "split: split_size must be positive, got ", split_size,
              " for a tensor of shape ", x.shape());
  std::vector<int64_t> sizes;
  if (n == 0) sizes.push_back(0);
  for (int64_t o = 0; o < n; o += split_size) sizes.push_back(std::min(split_size, n - o));
  return split(x, sizes, d);
}

template <Scalar T>
std::vector<Tensor<T>> chunk(const Tensor<T>& x, int64_t chunks, int64_t dim = 0) {
  PACKD_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks, " for a tensor of shape ", x.shape());
  PACKD_CHECK(x.dim() > 0, "chunk: cannot chunk a zero-dimensional tensor");
  const int d = wrap_dim(dim, x.dim(), "chunk");
  return split(x, (x.size(d) + chunks - 1) / chunks, d);
}

// ---- pad / flip / rot90 ---------------------------------------------------------------------------

template <Scalar T>
Tensor<T> pad(const Tensor<T>& x, const std::vector<int64_t>& pads, PadMode mode = PadMode::constant, double value = 0) {
  const char* op = "pad";
  PACKD_CHECK(pads.size() % 2 == 0 && int(pads.size()) <= 2 * x.dim(), op, ": padding length ", pads.size(),
              " must be even and at most twice the rank of the input of shape ", x.shape());
  const int r = x.dim();
  Shape oshape = x.shape();
  cpu::OffsetMaps maps = detail::identity_maps(x.shape(), x.strides());
  cpu::OffsetMaps gmaps = detail::identity_maps(x.shape(), contiguous_strides(x.shape()));
  bool dim0_padded = false;
  for (std::size_t i = 0; i < pads.size() / 2; ++i) {
    const int d = r - 1 - int(i);
    const int64_t lo = pads[2 * i], hi = pads[2 * i + 1], n = x.size(d);
    if (lo == 0 && hi == 0) continue;
    dim0_padded = dim0_padded || d == 0;
    if (mode == PadMode::constant) {
      PACKD_CHECK(n + lo + hi >= 0, op, ": padding (", lo, ", ", hi, ") of dimension ", d, " of shape ", x.shape(),
                  " gives a negative size");
    } else {
      const char* name = mode == PadMode::reflect ? "reflect" : "replicate";
      PACKD_CHECK(lo >= 0 && hi >= 0, op, ": ", name, " padding must be non-negative, got (", lo, ", ", hi, ") for dimension ",
                  d, " of shape ", x.shape());
      PACKD_CHECK(n > 0, op, ": ", name, " padding of an empty dimension ", d, " of shape ", x.shape());
      if (mode == PadMode::reflect)
        PACKD_CHECK(lo < n && hi < n, op, ": reflect padding (", lo, ", ", hi, ") must be less than the size ", n,
                    " of dimension ", d, " of shape ", x.shape());
    }
    oshape[d] = n + lo + hi;
    std::vector<int64_t> src(oshape[d]);
    for (int64_t o = 0; o < oshape[d]; ++o) {
      int64_t s = o - lo;
      if (mode == PadMode::reflect) {
        if (s < 0) s = -s;
        if (s >= n) s = 2 * (n - 1) - s;
      } else if (mode == PadMode::replicate) {
        s = std::clamp<int64_t>(s, 0, n - 1);
      }
      src[o] = (s >= 0 && s < n) ? s : -1;
    }
    const int64_t xs = x.stride(d), gs = contiguous_strides(x.shape())[d];
    maps[d].resize(oshape[d]);
    gmaps[d].resize(oshape[d]);
    for (int64_t o = 0; o < oshape[d]; ++o) {
      maps[d][o] = src[o] < 0 ? cpu::kFillOffset : src[o] * xs;
      gmaps[d][o] = src[o] < 0 ? cpu::kFillOffset : src[o] * gs;
    }
  }
  Tensor<T> out = detail::gather_maps(x, oshape, maps, T(value), op);
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(x)) {
      const bool one_to_one = !dim0_padded || mode == PadMode::constant;
      record<T>(op, {&x}, out, [gmaps, ishape = x.shape(), one_to_one](const Tensor<T>& g, const Node<T>&) {
        return std::vector<Tensor<T>>{detail::scatter_maps(g, ishape, gmaps, one_to_one, "pad_backward")};
      });
    }
  }
  return out;
}

template <Scalar T>
Tensor<T> flip(const Tensor<T>& x, const Dims& dims) {
  std::vector<bool> flipped(std::max(x.dim(), 1), false);
  for (int64_t dd : dims) {
    const int d = wrap_dim(dd, x.dim(), "flip");
    PACKD_CHECK(!flipped[d], "flip: dim ", d, " appears multiple times in the list of dims for a tensor of shape ", x.shape());
    flipped[d] = true;
  }
  cpu::OffsetMaps maps = detail::identity_maps(x.shape(), x.strides());
  for (int d = 0; d < x.dim(); ++d)
    if (flipped[d]) std::reverse(maps[d].begin(), maps[d].end());
  Tensor<T> out = detail::gather_maps(x, x.shape(), maps, T(0), "flip");
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(x))
      record<T>("flip", {&x}, out, [dims](const Tensor<T>& g, const Node<T>&) { return std::vector<Tensor<T>>{flip(g, dims)}; });
  }
  return out;
}

template <Scalar T>
Tensor<T> rot90(const Tensor<T>& x, int64_t k = 1, const Dims& dims = {-2, -1}) {
  PACKD_CHECK(dims.size() == 2, "rot90: expected total rotation dims == 2, but got dims = ", dims.size(), " for input of shape ",
              x.shape());
  PACKD_CHECK(x.dim() >= 2, "rot90: expected total dims >= 2, but got total dims = ", x.dim(), " (shape ", x.shape(), ")");
  const int d0 = wrap_dim(dims[0], x.dim(), "rot90"), d1 = wrap_dim(dims[1], x.dim(), "rot90");
  PACKD_CHECK(d0 != d1, "rot90: expected rotation dims to be different, got ", dims[0], " and ", dims[1], " for input of shape ",
              x.shape());
  switch (((k % 4) + 4) % 4) {
    case 1: return flip(x, {d1}).transpose(d0, d1);
    case 2: return flip(x, {d0, d1});
    case 3: return flip(x, {d0}).transpose(d0, d1);
    default: return x.clone();
  }
}

// ---- index_select / gather -------------------------------------------------------------------------

template <Scalar T>
Tensor<T> index_select(const Tensor<T>& x, int64_t dim, const Tensor<int64_t>& index) {
  PACKD_CHECK(x.dim() >= 1, "index_select: expected an input with at least one dimension, got shape ", x.shape());
  PACKD_CHECK(index.dim() <= 1, "index_select: index must be 0-D or 1-D, got shape ", index.shape());
  PACKD_CHECK(index.device() == x.device(), "index_select: index on ", index.device(), ", input on ", x.device());
  const int d = wrap_dim(dim, x.dim(), "index_select");
  Tensor<int64_t> ic = detail::checked_host_index(index, x.size(d), d, x.shape(), "index_select");  // maps built on the host
  Shape oshape = x.shape();
  oshape[d] = ic.numel();
  cpu::OffsetMaps maps = detail::identity_maps(x.shape(), x.strides());
  cpu::OffsetMaps gmaps = detail::identity_maps(x.shape(), contiguous_strides(x.shape()));
  maps[d].resize(ic.numel());
  gmaps[d].resize(ic.numel());
  const int64_t gs = contiguous_strides(x.shape())[d];
  for (int64_t i = 0; i < ic.numel(); ++i) {
    maps[d][i] = ic.data()[i] * x.stride(d);
    gmaps[d][i] = ic.data()[i] * gs;
  }
  Tensor<T> out = detail::gather_maps(x, oshape, maps, T(0), "index_select");
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(x))
      record<T>("index_select", {&x}, out, [gmaps, ishape = x.shape(), d](const Tensor<T>& g, const Node<T>&) {
        return std::vector<Tensor<T>>{detail::scatter_maps(g, ishape, gmaps, d != 0, "index_select_backward")};
      });
  }
  return out;
}

template <Scalar T>
Tensor<T> gather(const Tensor<T>& x, int64_t dim, const Tensor<int64_t>& index) {
  PACKD_CHECK(index.dim() == x.dim(), "gather: index tensor must have the same number of dimensions as the input, got index shape ",
              index.shape(), " and input shape ", x.shape());
  PACKD_CHECK(index.device() == x.device(), "gather: index on ", index.device(), ", input on ", x.device());
  const int d = wrap_dim(dim, x.dim(), "gather");
  for (int k = 0; k < x.dim(); ++k)
    PACKD_CHECK(k == d || index.size(k) <= x.size(k), "gather: size of dimension ", k, " of the index (shape ", index.shape(),
                ") must not exceed that of the input (shape ", x.shape(), ") outside dimension ", d);
  Tensor<int64_t> host = detail::checked_host_index(index, x.dim() ? x.size(d) : 1, d, x.shape(), "gather");
  Tensor<int64_t> ic = index.device().is_cpu() ? host : index.contiguous();
  Tensor<T> out = Tensor<T>::empty(index.shape(), x.device());
  backend::dispatch("gather", x.device(), [&] {
    cpu::gather_impl<T, false>(out.data(), ic.shape(), ic.data(), x.data(), x.strides(), d);
  }, [&] { cuda::gather_kernel(out.data(), ic.shape(), ic.data(), x.data(), x.strides(), d); });
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(x))
      record<T>("gather", {&x}, out, [ic, version = ic.version(), ishape = x.shape(), d](const Tensor<T>& g, const Node<T>&) {
        PACKD_CHECK(ic.version() == version, "gather: the index needed for the gradient was modified in place");
        Tensor<T> gc = g.contiguous();
        Tensor<T> gx = zeros<T>(ishape, g.device());
        backend::dispatch("gather_backward", g.device(), [&] {
          cpu::gather_impl<T, true>(gc.data(), ic.shape(), ic.data(), gx.data(), gx.strides(), d);
        }, [&] { cuda::gather_scatter_add(gc.data(), ic.shape(), ic.data(), gx.data(), gx.strides(), d); });
        return std::vector<Tensor<T>>{gx};
      });
  }
  return out;
}

}  // namespace packd
