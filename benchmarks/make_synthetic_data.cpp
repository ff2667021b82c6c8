// Writes packd's synthetic anomaly data set (MVTec layout) for benchmarks that run `packd train`:
//   make_synthetic_data DIR IMAGE_SIZE TRAIN_IMAGES_PER_CATEGORY
#include <cstdio>
#include <cstdlib>

#include "packd/data/synthetic.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_synthetic_data DIR IMAGE_SIZE TRAIN_IMAGES_PER_CATEGORY\n");
    return 2;
  }
  try {
    packd::data::make_synthetic_dataset(argv[1], {.seed = 0, .categories = {}, .image_size = std::atoll(argv[2]),
                                                  .n_train = std::atoll(argv[3]), .n_test_good = 1, .n_test_bad = 1});
  } catch (const packd::Error& e) {
    std::fprintf(stderr, "make_synthetic_data: %s\n", e.what());
    return 1;
  }
  return 0;
}
