// CUDA interpolate kernels (kernels/resize.cuh), for float and double.
#include "packd/backend/cuda/resize.hpp"
#include "packd/cuda/kernels/resize.cuh"

namespace packd::cuda {

template <class T>
void bilinear_forward_kernel(const T* x, T* y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw) {
  kernels::bilinear_forward(x, y, P, H, W, OH, OW, ih, iw);
}
template <class T>
void bilinear_backward_kernel(const T* g, T* gx, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw) {
  kernels::bilinear_backward(g, gx, P, H, W, OH, OW, ih, iw);
}
template <class T>
void nearest_forward_kernel(const T* x, T* y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const std::vector<int64_t>& ih, const std::vector<int64_t>& iw) {
  kernels::nearest_forward(x, y, P, H, W, OH, OW, ih, iw);
}
template <class T>
void nearest_backward_kernel(const T* g, T* gx, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const std::vector<int64_t>& ih, const std::vector<int64_t>& iw) {
  kernels::nearest_backward(g, gx, P, H, W, OH, OW, ih, iw);
}

#define PACKD_INSTANTIATE(T)                                                                                          \
  template void bilinear_forward_kernel<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,                 \
                                           const cpu::LinearIndex<T>&, const cpu::LinearIndex<T>&);                   \
  template void bilinear_backward_kernel<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,                \
                                            const cpu::LinearIndex<T>&, const cpu::LinearIndex<T>&);                  \
  template void nearest_forward_kernel<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,                  \
                                          const std::vector<int64_t>&, const std::vector<int64_t>&);                  \
  template void nearest_backward_kernel<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,                 \
                                           const std::vector<int64_t>&, const std::vector<int64_t>&);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)

}  // namespace packd::cuda
