#pragma once
// The autograd graph: nodes, edges, saved tensors, and how an op records itself.
//
// Every differentiable op that runs with grad mode on and an input that requires grad creates
// one Node for its (single) output. The node's next_edges point, per op input, at the node that
// produced that input (its grad_fn), at the input's AccumulateGrad node if it is a leaf that
// requires grad, or at nothing. backward(grad_out) returns one gradient per input (undefined
// where not needed). Ops with several differentiable outputs are built from several nodes.
//
// Note [Saved tensors]: a node keeps what its backward needs as SavedTensor: a data-only alias
// (shares storage, no autograd history, so outputs saved by their own node make no cycle) plus
// the storage version at save time (Note [Version counter]). Using a saved tensor whose storage
// was written in place since then throws. Saved tensors are released after backward unless
// retain_graph; packd does not build graphs of the backward itself (no double backward).
//
// Note [Non-recursive graph destruction]: destroying the last handle to a long chain of nodes
// would recurse once per node through shared_ptr destructors and overflow the stack. ~Node moves
// its edges onto a thread-local work list that the outermost destructor drains in a loop.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "packd/autograd/grad_mode.hpp"
#include "packd/core/tensor.hpp"

namespace packd {

template <Scalar T>
struct Edge {
  std::shared_ptr<Node<T>> fn;  // null: this input needs no gradient
};

namespace detail {
// Node<float> and Node<double> share one work list: it holds type-erased shared_ptrs.
struct NodeReaper {
  std::vector<std::shared_ptr<void>> pending;
  bool draining = false;
};
inline thread_local NodeReaper node_reaper;

template <class EdgeVec>
void release_edges(EdgeVec& edges) {
  NodeReaper& r = node_reaper;
  for (auto& e : edges)
    if (e.fn) r.pending.push_back(std::move(e.fn));
  edges.clear();
  if (r.draining) return;  // an outer ~Node is draining: it will get to these
  r.draining = true;
  while (!r.pending.empty()) {
    std::shared_ptr<void> n = std::move(r.pending.back());
    r.pending.pop_back();
    n.reset();  // may run ~Node, which only appends to `pending`
  }
  r.draining = false;
}

inline uint64_t next_sequence_nr() {
  static thread_local uint64_t n = 0;
  return n++;
}
}  // namespace detail

template <Scalar T>
class Node {
 public:
  explicit Node(const char* name) : name_(name), sequence_nr_(detail::next_sequence_nr()) {}
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node() { detail::release_edges(next_edges); }

  const char* name() const { return name_; }
  uint64_t sequence_nr() const { return sequence_nr_; }
  bool needs_input_grad(std::size_t i) const { return i < next_edges.size() && next_edges[i].fn != nullptr; }

  // grad_out has the output's shape. Returns one gradient per next_edge, each of that input's
  // shape, or undefined where needs_input_grad(i) is false (or the gradient is zero).
  virtual std::vector<Tensor<T>> backward(const Tensor<T>& grad_out) = 0;
  // Frees saved tensors; a later backward() through this node throws.
  virtual void release_saved() {}

  std::vector<Edge<T>> next_edges;
  std::vector<Shape> input_shapes;  // per edge, to check what backward returns

 private:
  const char* name_;
  uint64_t sequence_nr_;
};

// The sink of a leaf that requires grad: adds incoming gradients into leaf.grad().
template <FloatScalar T>
class AccumulateGrad final : public Node<T> {
 public:
  explicit AccumulateGrad(Tensor<T> leaf) : Node<T>("AccumulateGrad"), leaf_(std::move(leaf)) {}
  std::vector<Tensor<T>> backward(const Tensor<T>& grad) override;  // autograd/engine.hpp
  const Tensor<T>& leaf() const { return leaf_; }

