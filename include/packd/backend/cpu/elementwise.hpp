#pragma once
// CPU elementwise kernels: map a functor over 1, 2 or 3 broadcast operands into an output.
// Operand strides are the broadcast strides (0 along broadcast dimensions) over the output's
// shape. The innermost loop has a branch for the common unit-stride / scalar layouts so that the
// compiler vectorises them; everything else takes the general strided loop.
#include <array>
#include <cstdint>

#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/functors.hpp"

namespace packd::cpu {

// out[i] = f(a[i])
template <class To, class Ta, class F>
void unary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, F f) {
  strided_for_each<2>(shape, {so, sa}, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
    To* o = out + off[0];
    const Ta* pa = a + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i]);
    } else if (st[0] == 1 && st[1] == 0) {
      const To v = f(pa[0]);
      for (int64_t i = 0; i < n; ++i) o[i] = v;
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(pa[i * st[1]]);
    }
  });
}

// out[i] = f(a[i], b[i])
template <class To, class Ta, class Tb, class F>
void binary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, const Tb* b,
                   const Shape& sb, F f) {
  strided_for_each<3>(shape, {so, sa, sb}, [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
    To* o = out + off[0];
    const Ta* pa = a + off[1];
    const Tb* pb = b + off[2];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i]);
    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
      const Tb vb = pb[0];
      for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], vb);
    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
      const Ta va = pa[0];
      for (int64_t i = 0; i < n; ++i) o[i] = f(va, pb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(pa[i * st[1]], pb[i * st[2]]);
    }
  });
}

// out[i] = f(a[i], b[i], c[i])
template <class To, class Ta, class Tb, class Tc, class F>
void ternary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, const Tb* b,
                    const Shape& sb, const Tc* c, const Shape& sc, F f) {
  strided_for_each<4>(shape, {so, sa, sb, sc}, [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& st) {
    To* o = out + off[0];
    const Ta* pa = a + off[1];
    const Tb* pb = b + off[2];
    const Tc* pc = c + off[3];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i], pc[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(pa[i * st[1]], pb[i * st[2]], pc[i * st[3]]);
    }
  });
}

// dst[i] = static_cast<To>(src[i]): strided copy with conversion (the kernel of contiguous(),
// copy_() and dtype casts).
template <class To, class Ti>
void copy_kernel(To* dst, const Shape& shape, const Shape& sd, const Ti* src, const Shape& ss) {
  unary_kernel(dst, shape, sd, src, ss, fn::Cast<To>{});
}

}  // namespace packd::cpu
