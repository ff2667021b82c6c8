#pragma once
// Tensor<T>: a typed handle to a TensorImpl, which is a strided view over a shared Storage.
//
//   Storage      bytes + device + version counter (Note [Version counter]); shared by views.
//   TensorImpl   dtype, shape, strides (in elements), offset (in elements) and, when the
//                tensor takes part in autograd, its AutogradMeta (requires_grad, grad, grad_fn).
//   Tensor<T>    what users hold: a shared_ptr<TensorImpl> whose dtype is T. Copying a Tensor
//                copies the handle, not the data (as in PyTorch).
//
// T is float, double or int64_t (packd/core/dtype.hpp). Only float and double take part in
// autograd. This header holds the class, its metadata accessors and the declarations of its view
// and autograd methods; their definitions are in ops/view.hpp and autograd/engine.hpp, which
// packd/tensor.hpp includes, so a user includes "packd/tensor.hpp" and gets a complete class.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "packd/core/device.hpp"
#include "packd/core/dtype.hpp"
#include "packd/core/error.hpp"
#include "packd/core/shape.hpp"
#include "packd/core/storage.hpp"

namespace packd {

template <Scalar T>
class Tensor;
template <Scalar T>
class Node;  // defined for float and double only (autograd/node.hpp)

struct AutogradMetaBase {
  virtual ~AutogradMetaBase() = default;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;    // extents
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements, from storage->data()
  DType dtype = DType::float32;
  std::unique_ptr<AutogradMetaBase> autograd;  // null unless the tensor takes part in autograd
};

template <FloatScalar T>
struct AutogradMeta : AutogradMetaBase {
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;           // .grad() of a leaf, same dtype
  std::shared_ptr<Node<T>> grad_fn;           // the node that produced this tensor (non-leaf)
  std::weak_ptr<Node<T>> grad_accumulator;    // a leaf's AccumulateGrad node, shared by its uses
};

template <Scalar T>
class Tensor {
 public:
  using value_type = T;

  Tensor() = default;  // undefined: holds nothing
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {
    if (impl_)
      PACKD_CHECK(impl_->dtype == dtype_of<T>, "Tensor<", dtype_name(dtype_of<T>), ">: the tensor holds ",
                  dtype_name(impl_->dtype), " data; convert it with to<", dtype_name(impl_->dtype), ">() first");
  }

  // A new uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, Device device = Device::cpu()) {
    for (int64_t d : shape) PACKD_CHECK(d >= 0, "empty: negative extent in shape ", shape);
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(std::size_t(shape.numel()) * sizeof(T), device);
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    impl->dtype = dtype_of<T>;
    return Tensor(std::move(impl));
  }

  // A view over an existing storage (no copy). Checks that the view fits in the storage.
  static Tensor from_storage(std::shared_ptr<Storage> storage, const Shape& shape, const Shape& strides,
                             int64_t offset) {
    PACKD_CHECK(shape.size() == strides.size(), "from_storage: shape ", shape, " and strides ", strides,
                " differ in rank");
    for (int64_t d : shape) PACKD_CHECK(d >= 0, "from_storage: negative extent in shape ", shape);
    if (shape.numel() > 0) {
      int64_t lo = offset, hi = offset;  // lowest and highest element the view touches
      for (int i = 0; i < shape.size(); ++i) (strides[i] >= 0 ? hi : lo) += strides[i] * (shape[i] - 1);
      PACKD_CHECK(lo >= 0 && (hi + 1) * int64_t(sizeof(T)) <= int64_t(storage->nbytes()), "from_storage: a view of shape ",
                  shape, ", strides ", strides, ", offset ", offset, " reaches outside a storage of ",
                  storage->nbytes(), " bytes");
    }
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::move(storage);
    impl->shape = shape;
    impl->strides = strides;
    impl->offset = offset;
    impl->dtype = dtype_of<T>;
    return Tensor(std::move(impl));
  }

