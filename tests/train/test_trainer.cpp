// The training loop on a tiny synthetic set (64x64, backbone narrowed to 1/32 of its width,
// random teacher): the loss goes down, checkpoints are PyTorch-named, and a run interrupted
// between steps and resumed ends with bit-identical weights to an uninterrupted one.
#include <filesystem>

#include "packd/data/dataset.hpp"
#include "packd/data/synthetic.hpp"
#include "packd/train/trainer.hpp"
#include "testing.hpp"
#include "tiny_run.hpp"

using namespace packd;

namespace {

// Each test case writes its own copy of the data: CTest runs the cases of this file as parallel
// processes in one working directory.
std::vector<train::TrainCategory> tiny_data(const std::string& dir) {
  const std::vector<std::string> cats{"checker", "disc", "stripes", "ring"};
  if (!std::filesystem::exists(dir + "/packd_synthetic.txt")) {
    std::filesystem::remove_all(dir);
    data::make_synthetic_dataset(dir, {.seed = 3, .categories = cats, .image_size = 64, .n_train = 6, .n_test_good = 1, .n_test_bad = 1});
  }
  std::vector<train::TrainCategory> out;
  for (const auto& c : cats) out.push_back({c, data::mvtec(dir, c).train_good});
  return out;
}

train::TrainOptions tiny_options(const std::string& out) {
  train::TrainOptions o = testing::tiny_train_options(out, /*max_steps=*/6, /*checkpoint_every=*/2);
  o.lr = 1e-3;
  std::filesystem::remove_all(out);
  return o;
}

std::vector<std::vector<float>> weights_of(train::Trainer& t) {
  std::vector<std::vector<float>> w;
  for (auto& [n, p] : t.model().named_parameters()) w.push_back(p.to_vector());
  return w;
}

}  // namespace

TEST_CASE("100 training steps reduce the loss on a tiny synthetic set") {
  train::TrainOptions o = tiny_options("trainer_run_loss");
  o.max_steps = 100;
  o.checkpoint_every = 100;
  train::Trainer t(o, tiny_data("trainer_data_loss"));
  CHECK(t.teacher_is_random());
  std::vector<double> losses;
  t.run([&](const train::StepRecord& r) {
    losses.push_back(r.loss);
    return true;
  });
  REQUIRE(losses.size() == 100);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += losses[std::size_t(i)], last += losses[losses.size() - 1 - std::size_t(i)];
  CHECK(last < first);
  // The checkpoint holds the student under PyTorch names, Adam's state and the position.
  io::Checkpoint c = io::load_checkpoint(t.checkpoint_path());
  CHECK(c.tensors.count("proto.stage1.weight"));
  CHECK(c.tensors.count("decoder.refine.conv1.weight"));
  CHECK(c.tensors.count("optim.proto.stage1.weight.exp_avg"));
  CHECK(c.metadata.at("step") == "100");
  CHECK(c.config["method"]["integrate"] == "all");
}

TEST_CASE("a run killed between steps and resumed ends with identical weights") {
  train::TrainOptions o = tiny_options("trainer_run_full");
  train::Trainer full(o, tiny_data("trainer_data_resume"));
  full.run();
  const auto expected = weights_of(full);

  train::TrainOptions p = tiny_options("trainer_run_part");
  {
    train::Trainer part(p, tiny_data("trainer_data_resume"));
    part.run([](const train::StepRecord& r) { return r.step < 3; });  // "killed" after step 3 (checkpoint at 2)
  }
  p.resume = true;
  train::Trainer resumed(p, tiny_data("trainer_data_resume"));
  CHECK(resumed.step() == 2);
  resumed.run();
  CHECK(resumed.step() == 6);
  const auto got = weights_of(resumed);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == expected[i]);
  // The log has each step once.
  std::ifstream log("trainer_run_part/log.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  CHECK(lines == 6);
}

TEST_CASE("the trainer refuses bad set-ups before training") {
  train::TrainOptions o = tiny_options("trainer_run_bad");
  o.cats_per_batch = 1;
  o.batch_size = 4;
  CHECK_THROWS_PACKD(train::Trainer(o, tiny_data("trainer_data_bad")), "at least two categories per batch");
  o = tiny_options("trainer_run_bad");
  o.shots = 1;
  o.image_size = 50;
  CHECK_THROWS_PACKD(train::Trainer(o, tiny_data("trainer_data_bad")), "multiple of 32");
  o = tiny_options("trainer_run_bad");
  o.weights = "x.pth";
  CHECK_THROWS_PACKD(train::Trainer(o, tiny_data("trainer_data_bad")), "cannot be loaded");
  o = tiny_options("trainer_run_bad");
  auto one = tiny_data("trainer_data_bad");
  one.resize(1);
  CHECK_THROWS_PACKD(train::Trainer(o, one), "cannot fill batches");
}
