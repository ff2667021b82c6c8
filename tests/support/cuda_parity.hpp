#pragma once
// CPU-vs-CUDA parity for the [cuda] tests: the same function on the same inputs on both devices,
// forward output and every input gradient compared. Without a CUDA device the test case says so
// (PACKD_SKIP_WITHOUT_CUDA) and passes: the parity runs on the GPU machine (scripts/gpu-check.sh).
#include <functional>
#include <vector>

#include "testing.hpp"

#define PACKD_SKIP_WITHOUT_CUDA()                                                                         \
  do {                                                                                                    \
    if (!::packd::cuda::cuda_available()) {                                                               \
      WARN("skipped: no CUDA device (cuda_available() is false" << (PACKD_WITH_CUDA ? "" : "; built without CUDA") << ")"); \
      return;                                                                                             \
    }                                                                                                     \
  } while (0)

namespace packd::testing {

// Runs fn on `inputs` (CPU tensors; those requiring grad get gradients) and on copies moved to
// cuda:0; compares the outputs with |cuda - cpu| <= atol + rtol |cpu| and, after backward of
// sum(out * w) for a fixed random w, each input gradient the same way. fn must create any other
// tensor on its inputs' device.
template <FloatScalar T, class F>
void check_cuda_parity(F fn, const std::vector<Tensor<T>>& inputs, double rtol = 1e-4, double atol = 1e-5) {
  std::vector<Tensor<T>> cpu_in, cuda_in;
  for (const Tensor<T>& x : inputs) {
    cpu_in.push_back(x.detach().clone());
    cuda_in.push_back(x.detach().to(Device::cuda(0)));
    if (x.requires_grad()) {
      cpu_in.back().requires_grad_();
      cuda_in.back().requires_grad_();
    }
  }
  Tensor<T> cpu_out = fn(cpu_in);
  Tensor<T> cuda_out = fn(cuda_in);
  REQUIRE(cuda_out.device() == Device::cuda(0));
  INFO("forward");
  CHECK_CLOSE(cuda_out.to(Device::cpu()), cpu_out, rtol, atol);
  if (!cpu_out.requires_grad()) return;
  Generator gen(1234);
  Tensor<T> w = randn<T>(cpu_out.shape(), gen);
  sum(mul(cpu_out, w)).backward();
  sum(mul(cuda_out, w.to(Device::cuda(0)))).backward();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    INFO("gradient of input " << i);
    REQUIRE(cuda_in[i].grad().defined());
    CHECK_CLOSE(cuda_in[i].grad().to(Device::cpu()), cpu_in[i].grad(), rtol, atol);
  }
}

// Random normal CPU input of the given shape, optionally requiring grad.
template <FloatScalar T = float>
Tensor<T> random_input(const Shape& shape, uint64_t seed, bool requires_grad = true) {
  Generator gen(seed);
  Tensor<T> x = randn<T>(shape, gen);
  if (requires_grad) x.requires_grad_();
  return x;
}

}  // namespace packd::testing
