// Tensor basics: factories, metadata, views (parity with PyTorch and gradcheck), copies,
// conversions, printing, and the errors for bad input.
#include <sstream>

#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kViews = "core_views";

// Multiplies by 0, 1, 2, ... in row-major order, as the fixture script's `ramp` does.
template <class T>
Tensor<T> ramp(const Tensor<T>& t) {
  return t * arange<T>(T(0), T(t.numel())).reshape(t.shape());
}
}  // namespace

TEST_CASE("factories fill as asked", "[tensor]") {
  CHECK(zeros<float>({2, 3}).to_vector() == std::vector<float>(6, 0.0f));
  CHECK(ones<double>({4}).to_vector() == std::vector<double>(4, 1.0));
  CHECK(full<int64_t>({2}, 7).to_vector() == std::vector<int64_t>{7, 7});
  CHECK(arange<float>(0.0f, 1.0f, 0.25f).to_vector() == std::vector<float>{0, 0.25f, 0.5f, 0.75f});
  CHECK(arange<int64_t>(5).numel() == 5);
  CHECK(arange<double>(3.0, 0.0, -1.0).to_vector() == std::vector<double>{3, 2, 1});
  CHECK_THROWS_PACKD(arange<float>(0.0f, 1.0f, 0.0f), "arange: step must be non-zero");
  CHECK_THROWS_PACKD(from_vector<float>({1, 2, 3}, {2, 2}), "from_vector: 3 values for shape (2, 2)");
  CHECK_THROWS_PACKD(Tensor<float>::empty({2, -1}), "negative extent");
}

TEST_CASE("random factories repeat for a seed and have the right moments", "[tensor]") {
  Generator g1(42), g2(42), g3(43);
  Tensor<float> a = randn<float>({1000}, g1), b = randn<float>({1000}, g2), c = randn<float>({1000}, g3);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  Generator g(5);
  Tensor<double> n = randn<double>({200000}, g);
  CHECK(mean(n).item() == Approx(0.0).margin(0.01));
  CHECK(var(n).item() == Approx(1.0).epsilon(0.01));
  Tensor<double> u = rand<double>({200000}, g, -1.0, 3.0);
  CHECK(amin(u).item() >= -1.0);
  CHECK(amax(u).item() < 3.0);
  CHECK(mean(u).item() == Approx(1.0).epsilon(0.01));
  Tensor<int64_t> k = randint<int64_t>(2, 5, {1000}, g);
  CHECK(amin(k).item() == 2);
  CHECK(amax(k).item() == 4);
  // state save/restore gives the same stream
  auto st = g.state();
  const double x1 = g.normal();
  g.set_state(st);
  CHECK(g.normal() == x1);
}

TEST_CASE("storage is 64-byte aligned and from_buffer wraps without copying", "[tensor]") {
  for (int n : {1, 3, 17, 1000, 100000}) {
    Tensor<float> t = Tensor<float>::empty({n});
    CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
  }
  std::vector<double> buf{1, 2, 3, 4, 5, 6};
  bool freed = false;
  {
    Tensor<double> t = from_buffer(buf.data(), {2, 3}, [&](void*) { freed = true; });
    CHECK(t.data() == buf.data());
    buf[4] = 50;
    CHECK(t.at({1, 1}) == 50);
    Tensor<double> strided = from_buffer(buf.data(), {3}, {}, {2});
    CHECK(strided.to_vector() == std::vector<double>{1, 3, 50});
  }
  CHECK(freed);
}

