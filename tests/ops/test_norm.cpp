// batch_norm2d and fold_batch_norm: PyTorch parity (float32) and float64 gradcheck in training and
// eval mode, running-statistics updates after a step, version bumps, and errors.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;
using packd::testing::fixture;

namespace {
const char* kFamily = "norm";

// Inputs: x, weight, bias, running_mean, running_var (the buffers are cloned per call, so the
// gradcheck's repeated calls all see the same statistics).
template <class V>
auto bn_affine(bool training, int x_view) {
  return [training, x_view](const V& in) {
    using T = typename V::value_type::value_type;
    Tensor<T> x = x_view == 1 ? in[0].permute({0, 3, 1, 2}) : x_view == 2 ? in[0].transpose(2, 3) : in[0];
    return batch_norm2d(x, in[1], in[2], in[3].clone(), in[4].clone(), training);
  };
}
template <class V>
auto bn_plain(bool training) {
  return [training](const V& in) {
    using T = typename V::value_type::value_type;
    return batch_norm2d(in[0], Tensor<T>(), Tensor<T>(), in[1].clone(), in[2].clone(), training);
  };
}
// check_op calls the lambda with float and double input vectors.
struct BnAffine {
  bool training;
  int view;
  template <class V>
  auto operator()(const V& in) const { return bn_affine<V>(training, view)(in); }
};
struct BnPlain {
  bool training;
  template <class V>
  auto operator()(const V& in) const { return bn_plain<V>(training)(in); }
};
}  // namespace

TEST_CASE("batch_norm2d in training mode matches PyTorch", "[norm]") {
  check_op(kFamily, "bn_train", BnAffine{true, 0}, 1e-4, 1e-5);
  check_op(kFamily, "bn_train_noaffine", BnPlain{true}, 1e-4, 1e-5);
  check_op(kFamily, "bn_train_1x1", BnAffine{true, 0}, 1e-4, 1e-5);
  check_op(kFamily, "bn_train_large_mean", BnAffine{true, 0}, 1e-3, 1e-4);
  check_op(kFamily, "bn_train_nhwc", BnAffine{true, 1}, 1e-4, 1e-5);
}

TEST_CASE("batch_norm2d in eval mode matches PyTorch", "[norm]") {
  check_op(kFamily, "bn_eval", BnAffine{false, 0});
  check_op(kFamily, "bn_eval_noaffine", BnPlain{false});
  check_op(kFamily, "bn_eval_transposed", BnAffine{false, 2});
}

TEST_CASE("batch_norm2d updates the running statistics as PyTorch", "[norm]") {
  const auto& fx = fixture(kFamily);
  for (const char* name : {"bn_train", "bn_train_1x1", "bn_train_large_mean", "bn_train_nhwc"}) {
    INFO(name);
    const std::string n = name;
    Tensor<float> x = fx.get<float>(n + ".in0");
    if (n == "bn_train_nhwc") x = x.permute({0, 3, 1, 2});
    Tensor<float> rm = fx.get<float>(n + ".in3"), rv = fx.get<float>(n + ".in4");
    const uint64_t vm = rm.version(), vv = rv.version();
    batch_norm2d(x, fx.get<float>(n + ".in1"), fx.get<float>(n + ".in2"), rm, rv, true);
    CHECK(rm.version() > vm);
    CHECK(rv.version() > vv);
    CHECK_CLOSE(rm, fx.get<float>(n + ".rm_after"), 1e-5, 1e-6);
    CHECK_CLOSE(rv, fx.get<float>(n + ".rv_after"), 1e-5, 1e-6);  // unbiased variance
  }
  // no update in eval mode, and buffers that are strided views are written through
  Tensor<double> buf = from_vector<double>({0, 10, 1, 10, 2, 10}, {3, 2});
  Tensor<double> rm = buf.select(1, 0), rv = ones<double>({3});
  Generator gen(7);
  Tensor<double> x = randn<double>({4, 3, 2, 2}, gen);
  batch_norm2d(x, Tensor<double>(), Tensor<double>(), rm, rv, false);
  CHECK(buf.to_vector() == std::vector<double>{0, 10, 1, 10, 2, 10});
  batch_norm2d(x, Tensor<double>(), Tensor<double>(), rm, rv, true, 0.5);
  Tensor<double> bm = mean(x, {0, 2, 3});
  CHECK(buf.at({1, 0}) == Approx(0.5 * 1 + 0.5 * bm.at({1})));
  CHECK(buf.at({1, 1}) == 10.0);
}

TEST_CASE("batch_norm2d with running stats absent in training uses batch statistics only", "[norm]") {
  Generator gen(3);
  Tensor<double> x = randn<double>({3, 2, 4, 4}, gen).requires_grad_();
  Tensor<double> w = randn<double>({2}, gen).requires_grad_();
  auto fn = [](const auto& in) {
    using T = typename std::decay_t<decltype(in)>::value_type::value_type;
    return batch_norm2d(in[0], in[1], Tensor<T>(), Tensor<T>(), Tensor<T>(), true);
  };
  CHECK_GRADCHECK(fn, (std::vector<Tensor<double>>{x, w}));
  // the normalised output has zero mean and unit (biased) variance per channel
  Tensor<double> y = batch_norm2d(x, Tensor<double>(), Tensor<double>(), Tensor<double>(), Tensor<double>(), true);
  CHECK(amax(abs(mean(y, {0, 2, 3}))).item() < 1e-12);
  CHECK(amax(abs(sub(var(y, {0, 2, 3}, 0), 1.0))).item() < 1e-4);
}

