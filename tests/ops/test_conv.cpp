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

// ---- the implicit-GEMM paths against a loop reference (float64), on every GEMM ISA --------------
// Shapes chosen to hit the special paths of backend/cpu/conv.hpp: batch > 1 with OH*OW not a
// multiple of the 32-pixel panel, output rows shorter than a panel, stride 1 (flipped-weight
// backward, incl. padding larger than the kernel reach: negative padding there) vs strided
// (col2im), k2 s2 (col2im as a scatter), groups, odd channel counts, 1x1 direct, and backward-weight
// sums over images longer than one KC block.
namespace {
struct RefConv {  // y = conv2d(x, w) and its gradients for dy, by the definition
  cpu::ConvGeometry g;
  std::vector<double> x, w;
  double& at(std::vector<double>& v, int64_t a, int64_t b, int64_t c, int64_t d, int64_t B, int64_t C, int64_t D) const {
    return v[std::size_t(((a * B + b) * C + c) * D + d)];
  }
  template <class F>
  void each(F f) const {  // f(n, k, oh, ow, c (global), kh, kw, ih, iw) over every in-range product
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t k = 0; k < g.K; ++k)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow)
            for (int64_t cl = 0; cl < g.Cg(); ++cl)
              for (int64_t kh = 0; kh < g.KH; ++kh)
                for (int64_t kw = 0; kw < g.KW; ++kw) {
                  const int64_t ih = oh * g.sh - g.ph + kh * g.dh, iw = ow * g.sw - g.pw + kw * g.dw;
                  if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                  f(n, k, oh, ow, k / g.Kg() * g.Cg() + cl, cl, kh, kw, ih, iw);
                }
  }
};

std::vector<double> to_vec(const Tensor<float>& t) {
  Tensor<float> c = t.contiguous();
  return std::vector<double>(c.data(), c.data() + c.numel());
}
Tensor<double> from_vec(const std::vector<double>& v, const Shape& s) {
  Tensor<double> t = Tensor<double>::empty(s);
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

// conv2d (transposed == false) or conv_transpose2d in float32 through packd, forward and both
// gradients, against RefConv in float64.
void check_against_loops(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t k, const Conv2dOptions& o,
                         bool transposed) {
  using cpu::detail::GemmIsa;
  Generator gen(11);
  const int64_t kg_w = transposed ? cout / o.groups : cin / o.groups;
  Tensor<float> x = randn<float>({n, cin, h, w}, gen);
  Tensor<float> wt = randn<float>({transposed ? cin : cout, kg_w, k, k}, gen);
  // The underlying convolution: for conv_transpose2d it maps y (N, cout, OH, OW) -> x.
  Tensor<float> y0 = transposed ? conv_transpose2d(x, wt, Tensor<float>(), o) : conv2d(x, wt, Tensor<float>(), o);
  Tensor<float> gy = randn<float>(y0.shape(), gen);
  RefConv r;
  r.g = transposed ? detail::conv_geometry(y0.shape(), wt.shape(), o, "t") : detail::conv_geometry(x.shape(), wt.shape(), o, "t");
  r.w = to_vec(wt);
  const cpu::ConvGeometry& g = r.g;
  // conv: cin_conv = x, out = y; transposed: conv input = y, conv output = x.
  std::vector<double> conv_in = transposed ? to_vec(gy) : to_vec(x), conv_out_grad = transposed ? to_vec(x) : to_vec(gy);
  std::vector<double> yref(std::size_t(g.N * g.K * g.OH * g.OW)), din(std::size_t(g.N * g.C * g.H * g.W)), dwref(r.w.size());
  std::vector<double> tin = transposed ? std::vector<double>(din.size()) : std::vector<double>();
  r.each([&](int64_t nn, int64_t kk, int64_t oh, int64_t ow, int64_t c, int64_t cl, int64_t kh, int64_t kw, int64_t ih, int64_t iw) {
    const double wv = r.w[std::size_t(((kk * g.Cg() + cl) * g.KH + kh) * g.KW + kw)];
    const std::size_t yi = std::size_t(((nn * g.K + kk) * g.OH + oh) * g.OW + ow);
    const std::size_t xi = std::size_t(((nn * g.C + c) * g.H + ih) * g.W + iw);
    yref[yi] += conv_in[xi] * wv;                                                      // conv forward
    din[xi] += conv_out_grad[yi] * wv;                                                 // conv backward-input
    dwref[std::size_t(((kk * g.Cg() + cl) * g.KH + kh) * g.KW + kw)] += conv_out_grad[yi] * conv_in[xi];
  });
  // Map to the op: conv2d: out = yref, dx = din, dw = dwref.
  // conv_transpose2d (x plays conv's dy, gy plays conv's input): out = din with conv_out_grad = x,
  // dx = conv forward of gy = yref, dw = dwref (same pairing).
  const Tensor<double> out_ref = from_vec(transposed ? din : yref, y0.shape());
  const Tensor<double> dx_ref = from_vec(transposed ? yref : din, x.shape());
  const Tensor<double> dw_ref = from_vec(dwref, wt.shape());
  for (GemmIsa isa : {GemmIsa::generic, GemmIsa::avx2, GemmIsa::avx512}) {
    if (!cpu::detail::gemm_isa_supported(isa)) continue;
    INFO("ISA " << cpu::detail::gemm_isa_name(isa));
    cpu::detail::set_gemm_isa(isa);
    Tensor<float> xr = x.detach().requires_grad_(), wr = wt.detach().requires_grad_();
    Tensor<float> y = transposed ? conv_transpose2d(xr, wr, Tensor<float>(), o) : conv2d(xr, wr, Tensor<float>(), o);
    y.backward(gy);
    CHECK_CLOSE(y.detach().to<double>(), out_ref, 1e-4, 1e-4);
    CHECK_CLOSE(xr.grad().to<double>(), dx_ref, 1e-4, 1e-4);
    CHECK_CLOSE(wr.grad().to<double>(), dw_ref, 1e-4, 2e-4);
  }
  cpu::detail::set_gemm_isa(GemmIsa::automatic);
}
}  // namespace