TEST_CASE("metadata and element access", "[tensor]") {
  Tensor<float> t = arange<float>(0.0f, 24.0f).reshape({2, 3, 4});
  CHECK(t.dim() == 3);
  CHECK(t.size(-1) == 4);
  CHECK(t.stride(0) == 12);
  CHECK(t.numel() == 24);
  CHECK(t.is_contiguous());
  CHECK(t.at({1, 2, 3}) == 23.0f);
  CHECK_FALSE(t.transpose(0, 2).is_contiguous());
  CHECK(t.device() == Device::cpu());
  CHECK_THROWS_PACKD(t.at({2, 0, 0}), "at: index 2 out of range for dimension 0 of shape (2, 3, 4)");
  CHECK_THROWS_PACKD(t.item(), "item: the tensor has 24 elements");
  CHECK_THROWS_PACKD(t.size(3), "size: dimension 3 is out of range for a tensor of rank 3");
  CHECK_THROWS_PACKD(Tensor<float>().shape(), "undefined tensor");
}

TEST_CASE("views match PyTorch and pass gradcheck", "[tensor][views]") {
  check_op(kViews, "reshape", [](const auto& in) { return ramp(in[0].reshape({4, -1})); });
  check_op(kViews, "permute", [](const auto& in) { return ramp(in[0].permute({2, 0, 1})); });
  check_op(kViews, "transpose_reshape", [](const auto& in) { return ramp(in[0].transpose(0, 2).reshape({-1})); });
  check_op(kViews, "slice_step", [](const auto& in) { return ramp(in[0].slice(1, 1, 7, 2)); });
  check_op(kViews, "narrow", [](const auto& in) { return ramp(in[0].narrow(1, 2, 3)); });
  check_op(kViews, "select", [](const auto& in) { return ramp(in[0].select(1, -1)); });
  check_op(kViews, "expand", [](const auto& in) { return ramp(in[0].expand({2, 3, 4})); });
  check_op(kViews, "squeeze_unsqueeze", [](const auto& in) { return ramp(in[0].squeeze(1).unsqueeze(0)); });
  check_op(kViews, "flatten", [](const auto& in) { return ramp(in[0].flatten(1)); });
  check_op(kViews, "chain", [](const auto& in) {
    return ramp(in[0].t().slice(0, 1, 5).slice(1, 0, 4, 2).unsqueeze(-1).expand({-1, -1, 3}).reshape({-1, 2}));
  });
}

TEST_CASE("views share storage; reshape copies only when it must", "[tensor][views]") {
  Tensor<float> t = arange<float>(0.0f, 12.0f).reshape({3, 4});
  Tensor<float> v = t.view({2, 6});
  CHECK(v.storage() == t.storage());
  Tensor<float> tt = t.t();
  CHECK_THROWS_PACKD(tt.view({12}), "view: shape (12,) is not compatible with the strides (1, 4)");
  Tensor<float> r = tt.reshape({12});
  CHECK(r.storage() != t.storage());
  CHECK(r.to_vector() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK(t.unsqueeze(1).expand({3, 5, 4}).stride(1) == 0);
  CHECK(t.squeeze().shape() == Shape{3, 4});
  CHECK(t.contiguous().same(t));
  CHECK_FALSE(t.clone().same(t));
  CHECK_THROWS_PACKD(t.view({5, -1}), "view: shape (5, -1) is invalid for a tensor of shape (3, 4)");
  CHECK_THROWS_PACKD(t.view({-1, -1}), "only one dimension can be -1");
  CHECK_THROWS_PACKD(t.permute({0, 0}), "permute: dimension 0 repeats");
  CHECK_THROWS_PACKD(t.expand({3, 5}), "expand: the tensor of shape (3, 4) cannot be expanded to (3, 5)");
  CHECK_THROWS_PACKD(t.narrow(1, 2, 3), "narrow: start 2 and length 3 do not fit dimension 1 of shape (3, 4)");
  CHECK_THROWS_PACKD(t.select(0, 3), "select: index 3 is out of range");
  CHECK(t.slice(1, -3, 100).shape() == Shape{3, 3});  // Python-style clamping
  CHECK(t.slice(0, 2, 1).shape() == Shape{0, 4});
}

TEST_CASE("copy_ broadcasts and converts; fill_ writes through strides", "[tensor]") {
  Tensor<double> d = zeros<double>({2, 3});
  d.copy_(from_vector<double>({1, 2, 3}));
  CHECK(d.to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3});
  d.t().slice(0, 1, 2).fill_(9.0);
  CHECK(d.to_vector() == std::vector<double>{1, 9, 3, 1, 9, 3});
  CHECK_THROWS_PACKD(d.copy_(ones<double>({3, 3})), "copy_");
  Tensor<float> f = d.to<float>();
  CHECK(f.to_vector() == std::vector<float>{1, 9, 3, 1, 9, 3});
  Tensor<int64_t> i = from_vector<double>({1.7, -1.7}).to<int64_t>();
  CHECK(i.to_vector() == std::vector<int64_t>{1, -1});  // truncation, as PyTorch
  Tensor<double> w = ones<double>({2}).requires_grad_();
  CHECK_THROWS_PACKD(w.to<float>(), "dtype conversion is not differentiable");
  CHECK(w.detach().to<float>().numel() == 2);
}

