// Whole-model cases (peer: benchmarks/peers/torch_models.py, same names and work), on random
// weights (the time does not depend on their values), eval mode, no autograd:
//   teacher_wrn50_256_b{1,8}   WideResNet50-2 forward to layer3 on (N, 3, 256, 256)
//   rd_infer_wrn50_256_b1      RD inference: teacher, OCBE, decoder and the smoothed anomaly map
#include <benchmark/benchmark.h>

#include "packd/models/rd.hpp"

namespace {
using namespace packd;

models::ReverseDistillation<float>& rd_model() {
  static Generator gen(0);
  static models::ReverseDistillation<float> rd(models::resnet_spec("wide_resnet50_2"), gen);
  rd.eval();
  return rd;
}

void teacher_case(benchmark::State& state, int64_t n) {
  auto& rd = rd_model();
  Generator gen(1);
  Tensor<float> x = randn<float>({n, 3, 256, 256}, gen);
  NoGradGuard no_grad;
  auto f = rd.teacher->features(x);  // warm-up: folding, packing buffers, thread pool
  for (auto _ : state) {
    f = rd.teacher->features(x);
    benchmark::DoNotOptimize(f[2].data());
  }
}

void teacher_wrn50_256_b1(benchmark::State& state) { teacher_case(state, 1); }
void teacher_wrn50_256_b8(benchmark::State& state) { teacher_case(state, 8); }

void rd_infer_wrn50_256_b1(benchmark::State& state) {
  auto& rd = rd_model();
  Generator gen(1);
  Tensor<float> x = randn<float>({1, 3, 256, 256}, gen);
  Tensor<double> map = rd.anomaly_map(x);
  for (auto _ : state) {
    map = rd.anomaly_map(x);
    benchmark::DoNotOptimize(map.data());
  }
}

}  // namespace

BENCHMARK(teacher_wrn50_256_b1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(teacher_wrn50_256_b8)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(rd_infer_wrn50_256_b1)->UseRealTime()->Unit(benchmark::kMillisecond);
