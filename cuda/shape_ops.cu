// CUDA shape-op kernels (kernels/shape_ops.cuh): gathers for float, double and int64, their
// adjoints (gradients) for float and double.
#include <cstdint>

#include "packd/backend/cuda/shape_ops.hpp"
#include "packd/cuda/kernels/shape_ops.cuh"

namespace packd::cuda {

template <class T>
void index_map_gather(T* out, const Shape& oshape, const T* x, const cpu::OffsetMaps& maps, T fill) {
  kernels::index_map_gather(out, oshape, x, maps, fill);
}
template <class T>
void index_map_scatter_add(T* gx, const Shape& oshape, const T* g, const cpu::OffsetMaps& maps, bool dim0_one_to_one) {
  kernels::index_map_scatter_add(gx, oshape, g, maps, dim0_one_to_one);
}
template <class T>
void gather_kernel(T* out, const Shape& ishape, const int64_t* index, const T* x, const Shape& xstrides, int dim) {
  kernels::gather(out, ishape, index, x, xstrides, dim);
}
template <class T>
void gather_scatter_add(const T* g, const Shape& ishape, const int64_t* index, T* gx, const Shape& gxstrides, int dim) {
  kernels::gather_scatter_add(g, ishape, index, gx, gxstrides, dim);
}

#define PACKD_GATHERS(T)                                                                                 \
  template void index_map_gather<T>(T*, const Shape&, const T*, const cpu::OffsetMaps&, T);              \
  template void gather_kernel<T>(T*, const Shape&, const int64_t*, const T*, const Shape&, int);
#define PACKD_SCATTERS(T)                                                                                \
  template void index_map_scatter_add<T>(T*, const Shape&, const T*, const cpu::OffsetMaps&, bool);      \
  template void gather_scatter_add<T>(const T*, const Shape&, const int64_t*, T*, const Shape&, int);

PACKD_GATHERS(float)
PACKD_GATHERS(double)
PACKD_GATHERS(int64_t)
PACKD_SCATTERS(float)
PACKD_SCATTERS(double)

}  // namespace packd::cuda