TEST_CASE("fold_batch_norm folds an eval-mode batch norm into the preceding conv", "[norm]") {
  Generator gen(11);
  const int64_t Cout = 5, Cin = 3;
  Tensor<double> W = randn<double>({Cout, Cin, 3, 3}, gen), b = randn<double>({Cout}, gen);
  Tensor<double> rm = randn<double>({Cout}, gen), rv = rand<double>({Cout}, gen, 0.5, 2.0);
  Tensor<double> gamma = randn<double>({Cout}, gen), beta = randn<double>({Cout}, gen);
  auto f = fold_batch_norm(W, b, rm, rv, gamma, beta, 1e-5);
  CHECK(f.weight.shape() == W.shape());
  // A conv output per channel is sum(W[c] * patch) + b[c]: fake one from random patches.
  Tensor<double> patches = randn<double>({2, Cin * 9, 6}, gen);  // (N, Cin*kh*kw, L)
  auto conv_like = [&](const Tensor<double>& w, const Tensor<double>& bias) {
    Tensor<double> y = matmul(w.reshape({Cout, Cin * 9}), patches);  // (N, Cout, L)
    return add(y, bias.reshape({Cout, 1})).reshape({2, Cout, 2, 3});
  };
  Tensor<double> ref = batch_norm2d(conv_like(W, b), gamma, beta, rm, rv, false);
  CHECK_CLOSE(conv_like(f.weight, f.bias), ref, 1e-12, 1e-12);
  // without conv bias and affine
  auto g = fold_batch_norm(W, Tensor<double>(), rm, rv, Tensor<double>(), Tensor<double>());
  Tensor<double> ref2 = batch_norm2d(conv_like(W, zeros<double>({Cout})), Tensor<double>(), Tensor<double>(), rm, rv, false);
  CHECK_CLOSE(conv_like(g.weight, g.bias), ref2, 1e-12, 1e-12);
  CHECK_THROWS_PACKD(fold_batch_norm(W, b, rm, rv, ones<double>({4}), beta), "fold_batch_norm: gamma of shape (4,)");
  CHECK_THROWS_PACKD(fold_batch_norm(W.reshape({Cout, -1}), b, rm, rv, gamma, beta), "fold_batch_norm: expected a 4-D");
}

TEST_CASE("fold_batch_norm matches batch_norm2d after conv2d", "[norm]") {
  Generator gen(12);
  Tensor<double> x = randn<double>({2, 4, 7, 6}, gen);
  Tensor<double> W = randn<double>({6, 2, 3, 3}, gen), b = randn<double>({6}, gen);  // groups = 2
  Tensor<double> rm = randn<double>({6}, gen), rv = rand<double>({6}, gen, 0.5, 2.0);
  Tensor<double> gamma = randn<double>({6}, gen), beta = randn<double>({6}, gen);
  Conv2dOptions o;
  o.stride = {2, 1};
  o.padding = {1, 1};
  o.groups = 2;
  Tensor<double> ref = batch_norm2d(conv2d(x, W, b, o), gamma, beta, rm, rv, false, 0.1, 1e-3);
  auto f = fold_batch_norm(W, b, rm, rv, gamma, beta, 1e-3);
  CHECK_CLOSE(conv2d(x, f.weight, f.bias, o), ref, 1e-10, 1e-10);
}

TEST_CASE("batch_norm2d refuses bad input", "[norm]") {
  Tensor<float> x = ones<float>({2, 3, 4, 4}), c3 = ones<float>({3}), c4 = ones<float>({4});
  Tensor<float> none;
  CHECK_THROWS_PACKD(batch_norm2d(ones<float>({2, 3, 4}), c3, c3, c3, c3, true), "batch_norm2d: expected a 4-D (N, C, H, W) input, got shape (2, 3, 4)");
  CHECK_THROWS_PACKD(batch_norm2d(x, c4, c3, c3, c3, true), "batch_norm2d: weight of shape (4,) does not match the 3 channels");
  CHECK_THROWS_PACKD(batch_norm2d(x, c3, c3, c3, c4, true), "batch_norm2d: running_var of shape (4,)");
  CHECK_THROWS_PACKD(batch_norm2d(x, c3, c3, none, none, false), "batch_norm2d: eval mode needs running_mean");
  CHECK_THROWS_PACKD(batch_norm2d(x, c3, c3, c3, none, true), "given together");
  CHECK_THROWS_PACKD(batch_norm2d(ones<float>({1, 3, 1, 1}), c3, c3, c3, c3, true),
                     "batch_norm2d: expected more than 1 value per channel when training, got input of shape (1, 3, 1, 1)");
  CHECK_NOTHROW(batch_norm2d(ones<float>({1, 3, 1, 1}), c3, c3, c3, c3, false));
}

TEST_CASE("batch_norm2d's saved input is protected against in-place changes", "[norm]") {
  Tensor<double> x = ones<double>({2, 2, 2, 2});
  x.data()[3] = 5;
  Tensor<double> w = ones<double>({2}).requires_grad_();
  Tensor<double> y = batch_norm2d(x, w, Tensor<double>(), Tensor<double>(), Tensor<double>(), true);
  x.fill_(2.0);
  CHECK_THROWS_PACKD(sum(y).backward(), "batch_norm2d: one of the tensors needed for gradient computation has been modified");
}
