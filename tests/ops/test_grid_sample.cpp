// affine_grid and grid_sample: PyTorch 1.13 parity on the fixture cases
// (tests/reference/make_grid_fixtures.py) for every padding mode x align_corners x mode, affine_grid's
// gradient by gradcheck, and errors (grid_sample is forward-only and refuses inputs that require grad).
#include "testing.hpp"

using namespace packd;
using packd::testing::check_against_torch;
using packd::testing::check_op;

namespace {
const char* kFamily = "grid_sample";
}

TEST_CASE("affine_grid matches PyTorch", "[grid_sample]") {
  for (bool ac : {true, false}) {
    const std::string t = ac ? "ac" : "noac";
    check_op(kFamily, "affine_grid_" + t, [ac](const auto& in) { return affine_grid(in[0], Shape{2, 3, 5, 7}, ac); });
    check_op(kFamily, "affine_grid_1px_" + t, [ac](const auto& in) { return affine_grid(in[0], Shape{1, 1, 1, 4}, ac); });
  }
}

TEST_CASE("grid_sample matches PyTorch", "[grid_sample]") {
  const std::pair<const char*, GridPadding> pads[] = {
      {"zeros", GridPadding::zeros}, {"border", GridPadding::border}, {"reflection", GridPadding::reflection}};
  const std::pair<const char*, GridMode> modes[] = {{"bilinear", GridMode::bilinear}, {"nearest", GridMode::nearest}};
  for (bool ac : {true, false})
    for (const auto& [pname, pad] : pads)
      for (const auto& [mname, mode] : modes) {
        const std::string t = std::string(mname) + "_" + pname + "_" + (ac ? "ac" : "noac");
        auto fn = [=](const auto& in) { return grid_sample(in[0], in[1], mode, pad, ac); };
        check_against_torch(kFamily, "gs_" + t, fn);
        check_against_torch(kFamily, "gs_far_" + t, fn);
      }
  check_against_torch(kFamily, "gs_noncontig", [](const auto& in) {
    return grid_sample(in[0].permute({2, 1, 0, 3}), in[1].transpose(1, 2), GridMode::bilinear, GridPadding::reflection, false);
  });
}

TEST_CASE("grid_sample of the identity warp is the identity", "[grid_sample]") {
  Generator gen(3);
  Tensor<double> x = randn<double>({2, 3, 5, 6}, gen);
  Tensor<double> th = zeros<double>({2, 2, 3});
  for (int n = 0; n < 2; ++n) th.select(0, n).select(0, 0).select(0, 0).fill_(1.0), th.select(0, n).select(0, 1).select(0, 1).fill_(1.0);
  for (bool ac : {true, false})
    CHECK_CLOSE(grid_sample(x, affine_grid(th, x.shape(), ac), GridMode::bilinear, GridPadding::reflection, ac), x, 1e-12, 1e-12);
}

TEST_CASE("grid_sample errors", "[grid_sample]") {
  Tensor<float> x = ones<float>({2, 3, 4, 5}), g = zeros<float>({2, 3, 3, 2});
  CHECK_THROWS_PACKD(grid_sample(ones<float>({3, 4, 5}), g), "grid_sample: expected x (N, C, H, W) and grid (N, OH, OW, 2)");
  CHECK_THROWS_PACKD(grid_sample(x, zeros<float>({2, 3, 3, 3})), "grid (N, OH, OW, 2), got shapes (2, 3, 4, 5) and (2, 3, 3, 3)");
  CHECK_THROWS_PACKD(grid_sample(x, zeros<float>({1, 3, 3, 2})), "grid_sample: expected x");
  Tensor<float> xr = ones<float>({2, 3, 4, 5}).requires_grad_();
  CHECK_THROWS_PACKD(grid_sample(xr, g), "grid_sample: not differentiable in packd");
  {
    NoGradGuard ng;
    CHECK(grid_sample(xr, g).shape() == Shape{2, 3, 3, 3});
  }
  CHECK_THROWS_PACKD(affine_grid(zeros<float>({2, 3, 3}), Shape{2, 3, 4, 5}), "affine_grid: expected theta of shape (N, 2, 3)");
  CHECK_THROWS_PACKD(affine_grid(zeros<float>({2, 2, 3}), Shape{3, 3, 4, 5}), "affine_grid: expected theta");
  CHECK_THROWS_PACKD(affine_grid(zeros<float>({2, 2, 3}), Shape{2, 4, 5}), "affine_grid: size must be (N, C, H, W)");
}

TEST_CASE("grid_sample threaded paths equal the serial ones", "[grid_sample]") {
  Generator gen(15);
  Tensor<double> x = randn<double>({2, 16, 40, 50}, gen);
  Tensor<double> grid = (rand<double>({2, 60, 70, 2}, gen) * 4.0) - 2.0;
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    return grid_sample(x, grid, GridMode::bilinear, GridPadding::reflection, false);
  };
  auto serial = run(1), threaded = run(4);
  omp_set_num_threads(2);
  CHECK_CLOSE(threaded, serial, 0, 0);
}
