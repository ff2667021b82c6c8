#pragma once
// CUDA shape-op kernels (cuda/shape_ops.cu): the declarations ops/shape_ops.hpp calls through
// backend::dispatch, with the CPU kernels' arguments (packd/backend/cpu/shape_ops.hpp). The offset
// maps are host vectors; each call copies them to the device. Defined only in packd_cuda.
#include <cstdint>

#include "packd/backend/cpu/shape_ops.hpp"
#include "packd/core/shape.hpp"

namespace packd::cuda {

// out (contiguous, oshape) = x at the summed map offsets, `fill` where a map says kFillOffset.
// float, double, int64.
template <class T>
void index_map_gather(T* out, const Shape& oshape, const T* x, const cpu::OffsetMaps& maps, T fill);
// gx (zeroed) += g (contiguous, oshape) along the maps, which must be index * stride of one
// non-overlapping layout (as ops/shape_ops.hpp builds them). float, double.
template <class T>
void index_map_scatter_add(T* gx, const Shape& oshape, const T* g, const cpu::OffsetMaps& maps, bool dim0_one_to_one);

// out (contiguous, ishape) = x[..., index[...], ...] along dim; index contiguous with ishape, x
// any strides. float, double, int64.
template <class T>
void gather_kernel(T* out, const Shape& ishape, const int64_t* index, const T* x, const Shape& xstrides, int dim);
// The adjoint: gx (any strides, zeroed) [..., index[...], ...] += g (contiguous, ishape). float, double.
template <class T>
void gather_scatter_add(const T* g, const Shape& ishape, const int64_t* index, T* gx, const Shape& gxstrides, int dim);

}  // namespace packd::cuda
