// CUDA grid_sample forward (kernels/grid_sample.cuh), for float and double.
#include "packd/backend/cuda/grid_sample.hpp"
#include "packd/cuda/kernels/grid_sample.cuh"

namespace packd::cuda {

template <class T>
void grid_sample_kernel(const T* x, const T* grid, T* y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                        int64_t OW, bool bilinear, cpu::GridPadding padding, bool align_corners) {
  kernels::grid_sample(x, grid, y, N, C, H, W, OH, OW, bilinear, padding, align_corners);
}

#define PACKD_INSTANTIATE(T)                                                                                    \
  template void grid_sample_kernel<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                      bool, cpu::GridPadding, bool);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)

}  // namespace packd::cuda
