// The inputs of the `packd eval` / `packd infer` CLI test (tests/cli/eval_cli.cmake): a tiny
// synthetic data set in MVTec AD's layout and a run trained for two steps on three of its
// categories (backbone narrowed to 1/32 of its width, random teacher), built with the library so
// the test does not depend on `packd train`'s flags.
//
//   make_eval_fixture DATA_DIR RUN_DIR
#include <cstdio>
#include <filesystem>

#include "packd/data/dataset.hpp"
#include "packd/data/synthetic.hpp"
#include "packd/train/trainer.hpp"
#include "tiny_run.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_eval_fixture DATA_DIR RUN_DIR\n");
    return 2;
  }
  using namespace packd;
  try {
    const std::string data_dir = argv[1], run_dir = argv[2];
    const std::vector<std::string> cats{"checker", "disc", "ring", "stripes"};
    std::filesystem::remove_all(data_dir);
    std::filesystem::remove_all(run_dir);
    data::make_synthetic_dataset(data_dir, {.seed = 7, .categories = cats, .image_size = 64, .n_train = 5,
                                            .n_test_good = 3, .n_test_bad = 4});
    const train::TrainOptions o = testing::tiny_train_options(run_dir, /*max_steps=*/2, /*checkpoint_every=*/2);
    std::vector<train::TrainCategory> train_cats;
    for (const auto& c : {"checker", "disc", "stripes"}) train_cats.push_back({c, data::mvtec(data_dir, c).train_good});
    train::Trainer(o, train_cats).run();
  } catch (const Error& e) {
    std::fprintf(stderr, "make_eval_fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}
