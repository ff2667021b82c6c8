// gaussian_blur2d: scipy.ndimage.gaussian_filter parity in float64 (~1e-12) and float32 (~1e-6),
// the adjoint as the backward (against scipy's operator transposed, and by gradcheck), the
// kornia/PyTorch reflect variant against PyTorch, and errors
// (tests/reference/make_filter_fixtures.py).
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;
using packd::testing::fixture;

namespace {
const char* kFamily = "filter";

struct ScipyCase {
  const char* name;
  double sigma, truncate;
};
const ScipyCase kScipy[] = {{"blur_hw", 4.0, 4.0},      {"blur_small", 4.0, 4.0}, {"blur_sigma15", 1.5, 4.0},
                            {"blur_trunc", 2.0, 2.2},   {"blur_1px", 1.0, 4.0},   {"blur_r0", 0.1, 4.0}};
}  // namespace

TEST_CASE("gaussian_blur2d matches scipy in float64", "[filter]") {
  for (const auto& c : kScipy) {
    INFO("case " << c.name);
    const std::string n = c.name;
    const auto& fx = fixture(kFamily);
    Tensor<double> x = fx.get<double>(n + ".in0").requires_grad_();
    Tensor<double> y = gaussian_blur2d(x, c.sigma, c.truncate);
    CHECK_CLOSE(y, fx.get<double>(n + ".out"), 1e-12, 1e-12);
    y.backward(fx.get<double>(n + ".gout"));
    CHECK_CLOSE(x.grad(), fx.get<double>(n + ".gin0"), 1e-12, 1e-12);
  }
}

TEST_CASE("gaussian_blur2d matches scipy in float32, and gradcheck", "[filter]") {
  for (const auto& c : kScipy)
    check_op(kFamily, c.name, [c](const auto& in) { return gaussian_blur2d(in[0], c.sigma, c.truncate); }, 1e-6, 1e-6);
}

TEST_CASE("gaussian_blur2d torch_reflect matches the kornia-style PyTorch blur", "[filter]") {
  check_op(kFamily, "tblur_nchw",
           [](const auto& in) { return gaussian_blur2d(in[0], 2.0, 4.0, BlurPadding::torch_reflect); });
  check_op(kFamily, "tblur_sigma4",
           [](const auto& in) { return gaussian_blur2d(in[0], 4.0, 4.0, BlurPadding::torch_reflect); });
}

TEST_CASE("gaussian_blur2d on views and constants", "[filter]") {
  // a non-contiguous input equals the blur of its contiguous copy
  Generator gen(7);
  Tensor<double> x = randn<double>({6, 2, 9, 10}, gen);
  Tensor<double> v = x.permute({1, 0, 3, 2});  // (2, 6, 10, 9)
  CHECK_CLOSE(gaussian_blur2d(v, 1.3), gaussian_blur2d(v.contiguous(), 1.3), 0, 1e-14);
  // a constant stays constant with both paddings (weights sum to 1)
  Tensor<double> k = full<double>({3, 5}, 2.5, Device::cpu());
  CHECK_CLOSE(gaussian_blur2d(k, 4.0), k, 0, 1e-13);
  CHECK_CLOSE(gaussian_blur2d(k, 0.5, 4.0, BlurPadding::torch_reflect), k, 0, 1e-13);
  // gradcheck through a strided view with the torch padding
  Tensor<double> s = randn<double>({2, 7, 8}, gen).requires_grad_();
  CHECK_GRADCHECK([](const auto& in) { return gaussian_blur2d(in[0].transpose(1, 2), 1.0, 3.0, BlurPadding::torch_reflect); },
                  std::vector<Tensor<double>>{s});
}

TEST_CASE("gaussian_blur2d errors", "[filter]") {
  CHECK_THROWS_PACKD(gaussian_blur2d(ones<float>({5})), "gaussian_blur2d: expected a tensor of rank >= 2");
  CHECK_THROWS_PACKD(gaussian_blur2d(ones<float>({5, 5}), 0.0), "gaussian_blur2d: sigma must be positive");
  CHECK_THROWS_PACKD(gaussian_blur2d(ones<float>({5, 5}), 1.0, -1.0), "gaussian_blur2d: truncate must be >= 0");
  CHECK_THROWS_PACKD(gaussian_blur2d(ones<float>({1, 1, 20, 16}), 4.0, 4.0, BlurPadding::torch_reflect),
                     "gaussian_blur2d: torch_reflect padding needs the radius (16) to be smaller than H and W");
}

TEST_CASE("gaussian_blur2d threaded paths equal the serial ones", "[filter]") {
  Generator gen(14);
  Tensor<double> x = randn<double>({3, 2, 70, 90}, gen), g = randn<double>({3, 2, 70, 90}, gen);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    std::vector<Tensor<double>> r;
    for (BlurPadding p : {BlurPadding::scipy_reflect, BlurPadding::torch_reflect}) {
      Tensor<double> xl = x.detach().requires_grad_();
      Tensor<double> y = gaussian_blur2d(xl, 4.0, 4.0, p);
      y.backward(g);
      r.push_back(y.detach());
      r.push_back(xl.grad());
    }
    // one large plane: each pass split over rows
    Tensor<double> big = x.reshape({210, 180}).detach().requires_grad_();
    Tensor<double> yb = gaussian_blur2d(big, 4.0);
    yb.backward(g.reshape({210, 180}));
    r.push_back(yb.detach());
    r.push_back(big.grad());
    return r;
  };
  auto serial = run(1), threaded = run(4);
  omp_set_num_threads(2);
  for (std::size_t i = 0; i < serial.size(); ++i) CHECK_CLOSE(threaded[i], serial[i], 0, 0);
  // adjoint identity <B x, g> = <x, B^T g> at this size
  CHECK(sum(serial[0] * g).item() == Approx(sum(x * serial[1]).item()).epsilon(1e-12));
}

TEST_CASE("distance, resize and filter kernels agree across SIMD ISAs", "[filter]") {
  // simd_run compiles the hot loops for AVX-512, AVX2 and baseline x86-64; run each one this CPU has
  Generator gen(16);
  Tensor<double> x = randn<double>({2, 3, 37, 41}, gen), y = randn<double>({2, 3, 37, 41}, gen);
  auto run = [&] {
    Tensor<double> xl = x.detach().requires_grad_(), yl = y.detach().requires_grad_();
    Tensor<double> out = sum(gaussian_blur2d(xl, 2.0) * yl) + sum(cosine_similarity(xl, yl, 1)) +
                         sum(interpolate(xl, std::array<int64_t, 2>{50, 29}, InterpMode::bilinear, false) *
                             interpolate(yl, std::array<int64_t, 2>{50, 29}, InterpMode::bilinear, true)) +
                         sum(normalize(xl, 2.0, 1) * yl) + sum(softmax(xl, 1) * yl);
    out.backward();
    return std::vector<Tensor<double>>{out.detach(), xl.grad(), yl.grad()};
  };
  const cpu::SimdIsa best = cpu::detect_simd_isa();
  const auto ref = run();
  for (cpu::SimdIsa isa : {cpu::SimdIsa::avx2, cpu::SimdIsa::generic}) {
    if (int(isa) > int(best)) continue;
    INFO("isa " << int(isa));
    cpu::simd_isa() = isa;
    const auto r = run();
    for (std::size_t i = 0; i < r.size(); ++i) CHECK_CLOSE(r[i], ref[i], 1e-12, 1e-12);
  }
  cpu::simd_isa() = best;
}