 private:
  Tensor<T> leaf_;
};

template <FloatScalar T>
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor<T>& t, const char* op) : op_(op) {
    if (!t.defined()) return;
    auto alias = std::make_shared<TensorImpl>();
    alias->storage = t.storage();
    alias->shape = t.shape();
    alias->strides = t.strides();
    alias->offset = t.offset();
    alias->dtype = t.dtype();
    data_ = Tensor<T>(std::move(alias));
    version_ = t.version();
  }
  // The saved data; throws if it was modified in place after being saved.
  const Tensor<T>& unpack() const {
    PACKD_CHECK(!data_.defined() || data_.version() == version_, op_,
                ": one of the tensors needed for gradient computation has been modified by an in-place "
                "operation: a saved tensor of shape ", data_.shape(), " is at version ", data_.version(),
                ", expected version ", version_, ". Write to a clone instead, or make the change before the op.");
    return data_;
  }
  const Shape& shape() const { return data_.shape(); }

 private:
  Tensor<T> data_;
  uint64_t version_ = 0;
  const char* op_ = "";
};

// A node whose backward is a callable `Tensor grads = fn(grad_out, node)` holding SavedTensors.
// Ops define that callable next to their forward (see ops/*.hpp).
template <FloatScalar T, class Fn>
class FunctionNode final : public Node<T> {
 public:
  FunctionNode(const char* name, Fn fn) : Node<T>(name), fn_(std::move(fn)) {}
  std::vector<Tensor<T>> backward(const Tensor<T>& grad_out) override {
    PACKD_CHECK(fn_.has_value(), this->name(),
                ": trying to backward through the graph a second time (or after its saved tensors were freed); "
                "pass retain_graph=true to the first backward if you need to backward twice");
    return (*fn_)(grad_out, static_cast<const Node<T>&>(*this));
  }
  void release_saved() override { fn_.reset(); }

 private:
  std::optional<Fn> fn_;
};

// ---- recording -----------------------------------------------------------------------------------

template <FloatScalar T>
AutogradMeta<T>* autograd_meta(const Tensor<T>& t) {
  return static_cast<AutogradMeta<T>*>(t.impl().autograd.get());
}

template <FloatScalar T>
AutogradMeta<T>& ensure_autograd_meta(const Tensor<T>& t) {
  auto& slot = t.impl().autograd;
  if (!slot) slot = std::make_unique<AutogradMeta<T>>();
  return static_cast<AutogradMeta<T>&>(*slot);
}

// Whether an op on these inputs must record a node.
template <Scalar T>
bool any_requires_grad(std::initializer_list<const Tensor<T>*> inputs) {
  if constexpr (FloatScalar<T>) {
    if (!is_grad_enabled()) return false;
    for (const Tensor<T>* t : inputs)
      if (t->defined() && t->requires_grad()) return true;
  }
  return false;
}
template <Scalar T, class... More>
bool any_requires_grad(const Tensor<T>& a, const More&... more) {
  return any_requires_grad<T>({&a, &more...});
}

// The edge that gradients for `t` flow along.
template <FloatScalar T>
Edge<T> gradient_edge(const Tensor<T>& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  AutogradMeta<T>& meta = *autograd_meta(t);
  if (meta.grad_fn) return {meta.grad_fn};
  std::shared_ptr<Node<T>> acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad<T>>(t);
    meta.grad_accumulator = acc;
  }
  return {acc};
}

// Makes `out` the output of a new node with backward `fn` over `inputs`. Call only when
// any_requires_grad(inputs...) is true.
template <FloatScalar T, class Fn>
void record(const char* name, std::initializer_list<const Tensor<T>*> inputs, const Tensor<T>& out, Fn fn) {
  auto node = std::make_shared<FunctionNode<T, Fn>>(name, std::move(fn));
  node->next_edges.reserve(inputs.size());
  node->input_shapes.reserve(inputs.size());
  for (const Tensor<T>* in : inputs) {
    node->next_edges.push_back(gradient_edge(*in));
    node->input_shapes.push_back(in->defined() ? in->shape() : Shape{});
  }
  AutogradMeta<T>& meta = ensure_autograd_meta(out);
  meta.requires_grad = true;
  meta.grad_fn = std::move(node);
}

template <FloatScalar T>
SavedTensor<T> save(const Tensor<T>& t, const char* op) {
  return SavedTensor<T>(t, op);
}

}  // namespace packd
