// The GPU suite (benchmarks/compare.sh gpu; peer: benchmarks/peers/torch_gpu.py, same names and
// work), on cuda:0 with random weights and inputs; every iteration ends with the device idle
// (cuda::synchronize), so the times are the GPU's, not the launch queue's:
//   gpu_teacher_wrn50_256_b32_fwd      WideResNet50-2 teacher to layer3, batch 32, 256x256, no grad
//   gpu_packd_train_wrn50_256_b32_k2   one PACKD training step, default switches: 32 queries of 8
//                                      categories (4 each), k = 2 shots per query rotated into 8
//                                      views, teacher (no grad), student, packd_loss, backward, Adam
//   gpu_eval_wrn50_256_n128_k2         one category's test set: 128 images in batches of 32 against
//                                      k = 2 shots (8 views, encoded once), student forward, the
//                                      smoothed float64 anomaly maps, image and pixel AUROC on the GPU
// Two untimed iterations first (cuDNN's algorithm search, the caching allocator's first fill).
#include <benchmark/benchmark.h>

#include <vector>

#include "packd/backend/cuda_api.hpp"
#include "packd/eval/anomaly_map.hpp"
#include "packd/eval/metrics.hpp"
#include "packd/models/packd_loss.hpp"
#include "packd/optim/adam.hpp"
#include "packd/train/augment.hpp"

namespace {
using namespace packd;

constexpr int64_t kSize = 256, kShots = 2;
const Device kGpu = Device::cuda(0);

bool gpu_or_skip(benchmark::State& state) {
  if (cuda::cuda_available()) return true;
  state.SkipWithError("no CUDA device");
  return false;
}

template <class Step>
void run(benchmark::State& state, Step step) {
  for (int i = 0; i < 2; ++i) step();
  cuda::synchronize(0);
  for (auto _ : state) {
    step();
    cuda::synchronize(0);
  }
}

void gpu_teacher_wrn50_256_b32_fwd(benchmark::State& state) {
  if (!gpu_or_skip(state)) return;
  Generator gen(0);
  models::ResNet<float> teacher(models::resnet_spec("wide_resnet50_2"), gen);
  teacher.eval();
  teacher.to(kGpu);
  Generator data(1);
  Tensor<float> x = randn<float>({32, 3, kSize, kSize}, data).to(kGpu);  // (32, 3, S, S)
  run(state, [&] {
    NoGradGuard no_grad;
    benchmark::DoNotOptimize(teacher.features(x));
  });
}

void gpu_packd_train_wrn50_256_b32_k2(benchmark::State& state) {
  if (!gpu_or_skip(state)) return;
  constexpr int64_t kBatch = 32;
  Generator gen(0);
  const models::ResNetSpec spec = models::resnet_spec("wide_resnet50_2");
  const models::PackdConfig cfg;
  models::PackdStudent<float> model(spec, models::rd_spec(spec), cfg, gen);
  model.to(kGpu);
  optim::Adam<float> adam(model.named_parameters(), optim::AdamOptions{.lr = 5e-4, .betas = {0.5, 0.999}});
  Generator data(1);
  Tensor<float> query = randn<float>({kBatch, 3, kSize, kSize}, data).to(kGpu);           // (B, 3, S, S)
  Tensor<float> shots = randn<float>({kBatch, kShots, 3, kSize, kSize}, data).to(kGpu);   // (B, k, 3, S, S)
  std::vector<int64_t> labels;
  for (int64_t b = 0; b < kBatch; ++b) labels.push_back(b / 4);  // 8 categories, 4 queries each
  run(state, [&] {
    std::vector<Tensor<float>> views;
    for (int64_t b = 0; b < kBatch; ++b) views.push_back(train::support_views(shots.select(0, b), cfg.aug).unsqueeze(0));
    Tensor<float> support = cat<float>(views, 0);  // (B, 4k, 3, S, S)
    model.train();
    auto f = model.forward(query, support);
    auto loss = models::packd_loss(model, f, labels);
    adam.zero_grad();
    loss.total.backward();
    adam.step();
  });
}

void gpu_eval_wrn50_256_n128_k2(benchmark::State& state) {
  if (!gpu_or_skip(state)) return;
  constexpr int64_t kImages = 128, kBatch = 32;
  Generator gen(0);
  const models::ResNetSpec spec = models::resnet_spec("wide_resnet50_2");
  const models::PackdConfig cfg;
  models::PackdStudent<float> model(spec, models::rd_spec(spec), cfg, gen);
  model.to(kGpu);
  model.eval();
  Generator data(1);
  Tensor<float> images = randn<float>({kImages, 3, kSize, kSize}, data).to(kGpu);  // (N, 3, S, S)
  Tensor<float> shots = randn<float>({kShots, 3, kSize, kSize}, data).to(kGpu);    // (k, 3, S, S)
  // ground truth: a square defect in every other image
  Tensor<double> masks = zeros<double>({kImages, 1, kSize, kSize});
  for (int64_t i = 0; i < kImages; i += 2) masks.select(0, i).narrow(1, 96, 64).narrow(2, 96, 64).fill_(1.0);
  masks = masks.to(kGpu);
  run(state, [&] {
    NoGradGuard no_grad;
    const std::array<Tensor<float>, 3> sf = model.encode_support(train::support_views(shots, cfg.aug));
    std::vector<Tensor<double>> maps;
    for (int64_t b = 0; b < kImages; b += kBatch) {
      auto f = model.forward_shared(images.narrow(0, b, kBatch), sf);
      maps.push_back(eval::anomaly_map(f.teacher, f.student));  // (32, 1, S, S) float64
    }
    Tensor<double> all = cat<double>(maps, 0);  // (N, 1, S, S)
    benchmark::DoNotOptimize(eval::pixel_auroc(all, masks));
    benchmark::DoNotOptimize(eval::image_auroc(all, masks));
  });
}

}  // namespace

BENCHMARK(gpu_teacher_wrn50_256_b32_fwd)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(gpu_packd_train_wrn50_256_b32_k2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(gpu_eval_wrn50_256_n128_k2)->UseRealTime()->Unit(benchmark::kMillisecond);
