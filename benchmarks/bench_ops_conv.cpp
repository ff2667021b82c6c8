// Convolution cases of the ops suite (peer: benchmarks/peers/torch_conv.py, same names and work).
// fwdbwd cases run the forward, then backward from a fixed upstream gradient, with the input and
// the weight requiring grad (no bias, as in WideResNet50 and RD's decoder).
#include <benchmark/benchmark.h>

#include "packd/ops/conv.hpp"

namespace {
using namespace packd;

struct ConvCase {
  int64_t n, cin, cout, h, w, k, stride, pad;
  bool transposed;
};

void run_conv(benchmark::State& state, const ConvCase& c, bool backward) {
  Generator gen(0);
  Tensor<float> x = randn<float>({c.n, c.cin, c.h, c.w}, gen);
  Tensor<float> w = c.transposed ? randn<float>({c.cin, c.cout, c.k, c.k}, gen, 0.0f, 0.05f)
                                 : randn<float>({c.cout, c.cin, c.k, c.k}, gen, 0.0f, 0.05f);
  Conv2dOptions o;
  o.stride = {c.stride, c.stride};
  o.padding = {c.pad, c.pad};
  if (backward) {
    x.requires_grad_();
    w.requires_grad_();
  }
  auto step = [&] {
    Tensor<float> y = c.transposed ? conv_transpose2d(x, w, Tensor<float>(), o) : conv2d(x, w, Tensor<float>(), o);
    if (backward) {
      static thread_local Tensor<float> g;
      if (!g.defined() || !(g.shape() == y.shape())) g = full<float>(y.shape(), 0.01f);
      y.backward(g);
      x.zero_grad();
      w.zero_grad();
    }
    benchmark::DoNotOptimize(y.data());
  };
  step();  // warm-up
  for (auto _ : state) step();
}

#define PACKD_CONV_CASE(name, backward, ...)                                            \
  void name(benchmark::State& state) { run_conv(state, ConvCase{__VA_ARGS__}, backward); } \
  BENCHMARK(name)->UseRealTime()->Unit(benchmark::kMillisecond)

// WideResNet50 layer1 3x3 conv (width 128 there; 256 as in layer2's first conv input), 64x64, batch 8
PACKD_CONV_CASE(conv3x3_256c_64x64_b8_fwd, false, 8, 256, 256, 64, 64, 3, 1, 1, false);
PACKD_CONV_CASE(conv3x3_256c_64x64_b8_fwdbwd, true, 8, 256, 256, 64, 64, 3, 1, 1, false);
// layer3 1x1 reduction 1024 -> 256 at 16x16
PACKD_CONV_CASE(conv1x1_1024to256_16x16_b8_fwdbwd, true, 8, 1024, 256, 16, 16, 1, 1, 0, false);
// RD decoder upsampling: ConvTranspose2d(512 -> 256, kernel 2, stride 2) at 32x32
PACKD_CONV_CASE(convT_k2s2_512to256_32x32_b8_fwdbwd, true, 8, 512, 256, 32, 32, 2, 2, 0, true);
}  // namespace
