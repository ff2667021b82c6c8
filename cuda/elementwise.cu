// Instantiates the CUDA elementwise kernels for every functor of packd/backend/functors.hpp, for
// the scalar types each serves (the PACKD_*_FUNCTORS lists), and the strided copy for every
// pair of scalar types.
#include <cstdint>

#include "packd/backend/cuda/elementwise.hpp"
#include "packd/backend/functors.hpp"
#include "packd/cuda/kernels/elementwise.cuh"

namespace packd::cuda {

template <class To, class Ta, class F>
void unary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, F f) {
  kernels::unary(out, shape, so, a, sa, f);
}
template <class To, class Ta, class Tb, class F>
void binary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, const Tb* b, const Shape& sb, F f) {
  kernels::binary(out, shape, so, a, sa, b, sb, f);
}
template <class To, class Ta, class Tb, class Tc, class F>
void ternary_kernel(To* out, const Shape& shape, const Shape& so, const Ta* a, const Shape& sa, const Tb* b, const Shape& sb,
                    const Tc* c, const Shape& sc, F f) {
  kernels::ternary(out, shape, so, a, sa, b, sb, c, sc, f);
}
template <class To, class Ti>
void copy_kernel(To* dst, const Shape& shape, const Shape& sd, const Ti* src, const Shape& ss) {
  kernels::unary(dst, shape, sd, src, ss, fn::Cast<To>{});
}

#define PACKD_UNARY(T, F) template void unary_kernel<T, T, fn::F>(T*, const Shape&, const Shape&, const T*, const Shape&, fn::F);
#define PACKD_BINARY(T, F) \
  template void binary_kernel<T, T, T, fn::F>(T*, const Shape&, const Shape&, const T*, const Shape&, const T*, const Shape&, fn::F);
#define PACKD_TERNARY(T, F)                                                                                                  \
  template void ternary_kernel<T, T, T, T, fn::F>(T*, const Shape&, const Shape&, const T*, const Shape&, const T*, const Shape&, \
                                                  const T*, const Shape&, fn::F);
#define PACKD_ANY(T)                                                                                  \
  template void unary_kernel<T, T, fn::Fill<T>>(T*, const Shape&, const Shape&, const T*, const Shape&, fn::Fill<T>); \
  template void copy_kernel<T, float>(T*, const Shape&, const Shape&, const float*, const Shape&);     \
  template void copy_kernel<T, double>(T*, const Shape&, const Shape&, const double*, const Shape&);   \
  template void copy_kernel<T, int64_t>(T*, const Shape&, const Shape&, const int64_t*, const Shape&);
#define PACKD_FOR_FLOAT(X) X(float) X(double)

#define PACKD_U_ANY(F) PACKD_UNARY(float, F) PACKD_UNARY(double, F) PACKD_UNARY(int64_t, F)
#define PACKD_B_ANY(F) PACKD_BINARY(float, F) PACKD_BINARY(double, F) PACKD_BINARY(int64_t, F)
#define PACKD_T_ANY(F) PACKD_TERNARY(float, F) PACKD_TERNARY(double, F) PACKD_TERNARY(int64_t, F)
#define PACKD_U_FLOAT(F) PACKD_UNARY(float, F) PACKD_UNARY(double, F)
#define PACKD_B_FLOAT(F) PACKD_BINARY(float, F) PACKD_BINARY(double, F)
#define PACKD_T_FLOAT(F) PACKD_TERNARY(float, F) PACKD_TERNARY(double, F)

PACKD_UNARY_FUNCTORS_ANY(PACKD_U_ANY)
PACKD_BINARY_FUNCTORS_ANY(PACKD_B_ANY)
PACKD_TERNARY_FUNCTORS_ANY(PACKD_T_ANY)
PACKD_UNARY_FUNCTORS_FLOAT(PACKD_U_FLOAT)
PACKD_BINARY_FUNCTORS_FLOAT(PACKD_B_FLOAT)
PACKD_TERNARY_FUNCTORS_FLOAT(PACKD_T_FLOAT)
PACKD_ANY(float)
PACKD_ANY(double)
PACKD_ANY(int64_t)

}  // namespace packd::cuda
