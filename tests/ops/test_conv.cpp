// conv2d and conv_transpose2d: PyTorch parity (float32) and float64 gradcheck of every input
// (x, weight, bias) on strides, padding, dilation, groups, 1x1 and non-contiguous inputs; errors.
#include "packd/ops/conv.hpp"

#include "testing.hpp"

using namespace packd;
namespace {
// Outputs are sums of up to C*KH*KW products of N(0, 1) values, so float32 round-off reaches
// ~1e-6 in absolute terms even where the result is small: an absolute tolerance of 2e-5.
template <class F>
void check_op(const char* name, F fn) {
  packd::testing::check_op("conv", name, fn, 1e-5, 2e-5);
}

Conv2dOptions opts(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation = {1, 1},
                   int64_t groups = 1, std::array<int64_t, 2> output_padding = {0, 0}) {
  Conv2dOptions o;
  o.stride = stride, o.padding = padding, o.dilation = dilation, o.groups = groups, o.output_padding = output_padding;
  return o;
}
}  // namespace

TEST_CASE("conv2d matches PyTorch", "[conv]") {
  check_op("conv3x3_bias", [](const auto& in) { return conv2d(in[0], in[1], in[2], opts({1, 1}, {1, 1})); });
  check_op("conv_stride_pad_dil", [](const auto& in) {
    using T = typename std::decay_t<decltype(in[0])>::value_type;
    return conv2d(in[0], in[1], Tensor<T>(), opts({2, 2}, {1, 2}, {2, 1}));
  });
  check_op("conv_groups", [](const auto& in) { return conv2d(in[0], in[1], in[2], opts({1, 1}, {1, 1}, {1, 1}, 2)); });
  check_op("conv_depthwise", [](const auto& in) {
    using T = typename std::decay_t<decltype(in[0])>::value_type;
    return conv2d(in[0], in[1], Tensor<T>(), opts({1, 2}, {1, 1}, {1, 1}, 3));
  });
  check_op("conv1x1", [](const auto& in) { return conv2d(in[0], in[1], in[2]); });
  check_op("conv1x1_stride2", [](const auto& in) {
    using T = typename std::decay_t<decltype(in[0])>::value_type;
    return conv2d(in[0], in[1], Tensor<T>(), opts({2, 2}, {0, 0}));
  });
  check_op("conv7x7_stem", [](const auto& in) {
    using T = typename std::decay_t<decltype(in[0])>::value_type;
    return conv2d(in[0], in[1], Tensor<T>(), opts({2, 2}, {3, 3}));
  });
  check_op("conv_noncontig", [](const auto& in) {
    using T = typename std::decay_t<decltype(in[0])>::value_type;
    return conv2d(in[0].transpose(2, 3), in[1], Tensor<T>(), opts({1, 1}, {1, 1}));
  });
}

TEST_CASE("conv_transpose2d matches PyTorch", "[conv]") {
  check_op("convT_k2s2", [](const auto& in) {
    using T = typename std::decay_t<decltype(in[0])>::value_type;
    return conv_transpose2d(in[0], in[1], Tensor<T>(), opts({2, 2}, {0, 0}));
  });
  check_op("convT_k3s2_outpad_bias",
           [](const auto& in) { return conv_transpose2d(in[0], in[1], in[2], opts({2, 2}, {1, 1}, {1, 1}, 1, {1, 1})); });
  check_op("convT_groups_dil", [](const auto& in) {
    using T = typename std::decay_t<decltype(in[0])>::value_type;
    return conv_transpose2d(in[0], in[1], Tensor<T>(), opts({1, 1}, {1, 1}, {2, 2}, 2));
  });
  check_op("convT_k2s2_noncontig", [](const auto& in) {
    using T = typename std::decay_t<decltype(in[0])>::value_type;
    return conv_transpose2d(in[0].transpose(2, 3), in[1], Tensor<T>(), opts({2, 2}, {0, 0}));
  });
}

TEST_CASE("conv2d on larger shapes agrees with a float64 run", "[conv]") {
  Generator gen(5);
  Tensor<float> x = randn<float>({2, 32, 17, 19}, gen), w = randn<float>({24, 32, 3, 3}, gen), b = randn<float>({24}, gen);
  Tensor<double> ref = conv2d(x.to<double>(), w.to<double>(), b.to<double>(), opts({1, 1}, {1, 1}));
  CHECK_CLOSE(conv2d(x, w, b, opts({1, 1}, {1, 1})), ref, 1e-4, 1e-4);
}

TEST_CASE("convolutions reject inconsistent shapes with the op and the shapes", "[conv]") {
  Tensor<float> x = ones<float>({1, 4, 5, 5}), none;
  CHECK_THROWS_PACKD(conv2d(x, ones<float>({2, 3, 3, 3})), "conv2d: the input (1, 4, 5, 5) has 4 channels, but the weight (2, 3, 3, 3)");
  CHECK_THROWS_PACKD(conv2d(x, ones<float>({2, 4, 7, 7})), "conv2d: the kernel of shape (2, 4, 7, 7)");
  CHECK_THROWS_PACKD(conv2d(x, ones<float>({3, 2, 3, 3}), none, opts({1, 1}, {0, 0}, {1, 1}, 2)), "conv2d: groups=2 must divide");
  CHECK_THROWS_PACKD(conv2d(x, ones<float>({2, 4, 3, 3}), ones<float>({3})), "conv2d: bias of shape (3,) for 2 output channels");
  CHECK_THROWS_PACKD(conv2d(ones<float>({4, 5, 5}), ones<float>({2, 4, 3, 3})), "conv2d: expects the input as (N, C, H, W)");
  CHECK_THROWS_PACKD(conv2d(x, ones<float>({2, 4, 3, 3}), none, opts({0, 1}, {0, 0})), "conv2d: stride must be positive");
  CHECK_THROWS_PACKD(conv_transpose2d(x, ones<float>({3, 2, 2, 2})), "conv_transpose2d: the input (1, 4, 5, 5) has 4 channels");
  CHECK_THROWS_PACKD(conv_transpose2d(x, ones<float>({4, 2, 2, 2}), none, opts({2, 2}, {0, 0}, {1, 1}, 1, {2, 0})),
                     "output_padding");
}
