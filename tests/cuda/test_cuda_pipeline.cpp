// The PACKD pipeline on CUDA against the CPU: the tiny training run (tests/support/tiny_run.hpp)
// steps on both devices from the same weights and episodes with the same losses (rtol 1e-3), a
// checkpoint written from CUDA holds host tensors that load on the CPU, and the evaluation's
// anomaly maps and metrics agree. Skipped without a CUDA device.
#include <filesystem>

#include "cuda_parity.hpp"
#include "packd/data/dataset.hpp"
#include "packd/data/synthetic.hpp"
#include "packd/eval/protocol.hpp"
#include "packd/train/load.hpp"
#include "packd/train/trainer.hpp"
#include "tiny_run.hpp"

using namespace packd;
namespace fs = std::filesystem;

namespace {

// Each test case writes its own copy of the data: CTest runs the cases as parallel processes.
const std::vector<std::string> kTrainCats{"checker", "disc", "stripes"};
const std::string kTestCat = "ring";

std::vector<train::TrainCategory> tiny_data(const std::string& dir) {
  if (!fs::exists(dir + "/packd_synthetic.txt")) {
    fs::remove_all(dir);
    std::vector<std::string> cats = kTrainCats;
    cats.push_back(kTestCat);
    data::make_synthetic_dataset(dir, {.seed = 5, .categories = cats, .image_size = 64, .n_train = 5, .n_test_good = 3,
                                         .n_test_bad = 4});
  }
  std::vector<train::TrainCategory> out;
  for (const auto& c : kTrainCats) out.push_back({c, data::mvtec(dir, c).train_good});
  return out;
}

train::TrainOptions options(const std::string& out, Device device) {
  train::TrainOptions o = testing::tiny_train_options(out, /*max_steps=*/2, /*checkpoint_every=*/2);
  o.lr = 1e-3;
  o.seed = 11;
  o.device = device;
  fs::remove_all(out);
  return o;
}

void check_close(double cuda, double cpu, const char* what) {
  INFO(what << ": cuda " << cuda << ", cpu " << cpu);
  CHECK(std::abs(cuda - cpu) <= 1e-3 * std::abs(cpu) + 1e-6);
}

}  // namespace

TEST_CASE("two training steps on CUDA give the CPU's losses [cuda]", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  train::Trainer cpu(options("cuda_pipeline_run_cpu", Device::cpu()), tiny_data("cuda_pipeline_data_train"));
  train::Trainer gpu(options("cuda_pipeline_run_cuda", Device::cuda(0)), tiny_data("cuda_pipeline_data_train"));
  for (auto& [n, p] : gpu.model().named_parameters()) REQUIRE(p.device() == Device::cuda(0));
  for (auto& [n, p] : gpu.model().teacher->named_parameters()) REQUIRE(p.device() == Device::cuda(0));
  for (int step = 0; step < 2; ++step) {  // the second step's losses see the first Adam update
    INFO("step " << step + 1);
    const train::StepRecord a = cpu.train_step(), b = gpu.train_step();
    check_close(b.loss, a.loss, "loss");
    for (std::size_t i = 0; i < 3; ++i) {
      check_close(b.kd[i], a.kd[i], "kd");
      check_close(b.nce[i], a.nce[i], "nce");
      check_close(b.orth[i], a.orth[i], "orth");
    }
  }
  // The checkpoint holds host tensors; the run loads on the CPU and on CUDA with the same values.
  gpu.save();
  train::LoadedRun on_cpu = train::load_trained("cuda_pipeline_run_cuda", Device::cpu(), "", true);
  train::LoadedRun on_gpu = train::load_trained("cuda_pipeline_run_cuda", Device::cuda(0), "", true);
  CHECK(on_cpu.options.device == Device::cuda(0));  // recorded where it trained
  auto gpu_params = gpu.model().named_parameters();
  auto loaded = on_cpu.model->named_parameters();
  REQUIRE(loaded.size() == gpu_params.size());
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    INFO(loaded[i].first);
    CHECK(loaded[i].second.device() == Device::cpu());
    CHECK(loaded[i].second.to_vector() == gpu_params[i].second.to_vector());
  }
  for (auto& [n, p] : on_gpu.model->named_parameters()) CHECK(p.device() == Device::cuda(0));
}

TEST_CASE("an evaluation on CUDA gives the CPU's maps and metrics [cuda]", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  {
    train::Trainer t(options("cuda_pipeline_eval_run", Device::cpu()), tiny_data("cuda_pipeline_data_eval"));
    t.run();
  }
  train::LoadedRun on_cpu = train::load_trained("cuda_pipeline_eval_run", Device::cpu(), "", true);
  train::LoadedRun on_gpu = train::load_trained("cuda_pipeline_eval_run", Device::cuda(0), "", true);
  const data::CategoryData d = data::mvtec("cuda_pipeline_data_eval", kTestCat);
  eval::ProtocolOptions opt;
  opt.shots = {1};
  opt.runs = 1;
  opt.image_size = 64;
  opt.batch_size = 3;  // batches of 3, 3 and 1 test images
  const eval::TestSet t = eval::load_test_set(d, opt.image_size);
  std::vector<Tensor<float>> sup{data::load_image(d.train_good[0], opt.image_size)};
  const Tensor<float> views = train::support_views(cat<float>(sup, 0), on_cpu.options.method.aug);

  const Tensor<double> maps_cpu = eval::anomaly_maps(*on_cpu.model, t.images, views, opt, nullptr);
  eval::ProtocolOptions gopt = opt;
  gopt.device = Device::cuda(0);
  const Tensor<double> maps_gpu = eval::anomaly_maps(*on_gpu.model, t.images, views, gopt, nullptr);
  REQUIRE(maps_gpu.device() == Device::cuda(0));
  CHECK_CLOSE(maps_gpu.to(Device::cpu()), maps_cpu, 1e-3, 1e-5);

  // The metrics of the CUDA maps: the GPU's pixel AUROC is the CPU's on the same values, exactly.
  std::vector<std::string> notes;
  const eval::RunMetrics m_gpu = eval::run_metrics(maps_gpu, t, false, notes);
  const eval::RunMetrics m_host = eval::run_metrics(maps_gpu.to(Device::cpu()), t, false, notes);
  CHECK(m_gpu.pixel_auroc == m_host.pixel_auroc);
  CHECK(m_gpu.image_auroc == m_host.image_auroc);
  CHECK(m_gpu.aupro == m_host.aupro);

  // The whole protocol on each device: same supports, close metrics (rank metrics of close maps).
  const eval::CategoryResult r_cpu = eval::evaluate_category(*on_cpu.model, d, opt);
  const eval::CategoryResult r_gpu = eval::evaluate_category(*on_gpu.model, d, gopt);
  REQUIRE(r_gpu.shots.size() == 1);
  REQUIRE(r_gpu.shots[0].runs.size() == 1);
  CHECK(r_gpu.shots[0].runs[0].supports == r_cpu.shots[0].runs[0].supports);
  for (const auto& [name, field] : eval::metric_fields()) {
    if (std::string(name) == "aupro_rd4ad") continue;  // per-image thresholds: sensitive to the last digits
    INFO(name);
    CHECK(std::abs(r_gpu.shots[0].runs[0].metrics.*field - r_cpu.shots[0].runs[0].metrics.*field) <= 0.02);
  }
}
