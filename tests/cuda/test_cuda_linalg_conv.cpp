// CUDA matrix products (cuBLAS) and convolutions (cuDNN): CPU-vs-CUDA parity of the output and
// every input gradient, on transposed / strided / broadcast operands, grouped and dilated
// convolutions, transposed convolutions and WideResNet-sized layers. Every case skips with a
// message without a GPU.
#include "packd/ops/conv.hpp"

#include "cuda_parity.hpp"

using namespace packd;
using packd::testing::check_cuda_parity;
using packd::testing::random_input;

namespace {
using Ins = std::vector<Tensor<float>>;
using InsD = std::vector<Tensor<double>>;

Conv2dOptions opts(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation = {1, 1},
                   int64_t groups = 1, std::array<int64_t, 2> output_padding = {0, 0}) {
  Conv2dOptions o;
  o.stride = stride, o.padding = padding, o.dilation = dilation, o.groups = groups, o.output_padding = output_padding;
  return o;
}

// conv2d(x, w, b) parity; sums of C/groups*KH*KW float products differ in order between the
// backends, hence an absolute tolerance that grows with the reduction length.
void conv_parity(const Shape& x, const Shape& w, bool bias, const Conv2dOptions& o, double atol = 5e-5) {
  Ins in{random_input(x, 1), random_input(w, 2)};
  if (bias) in.push_back(random_input({w[0]}, 3));
  check_cuda_parity(
      [o](const Ins& t) { return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor<float>(), o); }, in, 1e-4, atol);
}

void conv_transpose_parity(const Shape& x, const Shape& w, bool bias, const Conv2dOptions& o, double atol = 5e-5) {
  Ins in{random_input(x, 4), random_input(w, 5)};
  if (bias) in.push_back(random_input({w[1] * o.groups}, 6));
  check_cuda_parity(
      [o](const Ins& t) { return conv_transpose2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor<float>(), o); }, in, 1e-4,
      atol);
}
}  // namespace

TEST_CASE("CUDA mm matches the CPU for every operand layout", "[cuda][linalg]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const int64_t M = 67, K = 301, N = 45;
  Tensor<float> a = random_input({M, K}, 1), b = random_input({K, N}, 2);
  Tensor<float> at = random_input({K, M}, 3), bt = random_input({N, K}, 4);  // stored transposed
  SECTION("row-major operands") { check_cuda_parity([](const Ins& t) { return mm(t[0], t[1]); }, Ins{a, b}, 1e-4, 5e-5); }
  SECTION("column-major (transposed view) operands") {
    check_cuda_parity([](const Ins& t) { return mm(t[0].t(), t[1]); }, Ins{at, b}, 1e-4, 5e-5);
    check_cuda_parity([](const Ins& t) { return mm(t[0], t[1].t()); }, Ins{a, bt}, 1e-4, 5e-5);
    check_cuda_parity([](const Ins& t) { return mm(t[0].t(), t[1].t()); }, Ins{at, bt}, 1e-4, 5e-5);
  }
  SECTION("a leading dimension above the row length, and a doubly strided operand (copied)") {
    Tensor<float> wide = random_input({M, 2 * K + 3}, 5);
    check_cuda_parity([K](const Ins& t) { return mm(t[0].narrow(1, 3, K), t[1]); }, Ins{wide, b}, 1e-4, 5e-5);
    check_cuda_parity([K](const Ins& t) { return mm(t[0].slice(1, 0, 2 * K, 2), t[1]); }, Ins{wide, b}, 1e-4, 5e-5);
  }
  SECTION("vectors and a single row") {
    Tensor<float> v = random_input({K}, 6), row = random_input({1, K}, 7);
    check_cuda_parity([](const Ins& t) { return matmul(t[0], t[1]); }, Ins{v, b}, 1e-4, 5e-5);
    check_cuda_parity([](const Ins& t) { return matmul(t[0], t[1]); }, Ins{a, v}, 1e-4, 5e-5);
    check_cuda_parity([](const Ins& t) { return mm(t[0], t[1]); }, Ins{row, b}, 1e-4, 5e-5);
  }
}

TEST_CASE("CUDA bmm and batched matmul match the CPU", "[cuda][linalg]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> a = random_input({4, 33, 17}, 1), b = random_input({4, 17, 29}, 2), at = random_input({4, 17, 33}, 3);
  check_cuda_parity([](const Ins& t) { return bmm(t[0], t[1]); }, Ins{a, b}, 1e-4, 5e-5);
  check_cuda_parity([](const Ins& t) { return bmm(t[0].transpose(1, 2), t[1]); }, Ins{at, b}, 1e-4, 5e-5);
  // batch dimensions broadcast: one (17, 29) matrix shared by every product
  Tensor<float> shared = random_input({17, 29}, 4);
  check_cuda_parity([](const Ins& t) { return matmul(t[0], t[1]); }, Ins{a, shared}, 1e-4, 5e-5);
  Tensor<float> a4 = random_input({2, 3, 9, 5}, 5), b4 = random_input({3, 5, 7}, 6);
  check_cuda_parity([](const Ins& t) { return matmul(t[0], t[1]); }, Ins{a4, b4}, 1e-4, 5e-5);
}

