// Elementwise ops: PyTorch parity (float32) and float64 gradcheck on the fixture cases, then
// broadcasting rules, in-place ops and errors.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kFamily = "core_elementwise";
}

TEST_CASE("binary ops with broadcasting match PyTorch", "[elementwise]") {
  check_op(kFamily, "add_bcast", [](const auto& in) { return add(in[0], in[1]); });
  check_op(kFamily, "sub_bcast", [](const auto& in) { return in[0] - in[1]; });
  check_op(kFamily, "mul_bcast", [](const auto& in) { return in[0] * in[1]; });
  check_op(kFamily, "div", [](const auto& in) { return div(in[0], in[1]); });
  check_op(kFamily, "div_bcast", [](const auto& in) { return in[0] / in[1]; });
  check_op(kFamily, "pow_tensor", [](const auto& in) { return pow(in[0], in[1]); });
}

TEST_CASE("unary ops match PyTorch", "[elementwise]") {
  check_op(kFamily, "neg", [](const auto& in) { return -in[0]; });
  check_op(kFamily, "exp", [](const auto& in) { return exp(in[0]); });
  check_op(kFamily, "log", [](const auto& in) { return log(in[0]); });
  check_op(kFamily, "sqrt", [](const auto& in) { return sqrt(in[0]); });
  check_op(kFamily, "rsqrt", [](const auto& in) { return rsqrt(in[0]); });
  check_op(kFamily, "abs", [](const auto& in) { return abs(in[0]); });
  check_op(kFamily, "relu", [](const auto& in) { return relu(in[0]); });
  check_op(kFamily, "sigmoid", [](const auto& in) { return sigmoid(in[0]); });
  check_op(kFamily, "tanh", [](const auto& in) { return tanh(in[0]); });
  check_op(kFamily, "clamp", [](const auto& in) { return clamp(in[0], -0.5, 0.7); });
  check_op(kFamily, "pow_scalar", [](const auto& in) { return pow(in[0], 2.5); });
}

TEST_CASE("where and comparisons match PyTorch", "[elementwise]") {
  check_op(kFamily, "where", [](const auto& in) { return where(in[0], in[1], in[2]); });
  check_op(kFamily, "eq", [](const auto& in) { return eq(in[0], in[1]); });
  check_op(kFamily, "ne", [](const auto& in) { return ne(in[0], in[1]); });
  check_op(kFamily, "lt", [](const auto& in) { return lt(in[0], in[1]); });
  check_op(kFamily, "le", [](const auto& in) { return le(in[0], in[1]); });
  check_op(kFamily, "gt", [](const auto& in) { return gt(in[0], in[1]); });
  check_op(kFamily, "ge", [](const auto& in) { return ge(in[0], in[1]); });
}

TEST_CASE("non-contiguous inputs match PyTorch", "[elementwise]") {
  check_op(kFamily, "mul_noncontig", [](const auto& in) { return in[0].t() * in[1].slice(1, 0, 10, 2); });
  check_op(kFamily, "exp_noncontig", [](const auto& in) { return exp(in[0].t().slice(0, 1, 5)); });
}

TEST_CASE("scalar operands and 0-d tensors", "[elementwise]") {
  Tensor<double> x = arange<double>(0.0, 6.0).reshape({2, 3});
  CHECK(((2.0 * x + 1.0) - x / 2.0).at({1, 2}) == Approx(2 * 5 + 1 - 2.5));
  CHECK((1.0 - x).at({0, 1}) == 0.0);
  CHECK((6.0 / (x + 1.0)).at({1, 2}) == 1.0);
  Tensor<double> s = scalar_tensor(3.0);
  CHECK((x * s).shape() == Shape{2, 3});
  CHECK(sum(x * s).item() == Approx(45.0));
  // gradients through scalar forms
  auto fn = [](const auto& in) { return 3.0 - in[0] / 2.0 + pow(in[0], 2.0) * 0.5; };
  Tensor<double> y = arange<double>(1.0, 5.0).requires_grad_();
  CHECK(gradcheck(fn, {y}).ok);
}

TEST_CASE("broadcasting follows NumPy's rules", "[elementwise]") {
  CHECK(broadcast_shapes({5, 1, 4}, {3, 1}, "t") == Shape{5, 3, 4});
  CHECK(broadcast_shapes({}, {2, 2}, "t") == Shape{2, 2});
  CHECK(broadcast_shapes({0, 1}, {1, 3}, "t") == Shape{0, 3});
  CHECK_THROWS_PACKD(add(ones<float>({2, 3}), ones<float>({4})), "add: shapes (2, 3) and (4,) cannot be broadcast");
  CHECK_THROWS_PACKD(where(ones<float>({2}), ones<float>({3}), ones<float>({3})), "where");
  // empty tensors flow through
  CHECK(add(ones<float>({0, 3}), ones<float>({3})).shape() == Shape{0, 3});
}

TEST_CASE("in-place ops write through views and bump the version", "[elementwise]") {
  Tensor<float> x = zeros<float>({3, 4});
  const uint64_t v0 = x.version();
  Tensor<float> col = x.select(1, 2);  // a strided view
  add_(col, ones<float>({3}), 2.0f);
  CHECK(x.at({1, 2}) == 2.0f);
  CHECK(x.at({1, 1}) == 0.0f);
  CHECK(x.version() > v0);
  mul_(x, 3.0f);
  CHECK(x.at({2, 2}) == 6.0f);
  sub_(x, ones<float>({4}));
  div_(x, full<float>({1}, 2.0f));
  CHECK(x.at({0, 2}) == 2.5f);
  CHECK_THROWS_PACKD(add_(col, ones<float>({2, 3})), "would not fit in place");
}

TEST_CASE("in-place changes to tensors that require grad are refused", "[elementwise]") {
  Tensor<double> w = ones<double>({2}).requires_grad_();
  CHECK_THROWS_PACKD(mul_(w, 2.0), "mul_: in-place change of a tensor of shape (2,) that requires grad");
  {
    NoGradGuard g;  // as an optimiser does
    mul_(w, 2.0);
  }
  CHECK(w.at({0}) == 2.0);
}

TEST_CASE("relu, abs and clamp gradients at their kinks follow PyTorch", "[elementwise]") {
  Tensor<double> x = from_vector<double>({-1.0, 0.0, 1.0, 0.5}).requires_grad_();
  sum(relu(x)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 1, 1});
  x.zero_grad();
  sum(abs(x)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{-1, 0, 1, 1});
  x.zero_grad();
  sum(clamp(x, 0.0, 0.5)).backward();  // bounds inclusive
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 0, 1});
}

TEST_CASE("sigmoid is stable for large inputs", "[elementwise]") {
  Tensor<float> x = from_vector<float>({-1000.0f, 1000.0f, 0.0f});
  CHECK(sigmoid(x).to_vector() == std::vector<float>{0.0f, 1.0f, 0.5f});
}

TEST_CASE("int64 tensors support arithmetic but not gradients", "[elementwise]") {
  Tensor<int64_t> a = arange<int64_t>(0, 6).reshape({2, 3});
  CHECK((a * a + a).at({1, 2}) == 30);
  CHECK_THROWS_PACKD(a.requires_grad_(), "only float and double tensors can require gradients");
}
