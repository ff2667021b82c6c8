// interpolate (bilinear, nearest): PyTorch 1.13 parity (float32) and float64 gradcheck on the
// fixture cases (tests/reference/make_resize_fixtures.py), including the scale_factor subtleties,
// and errors.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kFamily = "resize";
using Arr2 = std::array<int64_t, 2>;
}

TEST_CASE("bilinear interpolate matches PyTorch", "[resize]") {
  for (bool ac : {true, false}) {
    const std::string t = ac ? "ac" : "noac";
    INFO("align_corners " << ac);
    check_op(kFamily, "bilinear_up_" + t, [ac](const auto& in) { return interpolate(in[0], Arr2{9, 13}, InterpMode::bilinear, ac); });
    check_op(kFamily, "bilinear_down_" + t, [ac](const auto& in) { return interpolate(in[0], Arr2{4, 5}, InterpMode::bilinear, ac); });
    check_op(kFamily, "bilinear_scale17_" + t, [ac](const auto& in) { return interpolate(in[0], 1.7, InterpMode::bilinear, ac); });
    check_op(kFamily, "bilinear_to1_" + t, [ac](const auto& in) { return interpolate(in[0], Arr2{1, 3}, InterpMode::bilinear, ac); });
  }
  check_op(kFamily, "bilinear_scale_hw", [](const auto& in) {
    InterpolateOptions o;
    o.scale_factor = std::array<double, 2>{2.0, 0.6};
    o.mode = InterpMode::bilinear;
    o.align_corners = false;
    return interpolate(in[0], o);
  });
  check_op(kFamily, "bilinear_recompute", [](const auto& in) { return interpolate(in[0], 1.7, InterpMode::bilinear, false, true); });
  check_op(kFamily, "bilinear_same", [](const auto& in) { return interpolate(in[0], 1.1, InterpMode::bilinear, false); });
  check_op(kFamily, "bilinear_noncontig",
           [](const auto& in) { return interpolate(in[0].permute({2, 1, 3, 0}), Arr2{7, 8}, InterpMode::bilinear, true); });
  check_op(kFamily, "bilinear_x4", [](const auto& in) { return interpolate(in[0], Arr2{24, 24}, InterpMode::bilinear, true); });
}

TEST_CASE("nearest interpolate matches PyTorch", "[resize]") {
  check_op(kFamily, "nearest_up", [](const auto& in) { return interpolate(in[0], Arr2{9, 13}); });
  check_op(kFamily, "nearest_down", [](const auto& in) { return interpolate(in[0], Arr2{4, 5}, InterpMode::nearest); });
  check_op(kFamily, "nearest_x2", [](const auto& in) { return interpolate(in[0], 2.0); });
  check_op(kFamily, "nearest_scale17", [](const auto& in) { return interpolate(in[0], 1.7); });
  check_op(kFamily, "nearest_recompute", [](const auto& in) { return interpolate(in[0], 1.7, InterpMode::nearest, std::nullopt, true); });
  check_op(kFamily, "nearest_noncontig", [](const auto& in) { return interpolate(in[0].permute({2, 1, 0, 3}), Arr2{5, 9}); });
}

TEST_CASE("interpolate errors", "[resize]") {
  Tensor<float> x = ones<float>({1, 2, 3, 4});
  CHECK_THROWS_PACKD(interpolate(ones<float>({2, 3, 4}), Arr2{2, 2}), "interpolate: expected a 4-D (N, C, H, W) input, got shape (2, 3, 4)");
  CHECK_THROWS_PACKD(interpolate(x, Arr2{2, 2}, InterpMode::nearest, true), "interpolate: align_corners can only be set");
  InterpolateOptions both;
  both.size = Arr2{2, 2};
  both.scale_factor = std::array<double, 2>{2, 2};
  CHECK_THROWS_PACKD(interpolate(x, both), "interpolate: exactly one of size and scale_factor");
  CHECK_THROWS_PACKD(interpolate(x, InterpolateOptions{}), "interpolate: exactly one of size and scale_factor");
  CHECK_THROWS_PACKD(interpolate(x, Arr2{0, 2}), "interpolate: output size (0, 2) must be positive");
  CHECK_THROWS_PACKD(interpolate(x, -1.0), "interpolate: scale_factor must be positive");
  CHECK_THROWS_PACKD(interpolate(x, 0.1), "interpolate: output size (0, 0) must be positive");
}

TEST_CASE("interpolate threaded paths equal the serial ones", "[resize]") {
  Generator gen(13);
  Tensor<double> x = randn<double>({3, 5, 33, 47}, gen);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    std::vector<Tensor<double>> r;
    for (InterpMode m : {InterpMode::bilinear, InterpMode::nearest})
      for (std::array<int64_t, 2> s : {std::array<int64_t, 2>{130, 97}, std::array<int64_t, 2>{20, 61}}) {
        Tensor<double> xl = x.detach().requires_grad_();
        Tensor<double> y = m == InterpMode::bilinear ? interpolate(xl, s, m, true) : interpolate(xl, s, m);
        Generator gg(5);
        y.backward(randn<double>(y.shape(), gg));
        r.push_back(y.detach());
        r.push_back(xl.grad());
      }
    return r;
  };
  auto serial = run(1), threaded = run(4);
  omp_set_num_threads(2);
  for (std::size_t i = 0; i < serial.size(); ++i) CHECK_CLOSE(threaded[i], serial[i], 0, 0);
}