TEST_CASE("CUDA addmm broadcasts the bias like the CPU", "[cuda][linalg]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> a = random_input({23, 40}, 1), b = random_input({40, 31}, 2);
  for (const Shape& bs : {Shape{31}, Shape{1, 31}, Shape{23, 1}, Shape{23, 31}}) {
    INFO("bias shape " << bs);
    check_cuda_parity([](const Ins& t) { return addmm(t[0], t[1], t[2]); }, Ins{random_input(bs, 3), a, b}, 1e-4, 5e-5);
    check_cuda_parity([](const Ins& t) { return addmm(t[0], t[1], t[2], 0.5, 2.0); }, Ins{random_input(bs, 4), a, b}, 1e-4,
                      5e-5);
  }
  // beta == 0 ignores the bias, NaN included
  Tensor<float> nan_bias = full<float>({2, 2}, NAN).to(Device::cuda(0));
  Tensor<float> out = addmm(nan_bias, ones<float>({2, 3}).to(Device::cuda(0)), ones<float>({3, 2}).to(Device::cuda(0)), 0.0f, 1.0f);
  CHECK(out.to(Device::cpu()).to_vector() == std::vector<float>{3, 3, 3, 3});
}

TEST_CASE("CUDA mm and bmm in double", "[cuda][linalg]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<double> a = random_input<double>({19, 37}, 1), b = random_input<double>({37, 11}, 2);
  check_cuda_parity([](const InsD& t) { return mm(t[0].t().contiguous().t(), t[1]); }, InsD{a, b}, 1e-12, 1e-12);
  Tensor<double> bias = random_input<double>({11}, 3);
  check_cuda_parity([](const InsD& t) { return addmm(t[0], t[1], t[2], 0.25, 3.0); }, InsD{bias, a, b}, 1e-12, 1e-12);
  Tensor<double> x = random_input<double>({3, 8, 6}, 4), y = random_input<double>({3, 6, 5}, 5);
  check_cuda_parity([](const InsD& t) { return bmm(t[0], t[1]); }, InsD{x, y}, 1e-12, 1e-12);
}

TEST_CASE("CUDA conv2d matches the CPU", "[cuda][conv]") {
  PACKD_SKIP_WITHOUT_CUDA();
  SECTION("3x3 stride 1 padding 1, with bias") { conv_parity({2, 8, 13, 11}, {12, 8, 3, 3}, true, opts({1, 1}, {1, 1})); }
  SECTION("3x3 stride 2 padding 1") { conv_parity({2, 8, 13, 11}, {12, 8, 3, 3}, false, opts({2, 2}, {1, 1})); }
  SECTION("1x1, and 1x1 stride 2 with bias") {
    conv_parity({2, 16, 9, 10}, {24, 16, 1, 1}, false, opts({1, 1}, {0, 0}));
    conv_parity({2, 16, 9, 10}, {24, 16, 1, 1}, true, opts({2, 2}, {0, 0}));
  }
  SECTION("grouped and depthwise") {
    conv_parity({2, 12, 10, 9}, {8, 3, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 4));
    conv_parity({2, 6, 10, 9}, {6, 1, 3, 3}, false, opts({1, 2}, {1, 1}, {1, 1}, 6));
  }
  SECTION("dilated, asymmetric stride and padding") {
    conv_parity({2, 5, 15, 14}, {7, 5, 3, 3}, true, opts({1, 1}, {2, 2}, {2, 2}));
    conv_parity({2, 5, 15, 14}, {7, 5, 3, 3}, false, opts({2, 1}, {1, 2}, {2, 1}));
  }
  SECTION("7x7 stride 2 stem") { conv_parity({2, 3, 32, 30}, {16, 3, 7, 7}, false, opts({2, 2}, {3, 3})); }
  SECTION("non-contiguous input") {
    Ins in{random_input({2, 4, 9, 11}, 7), random_input({6, 4, 3, 3}, 8)};
    check_cuda_parity([](const Ins& t) { return conv2d(t[0].transpose(2, 3), t[1], Tensor<float>(), opts({1, 1}, {1, 1})); },
                      in, 1e-4, 5e-5);
  }
}

