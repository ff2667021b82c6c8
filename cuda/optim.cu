// CUDA optimiser updates (kernels/optim.cuh), for float and double.
#include "packd/backend/cuda/optim.hpp"
#include "packd/cuda/kernels/optim.cuh"

namespace packd::cuda {

template <class T>
void adam_step(const std::vector<AdamParam<T>>& params, const AdamConstants<T>& c, bool weight_decay, bool amsgrad) {
  kernels::adam_step(params, c, weight_decay, amsgrad);
}
template <class T>
void sgd_step(const std::vector<SgdParam<T>>& params, const SgdConstants<T>& c, bool weight_decay, bool momentum,
              bool nesterov) {
  kernels::sgd_step(params, c, weight_decay, momentum, nesterov);
}

#define PACKD_INSTANTIATE(T)                                                                                   \
  template void adam_step<T>(const std::vector<AdamParam<T>>&, const AdamConstants<T>&, bool, bool);          \
  template void sgd_step<T>(const std::vector<SgdParam<T>>&, const SgdConstants<T>&, bool, bool, bool);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)

}  // namespace packd::cuda
