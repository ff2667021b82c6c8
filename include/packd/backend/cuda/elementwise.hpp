#pragma once
// CUDA elementwise kernels: the declarations the ops call through backend::dispatch. Same
// arguments as the CPU kernels (packd/backend/cpu/elementwise.hpp); the functor is one of
// packd/backend/functors.hpp, for which cuda/elementwise.cu instantiates the kernels. Defined only
// in the packd_cuda library: never called in a build without it (dispatch discards the call).
#include "packd/core/shape.hpp"

namespace packd::cuda {

// out[i] = f(a[i])
template <class To, class Ta, class F>
void unary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, F f);
// out[i] = f(a[i], b[i])
template <class To, class Ta, class Tb, class F>
void binary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, const Tb* b, const Shape& sb, F f);
// out[i] = f(a[i], b[i], c[i])
template <class To, class Ta, class Tb, class Tc, class F>
void ternary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, const Tb* b, const Shape& sb,
                    const Tc* c, const Shape& sc, F f);
// dst[i] = To(src[i]): strided copy with conversion
template <class To, class Ti>
void copy_kernel(To* dst, const Shape& shape, const Shape& sd, const Ti* src, const Shape& ss);

}  // namespace packd::cuda
