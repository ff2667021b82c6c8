// CUDA cosine_similarity / normalize entry points (kernels/distance.cuh), instantiated for float
// and double.
#include "packd/backend/cuda/distance.hpp"
#include "packd/cuda/kernels/distance.cuh"

namespace packd::cuda {

template <class T>
void cosine_forward_kernel(const T* x1, Strides3 s1, const T* x2, Strides3 s2, int64_t O, int64_t C, int64_t I, T eps, T* out,
                           T* n1, T* n2) {
  kernels::cosine_forward(x1, s1, x2, s2, O, C, I, eps, out, n1, n2);
}
template <class T>
void cosine_backward_kernel(const T* x1, Strides3 s1, const T* x2, Strides3 s2, int64_t O, int64_t C, int64_t I, T eps,
                            const T* g, const T* cos, const T* n1, const T* n2, T* gx1, T* gx2) {
  kernels::cosine_backward(x1, s1, x2, s2, O, C, I, eps, g, cos, n1, n2, gx1, gx2);
}
template <class T>
void normalize_forward_kernel(const T* x, Strides3 s, int64_t O, int64_t C, int64_t I, T eps, T* y, T* nrm) {
  kernels::normalize_forward(x, s, O, C, I, eps, y, nrm);
}
template <class T>
void normalize_backward_kernel(const T* g, const T* y, const T* nrm, int64_t O, int64_t C, int64_t I, T eps, T* gx) {
  kernels::normalize_backward(g, y, nrm, O, C, I, eps, gx);
}

#define PACKD_INSTANTIATE(T)                                                                                             \
  template void cosine_forward_kernel<T>(const T*, Strides3, const T*, Strides3, int64_t, int64_t, int64_t, T, T*, T*, T*); \
  template void cosine_backward_kernel<T>(const T*, Strides3, const T*, Strides3, int64_t, int64_t, int64_t, T, const T*,  \
                                          const T*, const T*, const T*, T*, T*);                                          \
  template void normalize_forward_kernel<T>(const T*, Strides3, int64_t, int64_t, int64_t, T, T*, T*);                     \
  template void normalize_backward_kernel<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t, T, T*);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)

}  // namespace packd::cuda
