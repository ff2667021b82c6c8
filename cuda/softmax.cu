// CUDA softmax / log_softmax / logsumexp entry points (kernels/softmax.cuh), instantiated for
// every SoftmaxKind (backward: softmax and log_softmax) and float and double.
#include "packd/backend/cuda/softmax.hpp"
#include "packd/cuda/kernels/softmax.cuh"

namespace packd::cuda {

template <SoftmaxKind K, class T>
void softmax_forward_kernel(const T* x, T* y, int64_t O, int64_t N, int64_t I) {
  kernels::softmax_forward<K>(x, y, O, N, I);
}
template <SoftmaxKind K, class T>
void softmax_backward_kernel(const T* g, const T* y, T* gx, int64_t O, int64_t N, int64_t I) {
  kernels::softmax_backward<K>(g, y, gx, O, N, I);
}

#define PACKD_INSTANTIATE(T)                                                                                           \
  template void softmax_forward_kernel<SoftmaxKind::softmax, T>(const T*, T*, int64_t, int64_t, int64_t);              \
  template void softmax_forward_kernel<SoftmaxKind::log_softmax, T>(const T*, T*, int64_t, int64_t, int64_t);          \
  template void softmax_forward_kernel<SoftmaxKind::logsumexp, T>(const T*, T*, int64_t, int64_t, int64_t);            \
  template void softmax_backward_kernel<SoftmaxKind::softmax, T>(const T*, const T*, T*, int64_t, int64_t, int64_t);   \
  template void softmax_backward_kernel<SoftmaxKind::log_softmax, T>(const T*, const T*, T*, int64_t, int64_t, int64_t);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)

}  // namespace packd::cuda
