#pragma once
// Collectives that autograd differentiates through, for losses that couple the queries of
// different ranks (the CDS negatives, D9) and for synchronised batch norm.
//
// Gradient convention (as torch.distributed.nn): each rank backpropagates its own loss; the
// trainer then averages parameter gradients over ranks. For a tensor y that every rank's loss
// depends on through a collective, the gradient of the global loss is the SUM over ranks of
// their gradients, so the backward of a collective is the matching collective on the gradients:
//   all_gather      -> reduce-scatter (sum of every rank's gradient for this rank's block)
//   all_reduce_sum  -> all-reduce sum
// Every rank runs the same graph, so every rank reaches these backward collectives in the same
// order (the engine's order is deterministic).
#include "packd/autograd/grad_mode.hpp"
#include "packd/autograd/node.hpp"
#include "packd/dist/communicator.hpp"

namespace packd::dist {

// (n, ...) on every rank -> (size() n, ...), rank r's rows at [r n, (r + 1) n). Equal n on every rank.
template <FloatScalar T>
Tensor<T> all_gather(const Tensor<T>& x, Communicator& comm) {
  PACKD_CHECK(x.dim() >= 1, "dist::all_gather: expected at least one dimension, got shape ", x.shape());
  Tensor<T> xc;
  {
    NoGradGuard no_grad;
    xc = x.contiguous();
  }
  Shape shape = x.shape();
  shape[0] *= comm.size();
  Tensor<T> out = Tensor<T>::empty(shape, x.device());  // (R n, ...)
  comm.all_gather(xc.data(), out.data(), std::size_t(xc.numel()) * sizeof(T), x.device());
  if (any_requires_grad(x)) {
    record<T>("dist::all_gather", {&x}, out, [&comm, in_shape = x.shape()](const Tensor<T>& g, const Node<T>&) {
      const Tensor<T> gc = g.contiguous();                             // (R n, ...)
      Tensor<T> mine = Tensor<T>::empty(in_shape, g.device());         // (n, ...)
      comm.reduce_scatter_sum(gc.data(), mine.data(), std::size_t(mine.numel()), dtype_of<T>, g.device());
      return std::vector<Tensor<T>>{mine};
    });
  }
  return out;
}

// The element-wise sum of x over ranks (any shape, the same on every rank).
template <FloatScalar T>
Tensor<T> all_reduce_sum(const Tensor<T>& x, Communicator& comm) {
  Tensor<T> out;
  {
    NoGradGuard no_grad;
    out = x.contiguous().clone();
  }
  comm.all_reduce(out.data(), std::size_t(out.numel()), dtype_of<T>, ReduceOp::sum, x.device());
  if (any_requires_grad(x)) {
    record<T>("dist::all_reduce_sum", {&x}, out, [&comm](const Tensor<T>& g, const Node<T>&) {
      Tensor<T> s = g.contiguous().clone();
      comm.all_reduce(s.data(), std::size_t(s.numel()), dtype_of<T>, ReduceOp::sum, g.device());
      return std::vector<Tensor<T>>{s};
    });
  }
  return out;
}

}  // namespace packd::dist
