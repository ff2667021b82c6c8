#pragma once
// CUDA softmax / log_softmax / logsumexp along one dimension (cuda/softmax.cu), on contiguous
// data viewed as (O, N, I) as the CPU kernels (packd/backend/cpu/softmax.hpp), with their
// arguments on device pointers.
#include <cstdint>

#include "packd/backend/softmax_kind.hpp"

namespace packd::cuda {

using backend::SoftmaxKind;

// softmax / log_softmax: y (O, N, I); logsumexp: y (O, I).
template <SoftmaxKind K, class T>
void softmax_forward_kernel(const T* x, T* y, int64_t O, int64_t N, int64_t I);
// softmax: gx = y (g - sum_N(g y)); log_softmax: gx = g - exp(y) sum_N(g). All (O, N, I) contiguous.
template <SoftmaxKind K, class T>
void softmax_backward_kernel(const T* g, const T* y, T* gx, int64_t O, int64_t N, int64_t I);

}  // namespace packd::cuda
