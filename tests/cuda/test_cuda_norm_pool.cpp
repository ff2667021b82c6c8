// CPU-vs-CUDA parity of the batch-norm, pooling, softmax and distance kernels: the shapes the
// models use (WideResNet's stem and feature maps), odd sizes that leave partial blocks and slices,
// non-contiguous and broadcast operands, and both kernel paths of the row reductions (one thread
// per row, one block per row). Skipped without a CUDA device.
#include "cuda_parity.hpp"

using namespace packd;
using packd::testing::check_cuda_parity;
using packd::testing::random_input;

namespace {

// x, weight, bias -> batch_norm2d with fresh zero / one running statistics on x's device.
Tensor<float> bn_train(const std::vector<Tensor<float>>& in) {
  const int64_t C = in[0].size(1);
  return batch_norm2d(in[0], in[1], in[2], zeros<float>({C}, in[0].device()), ones<float>({C}, in[0].device()), true);
}

// x, weight, bias, running_mean, running_var (made positive) -> eval-mode batch_norm2d.
Tensor<float> bn_eval(const std::vector<Tensor<float>>& in) {
  return batch_norm2d(in[0], in[1], in[2], in[3], add(abs(in[4]), 0.5f), false);
}

}  // namespace

TEST_CASE("batch_norm2d training forward and backward: CUDA matches CPU", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  for (const Shape& s : {Shape{4, 64, 28, 28}, Shape{3, 5, 7, 9}, Shape{2, 3, 1, 1}, Shape{1, 7, 13, 1}, Shape{5, 3, 33, 31},
                         Shape{2, 4, 300, 301}}) {
    INFO("input shape " << s);
    const int64_t C = s[1];
    check_cuda_parity<float>(bn_train, {random_input(s, 1), random_input({C}, 2), random_input({C}, 3)});
  }
  // a large mean: the variance is taken around the channel's first value, as on the CPU
  check_cuda_parity<float>(
      [](const std::vector<Tensor<float>>& in) { return bn_train({add(in[0], 1000.f), in[1], in[2]}); },
      {random_input({4, 8, 9, 9}, 4), random_input({8}, 5), random_input({8}, 6)}, 1e-3, 1e-4);
  // no affine parameters; a non-contiguous (NHWC-strided) input
  check_cuda_parity<float>(
      [](const std::vector<Tensor<float>>& in) {
        return batch_norm2d(in[0].permute({0, 3, 1, 2}), Tensor<float>(), Tensor<float>(), Tensor<float>(), Tensor<float>(),
                            true);
      },
      {random_input({4, 10, 11, 6}, 7)});
  // only the parameters need gradients (the input gradient pointer is null)
  check_cuda_parity<float>(bn_train, {random_input({4, 16, 12, 12}, 8, false), random_input({16}, 9), random_input({16}, 10)});
}

TEST_CASE("batch_norm2d running statistics: CUDA matches CPU", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const Tensor<float> x = random_input({4, 64, 28, 28}, 11, false);
  Tensor<float> rm = random_input({64}, 12, false), rv = add(abs(random_input({64}, 13, false)), 0.5f);
  // strided buffers on the CUDA side: columns of a (64, 2) tensor
  Tensor<float> rm_cpu = rm.clone(), rv_cpu = rv.clone();
  Tensor<float> buf = zeros<float>({64, 2}, Device::cuda(0));
  buf.select(1, 0).copy_(rm.to(Device::cuda(0)));
  buf.select(1, 1).copy_(rv.to(Device::cuda(0)));
  Tensor<float> rm_cuda = buf.select(1, 0), rv_cuda = buf.select(1, 1);
  const uint64_t v0 = rm_cuda.version();
  batch_norm2d(x, Tensor<float>(), Tensor<float>(), rm_cpu, rv_cpu, true, 0.3);
  batch_norm2d(x.to(Device::cuda(0)), Tensor<float>(), Tensor<float>(), rm_cuda, rv_cuda, true, 0.3);
  CHECK(rm_cuda.version() > v0);
  CHECK_CLOSE(rm_cuda.to(Device::cpu()), rm_cpu, 1e-5, 1e-6);
  CHECK_CLOSE(rv_cuda.to(Device::cpu()), rv_cpu, 1e-5, 1e-6);  // unbiased variance
  // eval mode leaves them alone
  batch_norm2d(x.to(Device::cuda(0)), Tensor<float>(), Tensor<float>(), rm_cuda, rv_cuda, false);
  CHECK_CLOSE(rm_cuda.to(Device::cpu()), rm_cpu, 1e-5, 1e-6);
}

