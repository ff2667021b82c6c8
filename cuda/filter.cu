// CUDA Gaussian blur (kernels/filter.cuh), for float and double.
#include "packd/backend/cuda/filter.hpp"
#include "packd/cuda/kernels/filter.cuh"

namespace packd::cuda {

template <class T>
void gaussian_blur_kernel(const T* x, T* out, T* tmp, int64_t planes, int64_t H, int64_t W, const std::vector<T>& taps,
                          bool edge_repeated, bool adjoint) {
  kernels::gaussian_blur(x, out, tmp, planes, H, W, taps, edge_repeated, adjoint);
}

template void gaussian_blur_kernel<float>(const float*, float*, float*, int64_t, int64_t, int64_t, const std::vector<float>&,
                                          bool, bool);
template void gaussian_blur_kernel<double>(const double*, double*, double*, int64_t, int64_t, int64_t,
                                           const std::vector<double>&, bool, bool);

}  // namespace packd::cuda
