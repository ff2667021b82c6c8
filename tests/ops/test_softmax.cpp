// softmax, log_softmax, logsumexp: PyTorch parity (float32) and float64 gradcheck on the fixture
// cases (tests/reference/make_softmax_fixtures.py), stability and errors.
#include <limits>

#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kFamily = "softmax";
}

TEST_CASE("softmax matches PyTorch", "[softmax]") {
  check_op(kFamily, "softmax_dim1", [](const auto& in) { return softmax(in[0], 1); });
  check_op(kFamily, "softmax_last", [](const auto& in) { return softmax(in[0], -1); });
  check_op(kFamily, "softmax_dim0", [](const auto& in) { return softmax(in[0], 0); });
  check_op(kFamily, "softmax_spatial", [](const auto& in) { return softmax(in[0].flatten(2), -1); });
  check_op(kFamily, "softmax_noncontig", [](const auto& in) { return softmax(in[0].permute({2, 0, 1}), 1); });
  check_op(kFamily, "softmax_large", [](const auto& in) { return softmax(in[0], 1); });
}

TEST_CASE("log_softmax matches PyTorch", "[softmax]") {
  check_op(kFamily, "log_softmax_dim1", [](const auto& in) { return log_softmax(in[0], 1); });
  check_op(kFamily, "log_softmax_last", [](const auto& in) { return log_softmax(in[0], -1); });
  check_op(kFamily, "log_softmax_noncontig", [](const auto& in) { return log_softmax(in[0].transpose(0, 2), -1); });
}

TEST_CASE("logsumexp matches PyTorch", "[softmax]") {
  check_op(kFamily, "logsumexp_dim1", [](const auto& in) { return logsumexp(in[0], 1); });
  check_op(kFamily, "logsumexp_dims02_keep", [](const auto& in) { return logsumexp(in[0], Dims{0, 2}, true); });
  // values around -1000: exp underflows without the max subtraction (relative tolerance on ~1e3)
  check_op(kFamily, "logsumexp_large", [](const auto& in) { return logsumexp(in[0], -1); });
}

TEST_CASE("softmax edge cases", "[softmax]") {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor<float> x = from_vector<float>({-inf, -inf, 1.f, -inf, 0.f, 0.f}, Shape{3, 2});
  auto y = softmax(x, 1).to_vector();
  CHECK(std::isnan(y[0]));  // a row of -inf is NaN, as PyTorch
  CHECK(y[2] == 1.f);
  CHECK(y[3] == 0.f);
  CHECK(y[4] == Approx(0.5f));
  auto l = logsumexp(x, 1).to_vector();
  CHECK(l[0] == -inf);  // all -inf: -inf (the infinite max is not subtracted)
  CHECK(l[1] == 1.f);
  // full reduction and 0-d
  CHECK(logsumexp(from_vector<double>({0.0, 0.0}), Dims{}).item() == Approx(std::log(2.0)));
  CHECK(softmax(scalar_tensor<double>(3.0), 0).item() == 1.0);
  // no-grad result has no history
  CHECK(!softmax(ones<float>({2, 2}), 0).requires_grad());
}

TEST_CASE("softmax errors", "[softmax]") {
  CHECK_THROWS_PACKD(softmax(ones<float>({2, 3}), 2), "softmax: dimension 2 is out of range");
  CHECK_THROWS_PACKD(log_softmax(ones<float>({2, 3}), -3), "log_softmax: dimension -3 is out of range");
  CHECK_THROWS_PACKD(logsumexp(ones<float>({2, 3}), Dims{1, -1}), "logsumexp: dimension -1 appears twice");
}

TEST_CASE("softmax threaded paths equal the serial ones", "[softmax]") {
  Generator gen(11);
  Tensor<double> x = randn<double>({3, 40, 30, 30}, gen), g = randn<double>({3, 40, 30, 30}, gen);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    std::vector<Tensor<double>> r;
    for (int64_t d : {1, 3}) {
      Tensor<double> xl = x.detach().requires_grad_();
      Tensor<double> y = softmax(xl, d) + log_softmax(xl, d);
      y.backward(g);
      r.push_back(y.detach());
      r.push_back(xl.grad());
    }
    r.push_back(logsumexp(x, Dims{1, 2}));
    return r;
  };
  auto serial = run(1), threaded = run(4);
  omp_set_num_threads(2);
  for (std::size_t i = 0; i < serial.size(); ++i) CHECK_CLOSE(threaded[i], serial[i], 0, 0);
}
