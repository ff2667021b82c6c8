// Cosine-similarity cases of the ops suite (peer: benchmarks/peers/torch_distance.py, same names and
// work): the RD4AD anomaly map / KD-loss form, cosine over the channels of two (8, 1024, 16, 16)
// feature maps (WideResNet50 layer3). fwdbwd: both inputs require grad, backward from a fixed
// upstream gradient.
#include <benchmark/benchmark.h>

#include "packd/ops/distance.hpp"
#include "packd/ops/factory.hpp"

namespace {
using namespace packd;

void run_cosine(benchmark::State& state, bool backward) {
  Generator gen(0);
  Tensor<float> a = randn<float>({8, 1024, 16, 16}, gen), b = randn<float>({8, 1024, 16, 16}, gen);
  if (backward) {
    a.requires_grad_();
    b.requires_grad_();
  }
  Tensor<float> g = full<float>({8, 16, 16}, 0.01f);
  auto step = [&] {
    Tensor<float> y = cosine_similarity(a, b, 1);
    if (backward) {
      y.backward(g);
      a.zero_grad();
      b.zero_grad();
    }
    benchmark::DoNotOptimize(y.data());
  };
  step();  // warm-up
  for (auto _ : state) step();
}

void cosine_c1024_16x16_b8_fwd(benchmark::State& state) { run_cosine(state, false); }
void cosine_c1024_16x16_b8_fwdbwd(benchmark::State& state) { run_cosine(state, true); }
BENCHMARK(cosine_c1024_16x16_b8_fwd)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(cosine_c1024_16x16_b8_fwdbwd)->UseRealTime()->Unit(benchmark::kMillisecond);
}  // namespace
