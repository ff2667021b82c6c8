// CUDA batch-norm entry points (kernels/norm.cuh), instantiated for float and double.
#include "packd/backend/cuda/norm.hpp"
#include "packd/cuda/kernels/norm.cuh"

namespace packd::cuda {

template <class T>
void batch_norm_train_fwd(T* y, const T* x, int64_t N, int64_t C, int64_t S, const T* weight, int64_t ws, const T* bias,
                          int64_t bs, double eps, T* mean, T* invstd, T* var_unbiased) {
  kernels::batch_norm_train_fwd(y, x, N, C, S, weight, ws, bias, bs, eps, mean, invstd, var_unbiased);
}

template <class T>
void batch_norm_update_running(T* running_mean, int64_t ms, T* running_var, int64_t vs, const T* mean, const T* var_unbiased,
                               int64_t C, double momentum) {
  kernels::batch_norm_update_running(running_mean, ms, running_var, vs, mean, var_unbiased, C, momentum);
}

template <class T>
void batch_norm_eval_params(T* mean, T* invstd, T* scale, T* shift, const T* running_mean, int64_t ms, const T* running_var,
                            int64_t vs, const T* weight, int64_t ws, const T* bias, int64_t bs, int64_t C, double eps) {
  kernels::batch_norm_eval_params(mean, invstd, scale, shift, running_mean, ms, running_var, vs, weight, ws, bias, bs, C, eps);
}

template <class T>
void batch_norm_affine(T* y, const T* x, int64_t N, int64_t C, int64_t S, const T* scale, const T* shift) {
  kernels::batch_norm_affine(y, x, N, C, S, scale, shift);
}

template <class T>
void batch_norm_bwd(T* gx, T* gw, T* gb, const T* g, const T* x, int64_t N, int64_t C, int64_t S, const T* weight,
                    int64_t ws, const T* mean, const T* invstd, bool training) {
  kernels::batch_norm_bwd(gx, gw, gb, g, x, N, C, S, weight, ws, mean, invstd, training);
}

#define PACKD_INSTANTIATE(T)                                                                                            \
  template void batch_norm_train_fwd<T>(T*, const T*, int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t,    \
                                        double, T*, T*, T*);                                                              \
  template void batch_norm_update_running<T>(T*, int64_t, T*, int64_t, const T*, const T*, int64_t, double);             \
  template void batch_norm_eval_params<T>(T*, T*, T*, T*, const T*, int64_t, const T*, int64_t, const T*, int64_t,       \
                                          const T*, int64_t, int64_t, double);                                            \
  template void batch_norm_affine<T>(T*, const T*, int64_t, int64_t, int64_t, const T*, const T*);                        \
  template void batch_norm_bwd<T>(T*, T*, T*, const T*, const T*, int64_t, int64_t, int64_t, const T*, int64_t, const T*, \
                                  const T*, bool);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)

}  // namespace packd::cuda
