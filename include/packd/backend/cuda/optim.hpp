#pragma once
// CUDA optimiser updates (cuda/optim.cu), called by optim/adam.hpp and optim/sgd.hpp through
// backend::dispatch. One launch updates a list of parameters (a multi-tensor kernel: the
// parameters are cut into fixed chunks that the blocks share out), with the CPU's element
// arithmetic (cpu::adam_step_range, cpu::sgd_step_range) in T. float and double. Defined only in
// packd_cuda.
#include <cstdint>
#include <vector>

namespace packd::cuda {

// One parameter of an Adam step: contiguous device arrays of numel elements, and its own
// constants (its step count differs from the others').
template <class T>
struct AdamParam {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  T* max_exp_avg_sq;  // AMSGrad only, else null
  int64_t numel;
  T bias_correction2_sqrt, neg_step_size;
};
// The constants every parameter shares, already rounded to T.
template <class T>
struct AdamConstants {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, eps;
};
template <class T>
void adam_step(const std::vector<AdamParam<T>>& params, const AdamConstants<T>& c, bool weight_decay, bool amsgrad);

template <class T>
struct SgdParam {
  T* param;
  const T* grad;
  T* momentum_buffer;  // null without momentum
  int64_t numel;
  bool first;  // the momentum buffer is new and takes d as it is
};
template <class T>
struct SgdConstants {
  T weight_decay, momentum, one_minus_dampening, neg_lr;
};
template <class T>
void sgd_step(const std::vector<SgdParam<T>>& params, const SgdConstants<T>& c, bool weight_decay, bool momentum,
              bool nesterov);

}  // namespace packd::cuda
