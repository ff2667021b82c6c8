// CUDA reductions: sum / mean, amax / amin, argmax / argmin (kernels/reduce.cuh).
#include <limits>
#include <type_traits>

#include "packd/backend/cuda/reduce.hpp"
#include "packd/cuda/kernels/reduce.cuh"

namespace packd::cuda {

template <class T>
void reduce_kernel(T* out, const T* x, const Shape& shape, const Shape& strides, const std::vector<bool>& reduce, ReduceOp op,
                   double scale) {
  using A = std::conditional_t<std::is_same_v<T, float>, double, T>;
  switch (op) {
    case ReduceOp::sum: return kernels::reduce(out, x, shape, strides, reduce, kernels::SumOp<T, A>{scale});
    case ReduceOp::max: return kernels::reduce(out, x, shape, strides, reduce, kernels::ExtremumOp<T, true>{});
    case ReduceOp::min: return kernels::reduce(out, x, shape, strides, reduce, kernels::ExtremumOp<T, false>{});
  }
}

template <class T>
void arg_reduce_kernel(int64_t* out, const T* x, const Shape& shape, const Shape& strides, const std::vector<bool>& reduce,
                       bool max) {
  if (max) return kernels::reduce(out, x, shape, strides, reduce, kernels::ArgExtremumOp<T, true>{});
  kernels::reduce(out, x, shape, strides, reduce, kernels::ArgExtremumOp<T, false>{});
}

#define PACKD_INSTANTIATE(T)                                                                                        \
  template void reduce_kernel<T>(T*, const T*, const Shape&, const Shape&, const std::vector<bool>&, ReduceOp, double); \
  template void arg_reduce_kernel<T>(int64_t*, const T*, const Shape&, const Shape&, const std::vector<bool>&, bool);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)
PACKD_INSTANTIATE(int64_t)

}  // namespace packd::cuda
