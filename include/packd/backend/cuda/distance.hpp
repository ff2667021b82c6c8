#pragma once
// CUDA cosine_similarity and normalize kernels (cuda/distance.cu): reductions over the C axis of
// operands viewed as (O, C, I), with the arguments of the CPU kernels
// (packd/backend/cpu/distance.hpp) on device pointers and PyTorch 1.13's per-norm eps clamping.
#include <cstdint>

#include "packd/backend/distance_strides.hpp"

namespace packd::cuda {

using backend::Strides3;

// out = cos, n1 = ||x1||, n2 = ||x2|| (unclamped), all (O, I) contiguous.
template <class T>
void cosine_forward_kernel(const T* x1, Strides3 s1, const T* x2, Strides3 s2, int64_t O, int64_t C, int64_t I, T eps,
                           T* out, T* n1, T* n2);
// gx1 = g (x2 / (c1 c2) - cos x1 / c1^2), gx2 likewise, c = max(||x||, eps); gx1/gx2 (O, C, I)
// contiguous, or null.
template <class T>
void cosine_backward_kernel(const T* x1, Strides3 s1, const T* x2, Strides3 s2, int64_t O, int64_t C, int64_t I, T eps,
                            const T* g, const T* cos, const T* n1, const T* n2, T* gx1, T* gx2);
// y = x / max(||x||, eps) (y (O, C, I) contiguous), nrm = ||x|| (O, I).
template <class T>
void normalize_forward_kernel(const T* x, Strides3 s, int64_t O, int64_t C, int64_t I, T eps, T* y, T* nrm);
// gx = (g - y [||x|| >= eps] sum_c(g y)) / max(||x||, eps); g, y, gx (O, C, I) contiguous.
template <class T>
void normalize_backward_kernel(const T* g, const T* y, const T* nrm, int64_t O, int64_t C, int64_t I, T eps, T* gx);

}  // namespace packd::cuda