TEST_CASE("devices that are not built are refused by name", "[tensor]") {
  if (!PACKD_WITH_CUDA) {
    CHECK_THROWS_PACKD(Tensor<float>::empty({2}, Device::cuda()), "packd was built without the CUDA backend");
    CHECK_THROWS_PACKD(ones<float>({2}).to(Device::cuda(0)), "built without the CUDA backend");
  }
  CHECK(ones<float>({2}).to(Device::cpu()).numel() == 2);
}

TEST_CASE("printing looks like PyTorch's", "[tensor]") {
  std::ostringstream os;
  os << arange<float>(0.0f, 6.0f).reshape({2, 3});
  CHECK(os.str() == "tensor([[0.0000, 1.0000, 2.0000],\n        [3.0000, 4.0000, 5.0000]], shape=(2, 3), dtype=float32)");
  os.str("");
  os << scalar_tensor(2.5);
  CHECK(os.str() == "tensor(2.5000, shape=(), dtype=float64)");
  os.str("");
  os << arange<int64_t>(0, 5000);
  CHECK(os.str() == "tensor([   0,    1,    2, ..., 4997, 4998, 4999], shape=(5000,), dtype=int64)");
  os.str("");
  Tensor<double> w = ones<double>({1}).requires_grad_();
  os << w * 2.0;
  CHECK(os.str().find("grad_fn=mul") != std::string::npos);
}

TEST_CASE("a handle of the wrong scalar type is refused", "[tensor]") {
  Tensor<double> d = ones<double>({2});
  CHECK_THROWS_PACKD(Tensor<float>(d.impl_ptr()), "Tensor<float32>: the tensor holds float64 data");
  CHECK(Tensor<double>(d.impl_ptr()).same(d));
}

TEST_CASE("CUDA memory round trip (runs only where a GPU is present)", "[tensor][cuda]") {
  if (!cuda::cuda_available()) {
    WARN("skipped: no CUDA device (cuda_available() is false" << (PACKD_WITH_CUDA ? "" : "; built without CUDA") << ")");
    return;
  }
  Generator gen(9);
  Tensor<float> h = randn<float>({3, 5}, gen);
  Tensor<float> g = h.t().to(Device::cuda(0));
  CHECK(g.device() == Device::cuda(0));
  CHECK(g.is_contiguous());
  CHECK(g.to(Device::cpu()).to_vector() == h.t().contiguous().to_vector());
  CHECK(g.slice(0, 1, 2).slice(1, 2, 3).item() == h.at({2, 1}));
  CHECK_THROWS_PACKD(exp(g), "exp: no CUDA kernel in this version of packd");
}

TEST_CASE("empty_pinned is ordinary host memory without a CUDA device", "[tensor]") {
  if (cuda::cuda_available()) return;  // the page-locked case is in tests/cuda/test_cuda_core.cpp
  Tensor<float> p = empty_pinned<float>({2, 3});
  CHECK(p.device().is_cpu());
  CHECK(p.shape() == Shape{2, 3});
  p.fill_(1.5f);
  CHECK(sum(p).item() == 9.0f);
}
