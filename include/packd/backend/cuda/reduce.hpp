#pragma once
// CUDA reductions (cuda/reduce.cu): fold the dimensions marked in `reduce` of a strided tensor
// into a contiguous output over the kept dimensions, as cpu::reduce_kernel does. Float sums
// accumulate in double, as on the CPU (acc_t).
#include <cstdint>
#include <vector>

#include "packd/core/shape.hpp"

namespace packd::cuda {

enum class ReduceOp { sum, max, min };

// out = scale * sum (ReduceOp::sum), or the max / min (NaN propagates)
template <class T>
void reduce_kernel(T* out, const T* x, const Shape& shape, const Shape& strides, const std::vector<bool>& reduce, ReduceOp op,
                   double scale);
// out = index (row-major within the reduced dimensions) of the first max (Max) or min; NaN wins
template <class T>
void arg_reduce_kernel(int64_t* out, const T* x, const Shape& shape, const Shape& strides, const std::vector<bool>& reduce,
                       bool max);

}  // namespace packd::cuda
