// One whole training step (peer: benchmarks/peers/torch_train.py, same names and work), on random
// weights and inputs (the time does not depend on their values), 2 threads:
//   packd_train_wrn50_256_b8_k2   PACKD, default switches: 8 queries of 4 categories (2 each), k = 2
//                                 shots per query rotated into 8 views (support_views, rot90), the
//                                 WideResNet50-2 teacher on the queries and the 64 views (no grad),
//                                 the student forward, packd_loss, backward, Adam step
//   rd_train_wrn50_256_b8         plain RD: teacher on 8 images (no grad), OCBE + decoder, rd_loss,
//                                 backward, Adam step
// Each case builds its model, runs two untimed steps (the first creates Adam's state and fills the
// allocator's cache; the second is the first whose blocks come back from it, and for packd's large
// blocks the first touch of their huge pages), then the timed steps (a training run's steady
// state; the PyTorch peer warms up twice too), and reports the process's peak resident memory
// (counter peak_rss_MiB): valid for the case when the process runs that case alone, as compare.sh
// does (--benchmark_filter).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <vector>

#include "packd/models/packd_loss.hpp"
#include "packd/optim/adam.hpp"
#include "packd/train/augment.hpp"

namespace {
using namespace packd;

constexpr int64_t kBatch = 8, kShots = 2, kSize = 256;

// Peak resident set size of this process so far (Linux: ru_maxrss in KiB).
double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

// The paper's optimiser (5.1, D11), as train::Trainer builds it.
optim::Adam<float> make_adam(const nn::Module<float>& m) {
  return optim::Adam<float>(m.named_parameters(), optim::AdamOptions{.lr = 5e-4, .betas = {0.5, 0.999}});
}

void packd_train_wrn50_256_b8_k2(benchmark::State& state) {
  Generator gen(0);
  const models::ResNetSpec spec = models::resnet_spec("wide_resnet50_2");
  const models::PackdConfig cfg;  // defaults: integrate=all, L = 20, proj heads, rot90, all negatives
  models::PackdStudent<float> model(spec, models::rd_spec(spec), cfg, gen);
  optim::Adam<float> adam = make_adam(model);
  Generator data(1);
  Tensor<float> query = randn<float>({kBatch, 3, kSize, kSize}, data);              // (B, 3, S, S)
  Tensor<float> shots = randn<float>({kBatch, kShots, 3, kSize, kSize}, data);      // (B, k, 3, S, S)
  const std::vector<int64_t> labels{0, 0, 1, 1, 2, 2, 3, 3};                        // 4 categories, 2 each
  auto step = [&] {
    std::vector<Tensor<float>> views;
    for (int64_t b = 0; b < kBatch; ++b) views.push_back(train::support_views(shots.select(0, b), cfg.aug).unsqueeze(0));
    Tensor<float> support = cat<float>(views, 0);  // (B, 4k, 3, S, S)
    model.train();
    auto f = model.forward(query, support);
    auto loss = models::packd_loss(model, f, labels);
    adam.zero_grad();
    loss.total.backward();
    adam.step();
    return loss.total.item();
  };
  for (int i = 0; i < 2; ++i) step();  // warm-up (see the top)
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.counters["peak_rss_MiB"] = peak_rss_mib();
}

void rd_train_wrn50_256_b8(benchmark::State& state) {
  Generator gen(0);
  models::ReverseDistillation<float> rd(models::resnet_spec("wide_resnet50_2"), gen);
  optim::Adam<float> adam = make_adam(rd);
  Generator data(1);
  Tensor<float> x = randn<float>({kBatch, 3, kSize, kSize}, data);  // (B, 3, S, S)
  auto step = [&] {
    rd.train();
    std::array<Tensor<float>, 3> t = rd.teacher_features(x);  // no grad
    Tensor<float> loss = models::rd_loss(t, rd.student(t));
    adam.zero_grad();
    loss.backward();
    adam.step();
    return loss.item();
  };
  for (int i = 0; i < 2; ++i) step();  // warm-up (see the top)
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.counters["peak_rss_MiB"] = peak_rss_mib();
}

}  // namespace

BENCHMARK(packd_train_wrn50_256_b8_k2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(rd_train_wrn50_256_b8)->UseRealTime()->Unit(benchmark::kMillisecond);
