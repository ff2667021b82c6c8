// max_pool2d, avg_pool2d, adaptive_avg_pool2d: PyTorch parity (float32; values, indices and
// input gradients) and float64 gradcheck on odd shapes, ceil_mode, dilation, padding, 3-D and
// non-contiguous inputs; then argument errors.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kFamily = "pool";
}

TEST_CASE("max_pool2d matches PyTorch", "[pool]") {
  check_op(kFamily, "max_k3s2p1", [](const auto& in) { return max_pool2d(in[0], 3, 2, 1); });
  check_op(kFamily, "max_k2_default_stride", [](const auto& in) { return max_pool2d(in[0], 2); });
  check_op(kFamily, "max_ceil", [](const auto& in) { return max_pool2d(in[0], 3, 2, 0, 1, true); });
  check_op(kFamily, "max_ceil_drop_last", [](const auto& in) { return max_pool2d(in[0], 2, 2, 1, 1, true); });
  check_op(kFamily, "max_dilation", [](const auto& in) { return max_pool2d(in[0], 3, 1, 1, 2); });
  check_op(kFamily, "max_rect", [](const auto& in) { return max_pool2d(in[0], {2, 3}, {1, 2}, {1, 0}, {2, 1}, true); });
  check_op(kFamily, "max_3d", [](const auto& in) { return max_pool2d(in[0], 3, 2, 1); });
  check_op(kFamily, "max_noncontig", [](const auto& in) { return max_pool2d(in[0].transpose(2, 3), 3, 2, 1); });
}

TEST_CASE("max_pool2d_with_indices returns PyTorch's indices", "[pool]") {
  check_op(kFamily, "max_k3s2p1_indices", [](const auto& in) { return max_pool2d_with_indices(in[0], 3, 2, 1).second; });
  check_op(kFamily, "max_rect_indices",
           [](const auto& in) { return max_pool2d_with_indices(in[0], {2, 3}, {1, 2}, {1, 0}, {2, 1}, true).second; });
  // NaN wins its window, and its gradient goes there
  Tensor<double> x = from_vector<double>({1, 2, std::nan(""), 0}, {1, 1, 2, 2}).requires_grad_();
  auto [v, i] = max_pool2d_with_indices(x, 2);
  CHECK(std::isnan(v.item()));
  CHECK(i.item() == 2);
  v.backward(ones<double>({1, 1, 1, 1}));
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 1, 0});
}

TEST_CASE("avg_pool2d matches PyTorch", "[pool]") {
  check_op(kFamily, "avg_k3s2p1", [](const auto& in) { return avg_pool2d(in[0], 3, 2, 1); });
  check_op(kFamily, "avg_k3s2p1_exclude_pad", [](const auto& in) { return avg_pool2d(in[0], 3, 2, 1, false, false); });
  check_op(kFamily, "avg_ceil", [](const auto& in) { return avg_pool2d(in[0], 3, 2, 1, true); });
  check_op(kFamily, "avg_ceil_exclude_pad", [](const auto& in) { return avg_pool2d(in[0], 3, 2, 1, true, false); });
  check_op(kFamily, "avg_rect", [](const auto& in) { return avg_pool2d(in[0], {2, 4}, {3, 1}, {1, 2}); });
  check_op(kFamily, "avg_3d_noncontig", [](const auto& in) { return avg_pool2d(in[0].transpose(1, 2), 2); });
}

TEST_CASE("adaptive_avg_pool2d matches PyTorch", "[pool]") {
  check_op(kFamily, "adaptive_3x4", [](const auto& in) { return adaptive_avg_pool2d(in[0], {3, 4}); });
  check_op(kFamily, "adaptive_1x1", [](const auto& in) { return adaptive_avg_pool2d(in[0], 1); });
  check_op(kFamily, "adaptive_upsample", [](const auto& in) { return adaptive_avg_pool2d(in[0], {6, 5}); });
  check_op(kFamily, "adaptive_3d_noncontig", [](const auto& in) { return adaptive_avg_pool2d(in[0].transpose(1, 2), {2, 3}); });
}

TEST_CASE("pooling refuses bad arguments", "[pool]") {
  Tensor<float> x = ones<float>({1, 2, 5, 5});
  CHECK_THROWS_PACKD(max_pool2d(ones<float>({5, 5}), 2), "max_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape (5, 5)");
  CHECK_THROWS_PACKD(max_pool2d(x, 3, 1, 2), "max_pool2d: pad should be at least zero and at most half of kernel size, got padding (2, 2) and kernel (3, 3)");
  CHECK_THROWS_PACKD(max_pool2d(x, 0), "max_pool2d: kernel size should be greater than zero");
  CHECK_THROWS_PACKD(max_pool2d(x, 2, 0), "max_pool2d: stride should be greater than zero");
  CHECK_THROWS_PACKD(max_pool2d(x, 2, 1, 0, 0), "max_pool2d: dilation should be greater than zero");
  CHECK_THROWS_PACKD(max_pool2d(x, 4, 1, 0, 2), "max_pool2d: given input of shape (1, 2, 5, 5), the calculated output size (-1, -1) is too small");
  CHECK_THROWS_PACKD(avg_pool2d(x, 6), "avg_pool2d: given input of shape (1, 2, 5, 5), the calculated output size (0, 0) is too small");
  CHECK_THROWS_PACKD(avg_pool2d(x, 2, 2, 2), "avg_pool2d: pad should be at least zero and at most half");
  CHECK_THROWS_PACKD(adaptive_avg_pool2d(x, {0, 2}), "adaptive_avg_pool2d: output size must be positive");
  CHECK_THROWS_PACKD(adaptive_avg_pool2d(ones<float>({2, 5}), 2), "adaptive_avg_pool2d: expected a 3-D");
}

TEST_CASE("max_pool2d 3x3 s2 p1 as in WideResNet's stem", "[pool]") {
  Generator gen(5);
  Tensor<double> x = randn<double>({2, 4, 16, 15}, gen).requires_grad_();
  Tensor<double> y = max_pool2d(x, 3, 2, 1);
  CHECK(y.shape() == Shape{2, 4, 8, 8});
  CHECK_GRADCHECK([](const auto& in) { return max_pool2d(in[0], 3, 2, 1); }, (std::vector<Tensor<double>>{x}));
}

TEST_CASE("max_pool2d: a dilated window wholly in the padding gives -inf and no gradient", "[pool]") {
  for (Device dev : testing::test_devices()) {
    INFO("on " << dev);
    // H = W = 2, kernel 2, dilation 3, padding 1: output (1, 1) whose window rows/cols are -1 and 2
    Tensor<float> x = from_vector<float>({1, 2, 3, 4}, {1, 1, 2, 2}).to(dev).requires_grad_();
    Tensor<float> y = max_pool2d(x, {2, 2}, {1, 1}, {1, 1}, {3, 3});
    REQUIRE(y.shape() == Shape{1, 1, 1, 1});
    CHECK(y.to(Device::cpu()).item() == -std::numeric_limits<float>::infinity());
    sum(y).backward();
    CHECK(x.grad().to(Device::cpu()).to_vector() == std::vector<float>(4, 0.0f));
  }
}