TEST_CASE("CUDA conv_transpose2d matches the CPU", "[cuda][conv]") {
  PACKD_SKIP_WITHOUT_CUDA();
  SECTION("k2 s2") { conv_transpose_parity({2, 8, 7, 6}, {8, 5, 2, 2}, false, opts({2, 2}, {0, 0})); }
  SECTION("k2 s2 with bias and groups") { conv_transpose_parity({2, 8, 7, 6}, {8, 3, 2, 2}, true, opts({2, 2}, {0, 0}, {1, 1}, 2)); }
  SECTION("k3 s2 padding 1 output_padding 1, with bias") {
    conv_transpose_parity({2, 6, 5, 7}, {6, 4, 3, 3}, true, opts({2, 2}, {1, 1}, {1, 1}, 1, {1, 1}));
  }
  SECTION("dilated, grouped, stride 1") {
    conv_transpose_parity({2, 6, 8, 7}, {6, 2, 3, 3}, false, opts({1, 1}, {1, 1}, {2, 2}, 2));
  }
}

TEST_CASE("CUDA convolutions in double", "[cuda][conv]") {
  PACKD_SKIP_WITHOUT_CUDA();
  InsD in{random_input<double>({2, 6, 9, 8}, 1), random_input<double>({4, 3, 3, 3}, 2), random_input<double>({4}, 3)};
  check_cuda_parity([](const InsD& t) { return conv2d(t[0], t[1], t[2], opts({2, 1}, {1, 2}, {1, 2}, 2)); }, in, 1e-11, 1e-11);
  InsD tin{random_input<double>({2, 6, 5, 4}, 4), random_input<double>({6, 2, 3, 3}, 5), random_input<double>({4}, 6)};
  check_cuda_parity([](const InsD& t) { return conv_transpose2d(t[0], t[1], t[2], opts({2, 2}, {1, 1}, {1, 1}, 2, {1, 1})); },
                    tin, 1e-11, 1e-11);
}

TEST_CASE("CUDA convolutions at WideResNet sizes", "[cuda][conv]") {
  PACKD_SKIP_WITHOUT_CUDA();
  // Outputs sum 576-1152 products, weight gradients 6272 (N * 56 * 56) or 1568: values up to ~100
  // whose float round-off reaches ~1e-4 in absolute terms.
  SECTION("3x3 64 -> 128 at 56x56, stride 1 and stride 2") {
    conv_parity({2, 64, 56, 56}, {128, 64, 3, 3}, false, opts({1, 1}, {1, 1}), 1e-3);
    conv_parity({2, 64, 56, 56}, {128, 64, 3, 3}, false, opts({2, 2}, {1, 1}), 1e-3);
  }
  SECTION("1x1 64 -> 128 at 56x56, and the stride-2 downsample with bias") {
    conv_parity({2, 64, 56, 56}, {128, 64, 1, 1}, false, opts({1, 1}, {0, 0}), 1e-3);
    conv_parity({2, 64, 56, 56}, {128, 64, 1, 1}, true, opts({2, 2}, {0, 0}), 1e-3);
  }
  SECTION("grouped 3x3 (ResNeXt-style, 32 groups)") {
    conv_parity({2, 128, 28, 28}, {128, 4, 3, 3}, false, opts({1, 1}, {1, 1}, {1, 1}, 32), 1e-3);
  }
  SECTION("decoder upsampling: k2 s2 transposed 128 -> 64 to 56x56") {
    conv_transpose_parity({2, 128, 28, 28}, {128, 64, 2, 2}, true, opts({2, 2}, {0, 0}), 1e-3);
  }
}

#if PACKD_WITH_CUDA
TEST_CASE("CUDA matmul and conv2d with TF32 allowed stay close to the CPU", "[cuda][linalg][conv]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const bool before = cuda::allow_tf32();
  cuda::set_allow_tf32(true);
  try {
    // TF32 keeps 10 mantissa bits: products of N(0, 1) values summed over K terms are off by ~1e-3 sqrt(K).
    Tensor<float> a = random_input({64, 256}, 1, false), b = random_input({256, 48}, 2, false);
    CHECK_CLOSE(mm(a.to(Device::cuda(0)), b.to(Device::cuda(0))).to(Device::cpu()), mm(a, b), 1e-2, 5e-2);
    Tensor<float> x = random_input({2, 32, 20, 20}, 3, false), w = random_input({48, 32, 3, 3}, 4, false);
    CHECK_CLOSE(conv2d(x.to(Device::cuda(0)), w.to(Device::cuda(0)), Tensor<float>(), opts({1, 1}, {1, 1})).to(Device::cpu()),
                conv2d(x, w, Tensor<float>(), opts({1, 1}, {1, 1})), 1e-2, 5e-2);
  } catch (...) {
    cuda::set_allow_tf32(before);
    throw;
  }
  cuda::set_allow_tf32(before);
}
#endif
