#pragma once
// Elementwise kernels over 1-3 broadcast operands: one thread per output element in a grid-stride
// loop. Operand offsets come from OffsetCalc (dimensions merged on the host), so a contiguous
// operand costs one multiply, and a fully contiguous call takes the flat path without divisions.
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

template <int N>
bool all_unit_stride(const OffsetCalc<N>& c) {
  if (c.ndim > 1) return false;
  for (int k = 0; k < N; ++k)
    if (c.ndim == 1 && c.strides[0][k] != 1) return false;
  return true;
}

// out = f(a)
template <class To, class Ta, class F>
void unary(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, F f) {
  const int64_t n = shape.numel();
  const OffsetCalc<2> oc = make_offset_calc<2>(shape, {&so, &sa});
  if (all_unit_stride(oc)) {
    for_each_index(n, [=] __device__(int64_t i) { out[i] = f(a[i]); });
  } else {
    for_each_index(n, [=] __device__(int64_t i) {
      const auto off = oc.offsets(i);
      out[off[0]] = f(a[off[1]]);
    });
  }
}

// out = f(a, b)
template <class To, class Ta, class Tb, class F>
void binary(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, const Tb* b, const Shape& sb, F f) {
  const int64_t n = shape.numel();
  const OffsetCalc<3> oc = make_offset_calc<3>(shape, {&so, &sa, &sb});
  if (all_unit_stride(oc)) {
    for_each_index(n, [=] __device__(int64_t i) { out[i] = f(a[i], b[i]); });
  } else {
    for_each_index(n, [=] __device__(int64_t i) {
      const auto off = oc.offsets(i);
      out[off[0]] = f(a[off[1]], b[off[2]]);
    });
  }
}

// out = f(a, b, c)
template <class To, class Ta, class Tb, class Tc, class F>
void ternary(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, const Tb* b, const Shape& sb,
             const Tc* c, const Shape& sc, F f) {
  const int64_t n = shape.numel();
  const OffsetCalc<4> oc = make_offset_calc<4>(shape, {&so, &sa, &sb, &sc});
  for_each_index(n, [=] __device__(int64_t i) {
    const auto off = oc.offsets(i);
    out[off[0]] = f(a[off[1]], b[off[2]], c[off[3]]);
  });
}

}  // namespace packd::cuda::kernels