TEST_CASE("batch_norm2d eval forward and backward: CUDA matches CPU", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  for (const Shape& s : {Shape{4, 64, 28, 28}, Shape{3, 5, 7, 9}, Shape{1, 3, 1, 1}}) {
    INFO("input shape " << s);
    const int64_t C = s[1];
    check_cuda_parity<float>(bn_eval, {random_input(s, 21), random_input({C}, 22), random_input({C}, 23),
                                       random_input({C}, 24, false), random_input({C}, 25, false)});
  }
  check_cuda_parity<float>(bn_eval, {random_input({2, 6, 5, 5}, 26, false), random_input({6}, 27), random_input({6}, 28),
                                     random_input({6}, 29, false), random_input({6}, 30, false)});
}

TEST_CASE("max_pool2d: CUDA matches CPU, indices included", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  // WideResNet's stem: 3x3, stride 2, padding 1 (overlapping windows: the backward scatter adds)
  check_cuda_parity<float>([](const auto& in) { return max_pool2d(in[0], 3, 2, 1); }, {random_input({4, 64, 56, 56}, 31)});
  check_cuda_parity<float>([](const auto& in) { return max_pool2d(in[0], 3, 2, 1); }, {random_input({2, 5, 17, 15}, 32)});
  check_cuda_parity<float>([](const auto& in) { return max_pool2d(in[0], 2); }, {random_input({3, 4, 9, 8}, 33)});
  check_cuda_parity<float>([](const auto& in) { return max_pool2d(in[0], {2, 3}, {1, 2}, {1, 0}, {2, 1}, true); },
                           {random_input({2, 3, 11, 12}, 34)});
  check_cuda_parity<float>([](const auto& in) { return max_pool2d(in[0].transpose(2, 3), 3, 1, 1, 2); },
                           {random_input({2, 3, 10, 13}, 35)});
  for (bool ceil : {false, true}) {
    const Tensor<float> x = random_input({2, 8, 19, 21}, 36, false);
    auto cpu = max_pool2d_with_indices(x, 3, 2, 1, 1, ceil);
    auto gpu = max_pool2d_with_indices(x.to(Device::cuda(0)), 3, 2, 1, 1, ceil);
    CHECK(gpu.second.to(Device::cpu()).to_vector() == cpu.second.to_vector());
    CHECK_CLOSE(gpu.first.to(Device::cpu()), cpu.first, 0, 0);
  }
}

TEST_CASE("avg_pool2d and adaptive_avg_pool2d: CUDA matches CPU", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const Tensor<float> x = random_input({2, 16, 23, 19}, 41);
  for (bool ceil : {false, true})
    for (bool include_pad : {true, false}) {
      INFO("ceil_mode " << ceil << ", count_include_pad " << include_pad);
      check_cuda_parity<float>([&](const auto& in) { return avg_pool2d(in[0], 3, 2, 1, ceil, include_pad); }, {x});
    }
  check_cuda_parity<float>([](const auto& in) { return avg_pool2d(in[0], {2, 4}, {3, 1}, {1, 2}); }, {x});
  check_cuda_parity<float>([](const auto& in) { return avg_pool2d(in[0].transpose(1, 2), 2); }, {random_input({5, 8, 6}, 42)});
  check_cuda_parity<float>([](const auto& in) { return adaptive_avg_pool2d(in[0], 1); }, {random_input({4, 256, 7, 7}, 43)});
  check_cuda_parity<float>([](const auto& in) { return adaptive_avg_pool2d(in[0], {3, 4}); }, {x});
  check_cuda_parity<float>([](const auto& in) { return adaptive_avg_pool2d(in[0], {7, 9}); }, {random_input({2, 3, 5, 5}, 44)});
  check_cuda_parity<float>([](const auto& in) { return adaptive_avg_pool2d(in[0].transpose(1, 2), {2, 3}); },
                           {random_input({3, 7, 5}, 45)});
}

