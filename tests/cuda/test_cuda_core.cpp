// CUDA core: elementwise (every functor), reductions, strided copies and conversions, fills, the
// caching device allocator. CPU-vs-CUDA parity; every case skips with a message without a GPU.
#include "cuda_parity.hpp"

using namespace packd;
using packd::testing::check_cuda_parity;
using packd::testing::random_input;

namespace {
const Device kCuda = Device::cuda(0);
using Ins = std::vector<Tensor<float>>;
}  // namespace

TEST_CASE("CUDA unary ops and their gradients match the CPU", "[cuda][elementwise]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> x = random_input({3, 5, 7}, 1);
  Tensor<float> pos = add(abs(random_input({3, 5, 7}, 2, false)), 0.1f).requires_grad_();
  check_cuda_parity([](const Ins& in) { return neg(in[0]); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return exp(in[0]); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return log(in[0]); }, Ins{pos});
  check_cuda_parity([](const Ins& in) { return sqrt(in[0]); }, Ins{pos});
  check_cuda_parity([](const Ins& in) { return rsqrt(in[0]); }, Ins{pos});
  check_cuda_parity([](const Ins& in) { return abs(in[0]); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return relu(in[0]); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return sigmoid(mul(in[0], 30.0f)); }, Ins{x});  // both branches, saturated
  check_cuda_parity([](const Ins& in) { return tanh(in[0]); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return pow(in[0], 3.0f); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return clamp(in[0], -0.5f, 0.7f); }, Ins{x});
}

TEST_CASE("CUDA binary ops broadcast like the CPU, on non-contiguous views", "[cuda][elementwise]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> a = random_input({4, 1, 6}, 3), b = random_input({5, 1}, 4);
  Tensor<float> bpos = add(abs(random_input({5, 1}, 5, false)), 0.5f).requires_grad_();
  check_cuda_parity([](const Ins& in) { return add(in[0], in[1]); }, Ins{a, b});
  check_cuda_parity([](const Ins& in) { return sub(in[0], in[1]); }, Ins{a, b});
  check_cuda_parity([](const Ins& in) { return mul(in[0], in[1]); }, Ins{a, b});
  check_cuda_parity([](const Ins& in) { return div(in[0], in[1]); }, Ins{a, bpos});
  check_cuda_parity([](const Ins& in) { return pow(in[1], in[0]); }, Ins{a, bpos});
  // a transposed, a sliced and an expanded operand take the strided path
  Tensor<float> t = random_input({6, 8}, 6);
  check_cuda_parity([](const Ins& in) { return mul(in[0].t(), in[1].narrow(0, 1, 8)); }, Ins{t, random_input({10, 6}, 7)});
  check_cuda_parity([](const Ins& in) { return add(in[0], in[1].expand({6, 8})); }, Ins{t, random_input({1, 8}, 8)});
  // comparisons and where
  check_cuda_parity([](const Ins& in) { return where(gt(in[0], in[1]), in[0], in[1]); }, Ins{a, b});
  Tensor<float> x = random_input({4, 6}, 9, false), y = x.clone();
  y.narrow(1, 0, 3).fill_(0.25f);
  const Tensor<float> xc = x.to(kCuda), yc = y.to(kCuda);
  CHECK_CLOSE(eq(xc, yc).to(Device::cpu()), eq(x, y), 0, 0);
  CHECK_CLOSE(ne(xc, yc).to(Device::cpu()), ne(x, y), 0, 0);
  CHECK_CLOSE(lt(xc, yc).to(Device::cpu()), lt(x, y), 0, 0);
  CHECK_CLOSE(le(xc, yc).to(Device::cpu()), le(x, y), 0, 0);
  CHECK_CLOSE(gt(xc, yc).to(Device::cpu()), gt(x, y), 0, 0);
  CHECK_CLOSE(ge(xc, yc).to(Device::cpu()), ge(x, y), 0, 0);
}

TEST_CASE("CUDA in-place ops, fill_ and int64 arithmetic", "[cuda][elementwise]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> x = random_input({3, 4}, 10, false), y = random_input({4}, 11, false);
  Tensor<float> xc = x.to(kCuda);
  add_(x, y, 0.5f);
  add_(xc, y.to(kCuda), 0.5f);
  mul_(x, 3.0f);
  mul_(xc, 3.0f);
  div_(x, y);
  div_(xc, y.to(kCuda));
  CHECK_CLOSE(xc.to(Device::cpu()), x, 1e-6, 1e-6);
  Tensor<float> z = zeros<float>({5, 3}, kCuda);
  z.narrow(1, 1, 1).fill_(2.5f);
  CHECK_CLOSE(z.to(Device::cpu()), [] {
    Tensor<float> e = zeros<float>({5, 3});
    e.narrow(1, 1, 1).fill_(2.5f);
    return e;
  }(), 0, 0);
  Tensor<int64_t> i = arange<int64_t>(0, 12).reshape({3, 4});
  Tensor<int64_t> ic = i.to(kCuda);
  CHECK_CLOSE(add(mul(ic, ic), int64_t(7)).to(Device::cpu()), add(mul(i, i), int64_t(7)), 0, 0);
  CHECK_CLOSE(clamp(ic, int64_t(2), int64_t(9)).to(Device::cpu()), clamp(i, int64_t(2), int64_t(9)), 0, 0);
}

