// Model parity with PyTorch on the same random weights (tests/reference/make_model_fixtures.py):
// torchvision's ResNet teacher and RD4AD's OCBE + decoder load the PyTorch files (.pth zip and
// legacy formats) by name and reproduce
//   - eval mode, float32: teacher features, the embedding, the student features and the anomaly
//     map, to 1e-4 relative (of the tensor's largest magnitude);
//   - training mode, float64: RD's loss, the gradient of every student parameter and the BN
//     running statistics after the step, to 1e-6 relative (packd-method.md 4).
// The committed fixtures are small (every channel count scaled by 2/64, fewer blocks: see the
// script); the full-size wide_resnet50_2 and resnet18 run when CTest generated them with torch
// (PACKD_FULL_MODEL_FIXTURES, a compile definition or environment variable, names their folder),
// and are skipped with a message otherwise.
#include <cstdlib>
#include <filesystem>

#include "packd/io/weights.hpp"
#include "packd/models/rd.hpp"
#include "testing.hpp"

using namespace packd;
using packd::testing::check_scaled;

namespace {

struct Config {
  std::string name;
  models::ResNetSpec teacher;
  models::RDSpec student;
  std::string dir;
};

Config small_config(const std::string& name) {
  const std::string dir = std::string(PACKD_FIXTURE_DIR) + "/models";
  if (name == "wrn_small")
    return {name, {name, models::BlockKind::bottleneck, {2, 2, 2, 1}, 128, 2, 10},
            {models::BlockKind::bottleneck, 1, {1, 2, 2}, 128, 2}, dir};
  return {name, {name, models::BlockKind::basic, {2, 2, 2, 1}, 64, 2, 10}, {models::BlockKind::basic, 2, {2, 2, 2}, 64, 2},
          dir};
}

template <FloatScalar T>
std::shared_ptr<models::ReverseDistillation<T>> load_rd(const Config& c, const std::string& teacher_file) {
  Generator gen(0);
  auto rd = std::make_shared<models::ReverseDistillation<T>>(c.teacher, c.student, gen);
  const std::string tpath = c.dir + "/" + teacher_file, spath = c.dir + "/" + c.name + "_rd.pth";
  rd->teacher->load_state_dict(io::load_weights(tpath), {}, tpath);
  rd->load_state_dict(io::load_weights(spath), {}, spath);
  return rd;
}

void check_eval_parity(const Config& c, const std::string& teacher_file) {
  auto rd = load_rd<float>(c, teacher_file);
  const auto& io = io::read_safetensors(c.dir + "/" + c.name + "_io.safetensors");
  rd->eval();
  NoGradGuard no_grad;  // eval + no grad: the folded conv+BN path
  Tensor<float> x = io.get<float>("input");
  auto t = rd->teacher_features(x);
  for (int k = 0; k < 3; ++k)
    check_scaled(t[k], io.get<float>("teacher.layer" + std::to_string(k + 1)), 1e-4, "teacher layer" + std::to_string(k + 1));
  Tensor<float> emb = rd->bn->forward(t);
  check_scaled(emb, io.get<float>("student.bn"), 1e-4, "OCBE embedding");
  auto s = rd->decoder->forward(emb);
  for (int k = 0; k < 3; ++k)
    check_scaled(s[k], io.get<float>("student.out" + std::to_string(k + 1)), 1e-4, "student out" + std::to_string(k + 1));
  check_scaled(rd->anomaly_map(x), io.get<double>("amap"), 1e-4, "anomaly map");
}

void check_training_gradients(const Config& c) {
  auto rd = load_rd<double>(c, c.name + "_teacher.pth");
  const auto& io = io::read_safetensors(c.dir + "/" + c.name + "_io.safetensors");
  rd->train();
  CHECK(!rd->teacher->is_training());
  Tensor<double> x = io.get<double>("train_input");
  auto t = rd->teacher_features(x);
  Tensor<double> loss = models::rd_loss(t, rd->student(t));
  loss.backward();
  check_scaled(loss, io.get<double>("train.loss"), 1e-9, "RD loss");
  int checked = 0;
  for (const auto& [name, p] : rd->named_parameters()) {
    const std::string key = "grad." + name;
    if (!io.contains(key)) {
      INFO(name << " has a gradient in packd but none in PyTorch");
      CHECK(!p.grad().defined());
      continue;
    }
    REQUIRE(p.grad().defined());
    check_scaled(p.grad(), io.get<double>(key), 1e-6, key);
    ++checked;
  }
  int grads_in_file = 0;
  for (const auto& [key, raw] : io.tensors) grads_in_file += key.rfind("grad.", 0) == 0;
  CHECK(checked == grads_in_file);
  for (const auto& e : rd->named_buffers()) {
    const std::string key = "after." + e.name;
    if (io.contains(key)) check_scaled(Tensor<double>(e.tensor), io.get<double>(key), 1e-9, key);
  }
}

}  // namespace

TEST_CASE("small WideResNet-style teacher and RD student match PyTorch in eval mode (zip .pth)") {
  check_eval_parity(small_config("wrn_small"), "wrn_small_teacher.pth");
}
TEST_CASE("the legacy .pth teacher file loads the same weights") {
  check_eval_parity(small_config("wrn_small"), "wrn_small_teacher_legacy.pth");
  check_eval_parity(small_config("r18_small"), "r18_small_teacher_legacy.pth");
}
TEST_CASE("small ResNet18-style teacher and RD student (BasicBlock) match PyTorch in eval mode") {
  check_eval_parity(small_config("r18_small"), "r18_small_teacher.pth");
}
TEST_CASE("float64 training step: RD loss, every student gradient and the BN statistics match PyTorch") {
  check_training_gradients(small_config("wrn_small"));
  check_training_gradients(small_config("r18_small"));
}

TEST_CASE("full-size wide_resnet50_2 and resnet18 (generated at test time when torch is present)") {
  // The environment variable overrides the folder CMake set (fixtures:full_models writes there).
  const char* env = std::getenv("PACKD_FULL_MODEL_FIXTURES");
#ifdef PACKD_FULL_MODEL_FIXTURES
  const std::string dir = env ? env : PACKD_FULL_MODEL_FIXTURES;
#else
  const std::string dir = env ? env : "";
#endif
  if (dir.empty() || !std::filesystem::exists(dir + "/wide_resnet50_2_io.safetensors")) {
    WARN("full-size model fixtures not generated (needs /usr/bin/python3 with torch): skipped");
    return;
  }
  for (const std::string name : {"wide_resnet50_2", "resnet18"}) {
    SECTION(name) {
      models::ResNetSpec spec = models::resnet_spec(name);
      Config c{name, spec, models::rd_spec(spec), dir};
      check_eval_parity(c, name + "_teacher.pth");
      check_eval_parity(c, name + "_teacher_legacy.pth");
      check_training_gradients(c);
    }
  }
}

TEST_CASE("loading a file into the wrong model names the keys") {
  Config c = small_config("wrn_small");
  Generator gen(0);
  models::ResNet<float> other(small_config("r18_small").teacher, gen);
  const std::string path = c.dir + "/wrn_small_teacher.pth";
  CHECK_THROWS_PACKD(other.load_state_dict(io::load_weights(path), {}, path), "layer1.0.conv3.weight");
  CHECK_THROWS_PACKD(other.load_state_dict(io::load_weights(path), {}, path), "wrn_small_teacher.pth does not match");
}