TEST_CASE("softmax, log_softmax and logsumexp: CUDA matches CPU", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  // dim 1 of NCHW (a thread per position), last dims short and long (a block per row), dim 0 of
  // a tall matrix (few long strided rows: a block per row with I > 1), a non-contiguous input
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{4, 64, 28, 28}, 1}, {{8, 10}, -1}, {{64, 1000}, -1}, {{2, 5000}, 1}, {{3000, 4}, 0}, {{3, 7, 33}, 1}};
  for (const auto& [shape, dim] : cases) {
    INFO("shape " << shape << ", dim " << dim);
    const Tensor<float> x = random_input(shape, 51);
    const int64_t d = dim;
    check_cuda_parity<float>([d](const auto& in) { return softmax(in[0], d); }, {x});
    check_cuda_parity<float>([d](const auto& in) { return log_softmax(in[0], d); }, {x});
    check_cuda_parity<float>([d](const auto& in) { return logsumexp(in[0], d); }, {x});
  }
  check_cuda_parity<float>([](const auto& in) { return softmax(in[0].permute({2, 0, 1}), 1); }, {random_input({5, 40, 6}, 52)});
  check_cuda_parity<float>([](const auto& in) { return logsumexp(in[0], Dims{0, 2}, true); }, {random_input({6, 5, 70}, 53)});
  check_cuda_parity<float>([](const auto& in) { return logsumexp(mul(in[0], 300.f), -1); }, {random_input({16, 2048}, 54)},
                           1e-4, 1e-3);
  // rows of -inf: NaN in softmax, -inf in logsumexp, on both paths
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t n : {4, 500}) {
    Tensor<float> x = full<float>({3, n}, -inf);
    x.select(0, 1).fill_(1.f);
    const Tensor<float> gx = x.to(Device::cuda(0));
    const auto s = softmax(gx, 1).to(Device::cpu()).to_vector();
    const auto l = logsumexp(gx, 1).to(Device::cpu()).to_vector();
    CHECK(std::isnan(s[0]));
    CHECK(s[std::size_t(n)] == Approx(1.0 / double(n)));
    CHECK(l[0] == -inf);
    CHECK(l[1] == Approx(1.0 + std::log(double(n))));
  }
}

TEST_CASE("cosine_similarity and normalize: CUDA matches CPU", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  auto cos1 = [](const auto& in) { return cosine_similarity(in[0], in[1], 1); };
  auto cos_last = [](const auto& in) { return cosine_similarity(in[0], in[1], -1); };
  check_cuda_parity<float>(cos1, {random_input({2, 256, 16, 16}, 61), random_input({2, 256, 16, 16}, 62)});
  check_cuda_parity<float>(cos1, {random_input({2, 256, 16, 16}, 63), random_input({1, 256, 1, 1}, 64)});  // broadcast
  check_cuda_parity<float>(cos_last, {random_input({4, 1, 32}, 65), random_input({4, 7, 32}, 66)});
  check_cuda_parity<float>(cos1, {random_input({64, 512}, 67), random_input({64, 512}, 68)});  // a block per row
  check_cuda_parity<float>(cos1, {random_input({3, 2000, 2}, 69), random_input({3, 2000, 2}, 70)});
  check_cuda_parity<float>([](const auto& in) { return cosine_similarity(in[0].permute({2, 3, 1, 0}), in[1], 1); },
                           {random_input({3, 8, 5, 6}, 71), random_input({5, 8, 3}, 72)});
  // zero and tiny vectors: each norm clamped to eps on its own (gradients ~1e8)
  {
    Tensor<float> a = random_input({3, 4, 5}, 73, false), b = random_input({3, 4, 5}, 74, false);
    a.select(0, 1).fill_(0.f);
    b.select(0, 2).fill_(1e-10f);
    check_cuda_parity<float>(cos1, {a.requires_grad_(), b.requires_grad_()}, 1e-4, 1e-2);
  }
  check_cuda_parity<float>([](const auto& in) { return normalize(in[0], 2.0, 1); }, {random_input({2, 256, 16, 16}, 81)});
  check_cuda_parity<float>([](const auto& in) { return normalize(in[0], 2.0, -1); }, {random_input({64, 512}, 82)});
  check_cuda_parity<float>([](const auto& in) { return normalize(in[0].transpose(0, 2), 2.0, 1); },
                           {random_input({7, 6, 5}, 83)});
  {
    Tensor<float> a = random_input({4, 6, 3}, 84, false);
    a.select(0, 0).fill_(0.f);
    a.select(0, 3).fill_(1e-14f);
    check_cuda_parity<float>([](const auto& in) { return normalize(in[0], 2.0, 1); }, {a.requires_grad_()}, 1e-4, 1e-2);
  }
}
