#pragma once
// The backward engine and the autograd methods of Tensor.
//
// backward() runs in two iterative passes (no recursion, so graph depth is unbounded):
//   1. walk the graph from the root's node with an explicit stack and count, for each node, how
//      many edges lead into it (its dependencies);
//   2. run nodes whose dependencies are all satisfied, most recently created first (as PyTorch
//      does, which frees activations early), summing the gradients that arrive on several edges
//      into one buffer before the node runs. Leaves receive theirs through AccumulateGrad,
//      which adds into .grad().
// Backward functions run under NoGradGuard. Unless retain_graph, every node's saved tensors are
// freed as soon as it has run (Note [Saved tensors]).
#include <queue>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "packd/autograd/grad_mode.hpp"
#include "packd/autograd/node.hpp"
#include "packd/ops/fwd.hpp"

namespace packd {

template <FloatScalar T>
std::vector<Tensor<T>> AccumulateGrad<T>::backward(const Tensor<T>& grad) {
  AutogradMeta<T>& meta = ensure_autograd_meta(leaf_);
  if (!meta.grad) {
    // Keep the incoming buffer when nothing else can see it (as PyTorch does); otherwise a fresh
    // contiguous copy, since it may be a broadcast view or alias other data.
    const bool sole_owner = grad.is_contiguous() && grad.impl_ptr().use_count() == 1 && grad.storage().use_count() == 1 &&
                            grad.offset() == 0 && !grad.impl().autograd;
    meta.grad = sole_owner ? grad.impl_ptr() : grad.clone().impl_ptr();
  } else {
    Tensor<T> acc(meta.grad);
    add_(acc, grad, T(1));
  }
  return {};
}

template <FloatScalar T>
void run_backward(const Tensor<T>& root, const Tensor<T>& grad_root, bool retain_graph) {
  Edge<T> root_edge = gradient_edge(root);
  PACKD_CHECK(root_edge.fn != nullptr, "backward: the tensor of shape ", root.shape(),
              " does not require grad and has no grad_fn (did an input have requires_grad_() set? "
              "was it computed under NoGradGuard?)");

  // Pass 1: dependency counts.
  std::unordered_map<Node<T>*, int> deps;
  std::vector<Node<T>*> stack{root_edge.fn.get()};
  std::unordered_set<Node<T>*> seen{root_edge.fn.get()};
  while (!stack.empty()) {
    Node<T>* n = stack.back();
    stack.pop_back();
    for (const Edge<T>& e : n->next_edges) {
      if (!e.fn) continue;
      ++deps[e.fn.get()];
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }

  // Pass 2: run ready nodes, newest first.
  auto newer = [](Node<T>* a, Node<T>* b) { return a->sequence_nr() < b->sequence_nr(); };
  std::priority_queue<Node<T>*, std::vector<Node<T>*>, decltype(newer)> ready(newer);
  std::unordered_map<Node<T>*, Tensor<T>> buffers;
  buffers[root_edge.fn.get()] = grad_root;
  ready.push(root_edge.fn.get());

  NoGradGuard no_grad;
  while (!ready.empty()) {
    Node<T>* n = ready.top();
    ready.pop();
    Tensor<T> grad;
    if (auto it = buffers.find(n); it != buffers.end()) {
      grad = std::move(it->second);
      buffers.erase(it);
    }
    std::vector<Tensor<T>> grads;
    if (grad.defined()) {  // an undefined buffer means every incoming gradient was zero
      grads = n->backward(grad);
      PACKD_ASSERT(grads.empty() || grads.size() == n->next_edges.size(), n->name(), " returned ", grads.size(),
                   " gradients for ", n->next_edges.size(), " inputs");
    }
    if (!retain_graph) n->release_saved();
    for (std::size_t i = 0; i < n->next_edges.size(); ++i) {
      Node<T>* next = n->next_edges[i].fn.get();
      if (!next) continue;
      if (i < grads.size() && grads[i].defined()) {
        PACKD_ASSERT(grads[i].shape() == n->input_shapes[i], n->name(), " returned a gradient of shape ",
                     grads[i].shape(), " for input ", i, " of shape ", n->input_shapes[i]);
        Tensor<T>& buf = buffers[next];
        buf = buf.defined() ? add(buf, grads[i]) : grads[i];
      }
      if (--deps[next] == 0) ready.push(next);
    }
  }
}

// ---- Tensor's autograd methods --------------------------------------------------------------------

template <Scalar T>
bool Tensor<T>::requires_grad() const {
  if constexpr (FloatScalar<T>) {
    const AutogradMeta<T>* m = autograd_meta(*this);
    return m && m->requires_grad;
  } else {
    return false;
  }
}

template <Scalar T>
Tensor<T>& Tensor<T>::requires_grad_(bool on) {
  if constexpr (FloatScalar<T>) {
    PACKD_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad; this tensor of shape ", shape(),
                " was produced by ", grad_fn()->name(), " (use detach() to get a leaf)");
    ensure_autograd_meta(*this).requires_grad = on;
  } else {
    PACKD_CHECK(!on, "requires_grad_: only float and double tensors can require gradients, not ", dtype_name(dtype()));
  }
  return *this;
}

template <Scalar T>
std::shared_ptr<Node<T>> Tensor<T>::grad_fn() const {
  if constexpr (FloatScalar<T>) {
    const AutogradMeta<T>* m = autograd_meta(*this);
    return m ? m->grad_fn : nullptr;
  } else {
    return nullptr;
  }
}

template <Scalar T>
bool Tensor<T>::is_leaf() const {
  return grad_fn() == nullptr;
}

template <Scalar T>
Tensor<T> Tensor<T>::grad() const {
  if constexpr (FloatScalar<T>) {
    const AutogradMeta<T>* m = autograd_meta(*this);
    return m && m->grad ? Tensor<T>(m->grad) : Tensor<T>();
  } else {
    return Tensor<T>();
  }
}

template <Scalar T>
void Tensor<T>::set_grad(const Tensor<T>& g) const {
  if constexpr (FloatScalar<T>) {
    PACKD_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient of shape ", g.shape(),
                " for a tensor of shape ", shape());
    ensure_autograd_meta(*this).grad = g.defined() ? g.impl_ptr() : nullptr;
  } else {
    PACKD_CHECK(false, "set_grad: ", dtype_name(dtype()), " tensors have no gradients");
  }
}

template <Scalar T>
void Tensor<T>::zero_grad() const {
  if constexpr (FloatScalar<T>) {
    if (AutogradMeta<T>* m = autograd_meta(*this)) m->grad.reset();
  }
}

template <Scalar T>
void Tensor<T>::backward(const Tensor<T>& grad, bool retain_graph) const {
  if constexpr (FloatScalar<T>) {
    Tensor<T> g = grad;
    if (!g.defined()) {
      PACKD_CHECK(numel() == 1, "backward: grad can be implicitly created only for one-element outputs; this output has shape ",
                  shape(), ", so pass a gradient of that shape");
      g = ones<T>(shape(), device());
    }
    PACKD_CHECK(g.shape() == shape(), "backward: gradient of shape ", g.shape(), " for an output of shape ", shape());
    PACKD_CHECK(g.device() == device(), "backward: gradient on ", g.device(), " for an output on ", device());
    run_backward(*this, g, retain_graph);
  } else {
    (void)grad;
    (void)retain_graph;
    PACKD_CHECK(false, "backward: ", dtype_name(dtype()), " tensors are not differentiable");
  }
}

}  // namespace packd
