#pragma once
// Shared test helpers: PyTorch fixture loading, tensor comparison with useful failure messages,
// gradient checks, and a macro asserting that an expression throws packd::Error whose message
// contains given text.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <string>

#include "packd/autograd/gradcheck.hpp"
#include "packd/io/safetensors.hpp"
#include "packd/ops.hpp"

// Compares two tensors; on failure reports the worst element.
#define CHECK_CLOSE(actual, expected, rtol, atol)                                             \
  do {                                                                                        \
    const std::string packd_mismatch_ = ::packd::testing::mismatch((actual), (expected), (rtol), (atol)); \
    INFO(#actual " vs " #expected ": " << packd_mismatch_);                                   \
    CHECK(packd_mismatch_.empty());                                                           \
  } while (0)

#define CHECK_GRADCHECK(fn, inputs)                            \
  do {                                                         \
    const auto packd_gc_ = ::packd::gradcheck((fn), (inputs)); \
    INFO(packd_gc_.message);                                   \
    CHECK(packd_gc_.ok);                                       \
  } while (0)

// The expression throws packd::Error (not another exception, not a crash) and the message
// contains `text`.
#define CHECK_THROWS_PACKD(expr, text)                        \
  do {                                                        \
    bool packd_threw_ = false;                                \
    std::string packd_what_;                                  \
    try {                                                     \
      (void)(expr);                                           \
    } catch (const ::packd::Error& packd_e_) {                \
      packd_threw_ = true;                                    \
      packd_what_ = packd_e_.what();                          \
    }                                                         \
    INFO("expression: " #expr);                               \
    CHECK(packd_threw_);                                      \
    CHECK_THAT(packd_what_, Catch::Matchers::Contains(text)); \
  } while (0)

namespace packd::testing {

// tests/reference/fixtures/<name>.safetensors (PACKD_FIXTURE_DIR is set by tests/CMakeLists.txt).
inline const io::SafetensorsFile& fixture(const std::string& name) {
  static std::map<std::string, io::SafetensorsFile> cache;
  auto it = cache.find(name);
  if (it == cache.end())
    it = cache.emplace(name, io::read_safetensors(std::string(PACKD_FIXTURE_DIR) + "/" + name + ".safetensors")).first;
  return it->second;
}

// Empty when actual matches expected (same shape, |a - e| <= atol + rtol |e| everywhere);
// otherwise a description of the worst element.
template <Scalar T, Scalar U>
std::string mismatch(const Tensor<T>& actual, const Tensor<U>& expected, double rtol, double atol) {
  std::ostringstream os;
  if (!(actual.shape() == expected.shape())) {
    os << "shape " << actual.shape() << " != expected " << expected.shape();
    return os.str();
  }
  auto a = actual.to_vector();
  auto e = expected.to_vector();
  double worst = 0;
  std::size_t at = 0;
  bool bad = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(e[i]));
    const double excess = d - (atol + rtol * std::abs(double(e[i])));
    if (excess > 0 || std::isnan(double(a[i])) != std::isnan(double(e[i]))) {
      if (!bad || excess > worst) worst = excess, at = i;
      bad = true;
    }
  }
  if (!bad) return {};
  os << "element " << at << ": " << double(a[at]) << " vs expected " << double(e[at]) << " (shape " << actual.shape() << ")";
  return os.str();
}

// A fixture case's inputs NAME.in0.. as T, requiring grad where the case stores a gradient.
template <FloatScalar T>
std::vector<Tensor<T>> fixture_inputs(const std::string& family, const std::string& name) {
  const io::SafetensorsFile& fx = fixture(family);
  std::vector<Tensor<T>> in;
  for (int i = 0; fx.contains(name + ".in" + std::to_string(i)); ++i) {
    Tensor<T> x = fx.get<T>(name + ".in" + std::to_string(i));
    if (fx.contains(name + ".gin" + std::to_string(i))) x.requires_grad_();
    in.push_back(x);
  }
  return in;
}

// The devices the op tests run on: the CPU, and CUDA device 0 when cuda_available(). The first call
// in a process without a CUDA device says once that the CUDA runs are skipped.
inline std::vector<Device> test_devices() {
  if (cuda::cuda_available()) return {Device::cpu(), Device::cuda(0)};
  static bool said = false;
  if (!said) {
    said = true;
    WARN("CUDA runs of the op tests skipped: no CUDA device" << (PACKD_WITH_CUDA ? "" : " (built without CUDA)"));
  }
  return {Device::cpu()};
}

// Tolerances on CUDA: the kernels sum in other orders than the CPU's (block trees, cuDNN's
// algorithms), so a float32 result may differ from PyTorch's CPU result by a few more ulps.
inline double device_rtol(Device d, double rtol) { return d.is_cpu() ? rtol : std::max(rtol, 1e-4); }
inline double device_atol(Device d, double atol) { return d.is_cpu() ? atol : std::max(atol, 1e-5); }

// PyTorch parity for one fixture case (tests/reference/make_core_fixtures.py): loads NAME.in0..,
// marks the inputs that have a stored gradient as requiring grad, runs fn(inputs) and compares
// the output with NAME.out and, after backward(NAME.gout), each input gradient with NAME.ginI.
// Runs once per test device (the inputs moved there; fn must create any other tensor on its
// inputs' device), so every op's fixture also checks its CUDA kernels where a GPU is present.
template <class F>
void check_against_torch(const std::string& family, const std::string& name, F fn, double rtol = 1e-5,
                         double atol = 1e-6) {
  const io::SafetensorsFile& fx = fixture(family);
  for (Device dev : test_devices()) {
    std::vector<Tensor<float>> in;
    for (const Tensor<float>& x : fixture_inputs<float>(family, name)) {
      in.push_back(dev.is_cpu() ? x : x.detach().to(dev));
      if (x.requires_grad()) in.back().requires_grad_();
    }
    INFO("fixture " << family << ":" << name << " on " << dev);
    REQUIRE(!in.empty());
    auto out = fn(in);
    using Out = typename decltype(out)::value_type;
    REQUIRE(out.device() == dev);
    const double rt = device_rtol(dev, rtol), at = device_atol(dev, atol);
    CHECK_CLOSE(out.to(Device::cpu()), fx.get<Out>(name + ".out"), rt, at);
    if constexpr (FloatScalar<Out>) {
      if (!fx.contains(name + ".gout")) continue;
      out.backward(fx.get<Out>(name + ".gout").to(dev));
      for (std::size_t i = 0; i < in.size(); ++i) {
        const std::string key = name + ".gin" + std::to_string(i);
        if (!fx.contains(key)) continue;
        INFO("gradient of input " << i);
        REQUIRE(in[i].grad().defined());
        CHECK_CLOSE(in[i].grad().to(Device::cpu()), fx.get<float>(key), rt, at);
      }
    }
  }
}

// Both checks on one fixture case: float32 parity with PyTorch, then a float64 gradcheck of the
// same function on the same inputs (when the case has a differentiable input).
template <class F>
void check_op(const std::string& family, const std::string& name, F fn, double rtol = 1e-5, double atol = 1e-6) {
  check_against_torch(family, name, fn, rtol, atol);
  using Out = typename decltype(fn(std::declval<const std::vector<Tensor<double>>&>()))::value_type;
  if constexpr (FloatScalar<Out>) {  // index-valued ops (argmax) have no gradient
    std::vector<Tensor<double>> in = fixture_inputs<double>(family, name);
    bool any = false;
    for (const auto& x : in) any = any || x.requires_grad();
    if (!any) return;
    INFO("float64 gradcheck of " << family << ":" << name);
    const GradcheckResult r = gradcheck(fn, in);
    INFO(r.message);
    CHECK(r.ok);
  }
}

// |a - e| <= tol * max|e| everywhere: tolerance relative to the tensor's scale, for the features
// of randomly initialised deep networks, which span several orders of magnitude.
template <Scalar T, Scalar U>
void check_scaled(const Tensor<T>& actual, const Tensor<U>& expected, double tol, const std::string& what) {
  double scale = 0;
  for (auto v : expected.to_vector()) scale = std::max(scale, std::abs(double(v)));
  INFO(what << " (scale " << scale << ")");
  CHECK_CLOSE(actual, expected, 0.0, tol * std::max(scale, 1e-300));
}

}  // namespace packd::testing

