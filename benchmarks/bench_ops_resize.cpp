// Anomaly-map post-processing case of the ops suite (peer: benchmarks/peers/torch_resize.py, same
// name and work): bilinear upsampling (align_corners = True) of 8 maps (8, 1, 64, 64) to 256 x 256,
// then a Gaussian blur with sigma 4 (33 taps, scipy's edge-repeating reflect; the peer uses
// PyTorch's reflect pad + two 1-D conv2d, the kornia/anomalib form: the same 33-tap work).
#include <benchmark/benchmark.h>

#include "packd/ops/factory.hpp"
#include "packd/ops/filter.hpp"
#include "packd/ops/resize.hpp"

namespace {
using namespace packd;

void upsample_blur_64to256_fwd(benchmark::State& state) {
  Generator gen(0);
  Tensor<float> x = rand<float>({8, 1, 64, 64}, gen);
  auto step = [&] {
    Tensor<float> up = interpolate(x, std::array<int64_t, 2>{256, 256}, InterpMode::bilinear, true);
    Tensor<float> y = gaussian_blur2d(up, 4.0);
    benchmark::DoNotOptimize(y.data());
  };
  step();  // warm-up
  for (auto _ : state) step();
}
BENCHMARK(upsample_blur_64to256_fwd)->UseRealTime()->Unit(benchmark::kMillisecond);
}  // namespace
