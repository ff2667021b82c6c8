// linear: PyTorch parity (float32) and float64 gradcheck for 1-D, 2-D, batched and non-contiguous
// inputs, with and without bias; errors.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kFamily = "linear";
}

TEST_CASE("linear matches PyTorch", "[linear]") {
  check_op(kFamily, "linear_2d", [](const auto& in) { return linear(in[0], in[1], in[2]); }, 1e-5, 1e-5);
  check_op(kFamily, "linear_3d_nobias", [](const auto& in) { return linear(in[0], in[1]); }, 1e-5, 1e-5);
  check_op(kFamily, "linear_1d", [](const auto& in) { return linear(in[0], in[1], in[2]); }, 1e-5, 1e-5);
  check_op(kFamily, "linear_noncontig", [](const auto& in) { return linear(in[0].permute({1, 2, 0}), in[1], in[2]); }, 1e-5, 1e-5);
  check_op(kFamily, "linear_transposed_weight", [](const auto& in) { return linear(in[0], in[1].t(), in[2]); }, 1e-5, 1e-5);
}

TEST_CASE("linear flattens contiguous leading dims without a copy", "[linear]") {
  Generator gen(2);
  Tensor<float> x = randn<float>({4, 3, 8}, gen), w = randn<float>({5, 8}, gen);
  Tensor<float> y = linear(x, w);
  CHECK(y.shape() == Shape{4, 3, 5});
  CHECK_CLOSE(y, matmul(x, w.t()), 1e-5, 1e-5);
}

TEST_CASE("linear refuses bad shapes", "[linear]") {
  Tensor<float> x = ones<float>({2, 3});
  CHECK_THROWS_PACKD(linear(x, ones<float>({4, 5})), "linear: input of shape (2, 3) does not end in in_features = 5");
  CHECK_THROWS_PACKD(linear(x, ones<float>({3})), "linear: weight must be 2-D");
  CHECK_THROWS_PACKD(linear(x, ones<float>({4, 3}), ones<float>({3})), "linear: bias of shape (3,) does not match the 4 out_features");
}
