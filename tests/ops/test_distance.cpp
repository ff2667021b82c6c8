// cosine_similarity and normalize: PyTorch 1.13 parity (float32) and float64 gradcheck on the
// fixture cases (tests/reference/make_distance_fixtures.py), PyTorch 1.13's eps semantics and its
// gradient at zero and tiny vectors, and errors.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_against_torch;
using packd::testing::check_op;

namespace {
const char* kFamily = "distance";
}

TEST_CASE("cosine_similarity matches PyTorch", "[distance]") {
  check_op(kFamily, "cos_nchw", [](const auto& in) { return cosine_similarity(in[0], in[1], 1); });
  check_op(kFamily, "cos_last", [](const auto& in) { return cosine_similarity(in[0], in[1], -1); });
  check_op(kFamily, "cos_dim0", [](const auto& in) { return cosine_similarity(in[0], in[1], 0); });
  check_op(kFamily, "cos_bcast", [](const auto& in) { return cosine_similarity(in[0], in[1], 1); });
  check_op(kFamily, "cos_bcast_rank", [](const auto& in) { return cosine_similarity(in[0], in[1], -1); });
  check_op(kFamily, "cos_noncontig",
           [](const auto& in) { return cosine_similarity(in[0].permute({2, 3, 1, 0}), in[1], 1); });
}

TEST_CASE("cosine_similarity eps semantics match PyTorch 1.13", "[distance]") {
  // zero rows and norms below eps, on one side and on both: values and gradients (~1e8) as torch
  // (no gradcheck here: the finite-difference step is larger than the vectors)
  check_against_torch(kFamily, "cos_eps", [](const auto& in) { return cosine_similarity(in[0], in[1], 1); });
  check_against_torch(kFamily, "cos_eps_both", [](const auto& in) { return cosine_similarity(in[0], in[1], 1); });
  check_against_torch(kFamily, "cos_eps_nchw", [](const auto& in) { return cosine_similarity(in[0], in[1], 1); });

  // Hand-checked against torch 1.13 in float64: each norm is clamped on its own (not the product)
  auto run = [](std::vector<double> a, std::vector<double> b) {
    Tensor<double> x1 = from_vector<double>(a).requires_grad_(), x2 = from_vector<double>(b).requires_grad_();
    Tensor<double> y = cosine_similarity(x1, x2, 0, 1e-8);
    y.backward();
    return std::tuple{y.item(), x1.grad().to_vector(), x2.grad().to_vector()};
  };
  {
    auto [y, g1, g2] = run({0, 0}, {1, 2});  // a zero vector: 0, gradient x2n / eps
    CHECK(y == 0.0);
    CHECK(g1[0] == Approx(44721359.549995795));
    CHECK(g1[1] == Approx(89442719.09999159));
    CHECK(g2[0] == 0.0);
  }
  {
    auto [y, g1, g2] = run({0, 0}, {0, 0});
    CHECK(y == 0.0);
    CHECK(g1[0] == 0.0);
    CHECK(g2[1] == 0.0);
  }
  {
    auto [y, g1, g2] = run({1e-9, 0}, {1e3, 0});  // product clamping would give 1
    CHECK(y == Approx(0.1));
    CHECK(g1[0] == Approx(99000000.0));
    CHECK(g2[0] == Approx(0.0).margin(1e-12));
  }
  {
    auto [y, g1, g2] = run({1e-9, 0}, {1e-9, 0});
    CHECK(y == Approx(0.01));
    CHECK(g1[0] == Approx(9900000.0));
    CHECK(g2[0] == Approx(9900000.0));
  }
  {
    auto [y, g1, g2] = run({3e-9, 4e-9}, {1, 0});
    CHECK(y == Approx(0.3));
    CHECK(g1[0] == Approx(91000000.0));
    CHECK(g1[1] == Approx(-12000000.0));
    CHECK(g2[1] == Approx(0.4));
  }
}

TEST_CASE("normalize matches PyTorch", "[distance]") {
  check_op(kFamily, "normalize_nchw", [](const auto& in) { return normalize(in[0], 2.0, 1); });
  check_op(kFamily, "normalize_last", [](const auto& in) { return normalize(in[0], 2.0, -1); });
  check_op(kFamily, "normalize_noncontig", [](const auto& in) { return normalize(in[0].transpose(0, 2), 2.0, 1); });
  // zero, tiny (< 1e-12) and small rows: x / eps and gradient g / eps where clamped
  check_against_torch(kFamily, "normalize_eps", [](const auto& in) { return normalize(in[0], 2.0, 1); });
}

TEST_CASE("distance errors", "[distance]") {
  CHECK_THROWS_PACKD(cosine_similarity(ones<float>({2, 3}), ones<float>({2, 4})),
                     "cosine_similarity: shapes (2, 3) and (2, 4) cannot be broadcast");
  CHECK_THROWS_PACKD(cosine_similarity(ones<float>({2, 3}), ones<float>({2, 3}), 2), "cosine_similarity: dim 2");
  CHECK_THROWS_PACKD(normalize(ones<float>({2, 3}), 1.0), "normalize: only p = 2");
  CHECK_THROWS_PACKD(normalize(ones<float>({2, 3}), 2.0, -3), "normalize: dim -3 is out of range for shape (2, 3)");
}

TEST_CASE("distance threaded paths equal the serial ones", "[distance]") {
  Generator gen(12);
  Tensor<double> a = randn<double>({3, 70, 24, 40}, gen), b = randn<double>({3, 70, 24, 40}, gen);
  Tensor<double> g = randn<double>({3, 24, 40}, gen), gn = randn<double>({3, 70, 24, 40}, gen);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Tensor<double> x1 = a.detach().requires_grad_(), x2 = b.detach().requires_grad_();
    Tensor<double> y = cosine_similarity(x1, x2, 1);
    y.backward(g);
    Tensor<double> x3 = a.detach().requires_grad_();
    Tensor<double> z = normalize(x3, 2.0, 1);
    z.backward(gn);
    return std::vector<Tensor<double>>{y.detach(), x1.grad(), x2.grad(), z.detach(), x3.grad()};
  };
  auto serial = run(1), threaded = run(4);
  omp_set_num_threads(2);
  for (std::size_t i = 0; i < serial.size(); ++i) CHECK_CLOSE(threaded[i], serial[i], 0, 0);
  // and the value against the definition, computed naively for one position
  const double n1 = std::sqrt(sum(a.select(0, 1).select(1, 5).select(1, 7) * a.select(0, 1).select(1, 5).select(1, 7)).item());
  const double n2 = std::sqrt(sum(b.select(0, 1).select(1, 5).select(1, 7) * b.select(0, 1).select(1, 5).select(1, 7)).item());
  const double dot = sum(a.select(0, 1).select(1, 5).select(1, 7) * b.select(0, 1).select(1, 5).select(1, 7)).item();
  CHECK(serial[0].at({1, 5, 7}) == Approx(dot / (n1 * n2)).epsilon(1e-12));
}
