// Reductions: PyTorch parity and float64 gradcheck on fixture cases, keepdim/dims handling,
// tie and NaN behaviour, errors.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kFamily = "core_reduce";
}

TEST_CASE("sum and mean match PyTorch", "[reduce]") {
  check_op(kFamily, "sum_all", [](const auto& in) { return sum(in[0]); });
  check_op(kFamily, "sum_dim1", [](const auto& in) { return sum(in[0], {1}); });
  check_op(kFamily, "sum_dims02_keep", [](const auto& in) { return sum(in[0], {0, 2}, true); });
  check_op(kFamily, "sum_permuted", [](const auto& in) { return sum(in[0].permute({2, 0, 1}), {1}); });
  check_op(kFamily, "mean_dims12_keep", [](const auto& in) { return mean(in[0], {1, 2}, true); });
  check_op(kFamily, "mean_all", [](const auto& in) { return mean(in[0]); });
}

TEST_CASE("amax, amin, argmax and argmin match PyTorch", "[reduce]") {
  check_op(kFamily, "amax_dim1", [](const auto& in) { return amax(in[0], {1}); });
  check_op(kFamily, "amin_dims01", [](const auto& in) { return amin(in[0], {0, 1}); });
  check_op(kFamily, "amax_all", [](const auto& in) { return amax(in[0]); });
  check_op(kFamily, "argmax_dim1", [](const auto& in) { return argmax(in[0], 1); });
  check_op(kFamily, "argmin_dim0_keep", [](const auto& in) { return argmin(in[0], 0, true); });
  check_op(kFamily, "argmax_flat", [](const auto& in) { return argmax(in[0]); });
}

TEST_CASE("var matches PyTorch", "[reduce]") {
  check_op(kFamily, "var_dim1", [](const auto& in) { return var(in[0], {1}); });
  check_op(kFamily, "var_all_biased", [](const auto& in) { return var(in[0], {}, 0); });
  check_op(kFamily, "var_dims02_keep", [](const auto& in) { return var(in[0], {0, 2}, 1, true); });
}

TEST_CASE("max gradient is split between ties, argmax takes the first", "[reduce]") {
  Tensor<double> x = from_vector<double>({1.0, 3.0, 3.0, 2.0}).requires_grad_();
  Tensor<double> m = max(x);
  m.backward();
  CHECK(m.item() == 3.0);
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0.5, 0.5, 0});
  CHECK(argmax(x.detach()).item() == 1);
  CHECK(argmin(from_vector<double>({2.0, 1.0, 1.0})).item() == 1);
}

TEST_CASE("amax of -inf values is -inf (a fully masked row), its gradient split evenly", "[reduce]") {
  for (Device dev : testing::test_devices()) {
    INFO("on " << dev);
    const float inf = std::numeric_limits<float>::infinity();
    Tensor<float> x = from_vector<float>({-inf, -inf, 1.0f, 2.0f}, {2, 2}).to(dev).requires_grad_();
    Tensor<float> m = amax(x, {1});
    CHECK(m.to(Device::cpu()).to_vector() == std::vector<float>{-inf, 2.0f});
    sum(m).backward();
    CHECK(x.grad().to(Device::cpu()).to_vector() == std::vector<float>{0.5f, 0.5f, 0.0f, 1.0f});
    CHECK(amin(from_vector<float>({inf, inf}).to(dev)).item() == inf);
  }
}

TEST_CASE("NaN propagates through max and wins argmax", "[reduce]") {
  Tensor<float> x = from_vector<float>({1.0f, NAN, 5.0f});
  CHECK(std::isnan(amax(x).item()));
  CHECK(std::isnan(amin(x).item()));
  CHECK(argmax(x).item() == 1);
}

TEST_CASE("large reductions split across threads agree with a serial sum", "[reduce]") {
  Generator gen(3);
  Tensor<float> x = rand<float>({1 << 20}, gen);
  double expected = 0;
  for (float v : x.to_vector()) expected += v;
  CHECK(sum(x).item() == Approx(expected).epsilon(1e-6));
  Tensor<float> y = x.reshape({256, 4096});
  Tensor<float> rows = sum(y, {1});
  Tensor<float> cols = sum(y, {0});
  CHECK(sum(rows).item() == Approx(expected).epsilon(1e-5));
  CHECK(sum(cols).item() == Approx(expected).epsilon(1e-5));
}

TEST_CASE("reductions over empty and repeated dims", "[reduce]") {
  CHECK(sum(zeros<float>({0, 3}), {0}).to_vector() == std::vector<float>{0, 0, 0});
  CHECK(std::isnan(mean(zeros<float>({0}), {0}).item()));
  CHECK_THROWS_PACKD(amax(zeros<float>({0, 3}), {0}), "amax: cannot reduce over an empty dimension of shape (0, 3)");
  CHECK_THROWS_PACKD(sum(ones<float>({2, 3}), {1, -1}), "appears twice");
  CHECK_THROWS_PACKD(sum(ones<float>({2, 3}), {2}), "sum: dimension 2 is out of range for a tensor of rank 2");
  CHECK(sum(scalar_tensor(4.0f), {0}).item() == 4.0f);
}

TEST_CASE("sum_to reduces a broadcast result back to its input shape", "[reduce]") {
  Tensor<double> g = ones<double>({2, 3, 4});
  CHECK(sum_to(g, {3, 1}).to_vector() == std::vector<double>{8, 8, 8});
  CHECK(sum_to(g, {}).item() == 24.0);
  CHECK(sum_to(g, {1, 4}).shape() == Shape{1, 4});
  CHECK_THROWS_PACKD(sum_to(g, {5}), "does not broadcast");
}
