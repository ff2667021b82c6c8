// CUDA pooling entry points (kernels/pool.cuh), instantiated for float and double.
#include "packd/backend/cuda/pool.hpp"
#include "packd/cuda/kernels/pool.cuh"

namespace packd::cuda {

template <class T>
void max_pool2d_fwd(T* y, int64_t* idx, const T* x, int64_t P, const Pool2dGeom& g) {
  kernels::max_pool2d_fwd(y, idx, x, P, g);
}
template <class T>
void max_pool2d_bwd(T* gx, const T* gy, const int64_t* idx, int64_t P, int64_t HW, int64_t OHW) {
  kernels::max_pool2d_bwd(gx, gy, idx, P, HW, OHW);
}
template <class T>
void avg_pool2d_fwd(T* y, const T* x, int64_t P, const Pool2dGeom& g, bool count_include_pad) {
  kernels::avg_pool2d_fwd(y, x, P, g, count_include_pad);
}
template <class T>
void avg_pool2d_bwd(T* gx, const T* gy, int64_t P, const Pool2dGeom& g, bool count_include_pad) {
  kernels::avg_pool2d_bwd(gx, gy, P, g, count_include_pad);
}
template <class T>
void adaptive_avg_pool2d_fwd(T* y, const T* x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  kernels::adaptive_avg_pool2d_fwd(y, x, P, H, W, OH, OW);
}
template <class T>
void adaptive_avg_pool2d_bwd(T* gx, const T* gy, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  kernels::adaptive_avg_pool2d_bwd(gx, gy, P, H, W, OH, OW);
}

#define PACKD_INSTANTIATE(T)                                                                                  \
  template void max_pool2d_fwd<T>(T*, int64_t*, const T*, int64_t, const Pool2dGeom&);                         \
  template void max_pool2d_bwd<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t);                     \
  template void avg_pool2d_fwd<T>(T*, const T*, int64_t, const Pool2dGeom&, bool);                              \
  template void avg_pool2d_bwd<T>(T*, const T*, int64_t, const Pool2dGeom&, bool);                              \
  template void adaptive_avg_pool2d_fwd<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);          \
  template void adaptive_avg_pool2d_bwd<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)

}  // namespace packd::cuda