TEST_CASE("CUDA strided copies and dtype conversions", "[cuda][copy]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> x = random_input({2, 3, 4, 5}, 12, false);
  Tensor<float> xc = x.to(kCuda);
  CHECK_CLOSE(xc.permute({3, 1, 0, 2}).contiguous().to(Device::cpu()), x.permute({3, 1, 0, 2}).contiguous(), 0, 0);
  CHECK_CLOSE(xc.to<double>().to(Device::cpu()), x.to<double>(), 0, 0);
  CHECK_CLOSE(mul(xc, 10.0f).to<int64_t>().to(Device::cpu()), mul(x, 10.0f).to<int64_t>(), 0, 0);
  Tensor<float> dst = zeros<float>({4, 5}, kCuda);
  dst.copy_(xc.select(0, 1).select(0, 2));
  CHECK_CLOSE(dst.to(Device::cpu()), x.select(0, 1).select(0, 2), 0, 0);
  // device to device
  Tensor<float> again = xc.clone();
  CHECK(again.device() == kCuda);
  CHECK_CLOSE(again.to(Device::cpu()), x, 0, 0);
}

TEST_CASE("CUDA reductions match the CPU over any dims", "[cuda][reduce]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> x = random_input({4, 33, 5, 300}, 13);
  check_cuda_parity([](const Ins& in) { return sum(in[0]); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return sum(in[0], {1}, true); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return mean(in[0], {0, 2, 3}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return mean(in[0], {3}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return amax(in[0], {1, 3}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return amin(in[0], {0}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return var(in[0], {2, 3}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return sum(in[0].permute({3, 0, 2, 1}), {0, 3}); }, Ins{x});
  Tensor<float> xd = x.detach();
  Tensor<float> xc = xd.to(kCuda);
  for (int d = 0; d < 4; ++d) {
    CHECK_CLOSE(argmax(xc, d).to(Device::cpu()), argmax(xd, d), 0, 0);
    CHECK_CLOSE(argmin(xc, d, true).to(Device::cpu()), argmin(xd, d, true), 0, 0);
  }
  CHECK(argmax(xc).item() == argmax(xd).item());
  // ties: the first index wins; NaN wins over every number
  Tensor<float> t = from_vector<float>({1, 3, 3, 2, NAN, 0, NAN}, {7});
  CHECK(argmax(t.to(kCuda)).item() == argmax(t).item());
  CHECK(argmax(t.narrow(0, 0, 4).to(kCuda)).item() == 1);
  CHECK(std::isnan(amax(t.to(kCuda)).item()));
}

TEST_CASE("CUDA full sum of a large tensor accumulates in double", "[cuda][reduce]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Generator gen(14);
  Tensor<float> x = rand<float>({1 << 22}, gen);
  Tensor<double> xd = x.to<double>();
  const double exact = sum(xd).item();
  CHECK(std::abs(double(sum(x.to(kCuda)).item()) - exact) <= 1e-6 * exact);
}

TEST_CASE("CUDA caching allocator: a steady loop makes no new device allocation", "[cuda][allocator]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> w = random_input({256, 256}, 15).to(kCuda).detach().requires_grad_();
  auto step = [&] {
    Tensor<float> x = random_input({64, 256}, 16, false).to(kCuda);
    sum(relu(mul(x, 2.0f))).backward();
    Tensor<float> y = sum(exp(mul(w, 0.01f)));
    y.backward();
    w.zero_grad();
  };
  step();
  step();
  const cuda::DeviceAllocatorStats before = cuda::allocator_stats(0);
  for (int i = 0; i < 5; ++i) step();
  const cuda::DeviceAllocatorStats after = cuda::allocator_stats(0);
  CHECK(after.device_allocations == before.device_allocations);
  CHECK(after.cache_hits > before.cache_hits);
  cuda::empty_cache(0);
  CHECK(cuda::allocator_stats(0).bytes_cached == 0);
}

TEST_CASE("CUDA errors are packd errors naming the devices", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> a = ones<float>({3}), b = ones<float>({3}, kCuda);
  CHECK_THROWS_PACKD(add(a, b), "one device");
  CHECK_THROWS_PACKD(b.at({0}), "copy it to the CPU");
}

TEST_CASE("empty_pinned gives page-locked host memory that copies to the GPU", "[cuda][allocator]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> p = empty_pinned<float>({3, 4});
  CHECK(p.device().is_cpu());
  Tensor<float> src = random_input({3, 4}, 17, false);
  p.copy_(src);
  CHECK_CLOSE(p.to(kCuda).to(Device::cpu()), src, 0, 0);
}

TEST_CASE("an elementwise op on a functor without CUDA kernels stops with an error naming it", "[cuda][elementwise]") {
  PACKD_SKIP_WITHOUT_CUDA();
  Tensor<float> x = ones<float>({4}, kCuda);
  CHECK_THROWS_PACKD(detail::map<float>(x, "square", [](float v) { return v * v; }), "square: no CUDA kernel");
}