TEST_CASE("conv2d implicit-GEMM paths agree with loops on every ISA", "[conv]") {
  SECTION("3x3 stride 1, batch 3, 13x11 (pixels not a multiple of the panel)") {
    check_against_loops(3, 5, 7, 13, 11, 3, opts({1, 1}, {1, 1}), false);
  }
  SECTION("3x3 stride 1, dilation 2, groups 2, odd sizes") { check_against_loops(2, 6, 4, 9, 15, 3, opts({1, 1}, {2, 1}, {2, 2}, 2), false); }
  SECTION("padding beyond the kernel reach (negative padding in the flipped backward)") {
    check_against_loops(2, 3, 5, 6, 7, 1, opts({1, 1}, {1, 2}), false);
    check_against_loops(2, 3, 5, 6, 7, 3, opts({1, 1}, {3, 2}), false);
  }
  SECTION("strided: 3x3 stride 2 and stride (1, 2)") {
    check_against_loops(3, 5, 7, 11, 10, 3, opts({2, 2}, {1, 1}), false);
    check_against_loops(2, 3, 4, 8, 9, 3, opts({1, 2}, {0, 1}), false);
  }
  SECTION("1x1 direct, batch 3") { check_against_loops(3, 13, 9, 7, 5, 1, opts({1, 1}, {0, 0}), false); }
  SECTION("1x1 direct, images split over threads") { check_against_loops(3, 64, 48, 16, 16, 1, opts({1, 1}, {0, 0}), false); }
  SECTION("1x1 direct with groups") { check_against_loops(2, 6, 9, 5, 5, 1, opts({1, 1}, {0, 0}, {1, 1}, 3), false); }
  SECTION("larger: several GEMM blocks in every dimension, weight gradient over > KC pixels") {
    check_against_loops(2, 40, 50, 37, 23, 3, opts({1, 1}, {1, 1}), false);
  }
}

TEST_CASE("conv_transpose2d k2 s2 (scatter col2im) and other strides agree with loops", "[conv]") {
  SECTION("k2 s2, odd channels") { check_against_loops(3, 5, 3, 7, 6, 2, opts({2, 2}, {0, 0}), true); }
  SECTION("k2 s2 with groups") { check_against_loops(2, 6, 10, 5, 4, 2, opts({2, 2}, {0, 0}, {1, 1}, 2), true); }
  SECTION("k3 s2 output_padding (overlapping windows)") {
    check_against_loops(2, 4, 6, 5, 6, 3, opts({2, 2}, {1, 1}, {1, 1}, 1, {1, 1}), true);
  }
  SECTION("k3 s1 (the stride-1 backward as forward)") { check_against_loops(2, 4, 3, 6, 5, 3, opts({1, 1}, {1, 1}), true); }
}
