#pragma once
// CUDA pooling kernels (cuda/pool.cu) over contiguous (P, H, W) planes (P = N*C): the declarations
// ops/pool.hpp calls through backend::dispatch, with the arguments of the CPU kernels
// (packd/backend/cpu/pool.hpp) on device pointers and the same window geometry
// (packd/backend/pool_geometry.hpp).
#include <cstdint>

#include "packd/backend/pool_geometry.hpp"

namespace packd::cuda {

using backend::Pool2dGeom;

// y, idx (P, OH, OW): window maxima (NaN wins) and their flat offsets h*W + w in the input plane.
template <class T>
void max_pool2d_fwd(T* y, int64_t* idx, const T* x, int64_t P, const Pool2dGeom& g);
// gx (P, HW) = 0, then gx[idx] += gy per plane.
template <class T>
void max_pool2d_bwd(T* gx, const T* gy, const int64_t* idx, int64_t P, int64_t HW, int64_t OHW);

template <class T>
void avg_pool2d_fwd(T* y, const T* x, int64_t P, const Pool2dGeom& g, bool count_include_pad);
template <class T>
void avg_pool2d_bwd(T* gx, const T* gy, int64_t P, const Pool2dGeom& g, bool count_include_pad);

template <class T>
void adaptive_avg_pool2d_fwd(T* y, const T* x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW);
template <class T>
void adaptive_avg_pool2d_bwd(T* gx, const T* gy, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW);

}  // namespace packd::cuda