  // ---- metadata ------------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int dim() const { return impl().shape.size(); }
  int64_t size(int64_t d) const { return impl().shape[wrap_dim(d, dim(), "size")]; }
  int64_t stride(int64_t d) const { return impl().strides[wrap_dim(d, dim(), "stride")]; }
  int64_t numel() const { return impl().shape.numel(); }
  int64_t offset() const { return impl().offset; }
  Device device() const { return impl().storage->device(); }
  static constexpr DType dtype() { return dtype_of<T>; }
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int i = dim() - 1; i >= 0; --i) {
      if (shape()[i] == 1) continue;
      if (strides()[i] != expected) return false;
      expected *= shape()[i];
    }
    return true;
  }

  // Pointer to element (0, ..., 0). On a CUDA tensor this is a device pointer.
  T* data() const { return static_cast<T*>(impl().storage->data()) + impl().offset; }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  uint64_t version() const { return impl().storage->version(); }
  void bump_version() const { impl().storage->bump_version(); }

  // The single value of a one-element tensor (copied to the host if needed).
  T item() const {
    PACKD_CHECK(numel() == 1, "item: the tensor has ", numel(), " elements, shape ", shape(), "; item() needs exactly one");
    T v;
    copy_bytes(&v, Device::cpu(), data(), device(), sizeof(T));
    return v;
  }
  // Element at an index (CPU only; bounds-checked). Meant for tests and debugging, not for loops.
  T at(std::initializer_list<int64_t> index) const {
    PACKD_CHECK(device().is_cpu(), "at: the tensor is on ", device(), "; copy it to the CPU first");
    PACKD_CHECK(int(index.size()) == dim(), "at: index of rank ", index.size(), " for a tensor of shape ", shape());
    int64_t off = 0;
    int i = 0;
    for (int64_t ix : index) {
      PACKD_CHECK(ix >= 0 && ix < shape()[i], "at: index ", ix, " out of range for dimension ", i, " of shape ", shape());
      off += ix * strides()[i++];
    }
    return data()[off];
  }
  // All elements in row-major order, as a host vector.
  std::vector<T> to_vector() const;

  // ---- views (ops/view.hpp); all share storage with *this and are tracked by autograd ---------
  Tensor view(const Shape& shape) const;      // requires compatible strides; -1 infers one extent
  Tensor reshape(const Shape& shape) const;   // a view when possible, else a copy
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;                           // transpose of a 2-D tensor
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;  // Python's [start:end:step]
  Tensor select(int64_t dim, int64_t index) const;  // removes dim
  Tensor expand(const Shape& shape) const;    // -1 keeps an extent; size-1 dims broadcast with stride 0
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;                  // *this if already contiguous, else a copy
  Tensor clone() const;                       // always a contiguous copy (differentiable)
  Tensor detach() const;                      // same data, cut from the graph

  // ---- in-place writes: bump the version counter ----------------------------------------------
  Tensor& fill_(T value);
  Tensor& zero_() { return fill_(T(0)); }
  Tensor& copy_(const Tensor& src);           // src is broadcast to *this's shape

  // ---- conversions -----------------------------------------------------------------------------
  template <Scalar U>
  Tensor<U> to() const;                       // dtype conversion (a copy; not differentiable: refuses tensors that require grad)
  Tensor to(Device device) const;             // device copy (or *this if already there)

  // ---- autograd (float and double only; autograd/engine.hpp) ------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);     // leaves only
  bool is_leaf() const;
  Tensor grad() const;                        // undefined until a backward reaches this leaf
  void set_grad(const Tensor& g) const;
  void zero_grad() const;                     // drops .grad (as set_to_none in PyTorch)
  std::shared_ptr<Node<T>> grad_fn() const;
  // Backpropagates from this tensor. grad defaults to 1 for a one-element tensor; a tensor of
  // any other size needs an explicit grad of its shape. The graph's saved tensors are freed
  // afterwards unless retain_graph.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  // ---- internals shared by ops ------------------------------------------------------------------
  TensorImpl& impl() const {
    PACKD_CHECK(impl_ != nullptr, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace packd
