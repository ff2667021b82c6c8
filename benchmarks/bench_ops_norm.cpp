// Batch-norm and pooling cases of the ops suite (peer: benchmarks/peers/torch_norm.py, same names
// and work). fwdbwd cases run the forward, then backward from a fixed upstream gradient, with the
// input (and BN's affine weight and bias) requiring grad; gradients are dropped after each step
// (zero_grad, as set_to_none in the peer).
#include <benchmark/benchmark.h>

#include "packd/ops/norm.hpp"
#include "packd/ops/pool.hpp"

namespace {
using namespace packd;

void bn_case(benchmark::State& state, bool training, bool backward) {
  const int64_t N = 8, C = 256, H = 64, W = 64;
  Generator gen(0);
  Tensor<float> x = randn<float>({N, C, H, W}, gen);
  Tensor<float> w = ones<float>({C}), b = zeros<float>({C});
  Tensor<float> rm = zeros<float>({C}), rv = ones<float>({C});
  Tensor<float> g = full<float>({N, C, H, W}, 0.01f);
  if (backward) {
    x.requires_grad_();
    w.requires_grad_();
    b.requires_grad_();
  }
  auto step = [&] {
    Tensor<float> y = batch_norm2d(x, w, b, rm, rv, training);
    if (backward) {
      y.backward(g);
      x.zero_grad();
      w.zero_grad();
      b.zero_grad();
    }
    benchmark::DoNotOptimize(y.data());
  };
  step();  // warm-up
  for (auto _ : state) step();
}

void bn_fwdbwd_256c_64x64_b8(benchmark::State& state) { bn_case(state, true, true); }
void bn_fwd_eval_256c_64x64_b8(benchmark::State& state) {
  NoGradGuard ng;
  bn_case(state, false, false);
}
BENCHMARK(bn_fwdbwd_256c_64x64_b8)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(bn_fwd_eval_256c_64x64_b8)->UseRealTime()->Unit(benchmark::kMillisecond);

// WideResNet's stem max-pool (3x3, stride 2, padding 1) on 64 channels at 128x128, batch 8.
void maxpool_3x3s2p1_64c_128x128_b8_fwdbwd(benchmark::State& state) {
  Generator gen(0);
  Tensor<float> x = randn<float>({8, 64, 128, 128}, gen).requires_grad_();
  Tensor<float> g = full<float>({8, 64, 64, 64}, 0.01f);
  auto step = [&] {
    Tensor<float> y = max_pool2d(x, 3, 2, 1);
    y.backward(g);
    x.zero_grad();
    benchmark::DoNotOptimize(y.data());
  };
  step();
  for (auto _ : state) step();
}
BENCHMARK(maxpool_3x3s2p1_64c_128x128_b8_fwdbwd)->UseRealTime()->Unit(benchmark::kMillisecond);
}  // namespace
