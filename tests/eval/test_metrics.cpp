// Metrics (include/packd/eval/metrics.hpp, connected_components.hpp) against sklearn 1.2, skimage
// 0.19 and RD4AD's official compute_pro (tests/reference/make_metrics_fixtures.py), plus a
// 20-million-pixel ROC AUC against a plain sort-and-sweep reference, and the error paths.
#include "packd/eval/metrics.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <utility>

#include "testing.hpp"

using packd::Tensor;
namespace eval = packd::eval;

namespace {

const packd::io::SafetensorsFile& fx() { return packd::testing::fixture("metrics"); }

constexpr double kTol = 1e-9;

template <class T>
std::vector<T> values(const std::string& name) {
  return fx().get<T>(name).to_vector();
}

std::vector<uint8_t> as_u8(const std::vector<float>& v) {
  std::vector<uint8_t> out;
  for (float x : v) out.push_back(uint8_t(x));
  return out;
}

const char* const kScoreCases[] = {"tied",     "continuous", "tied_signed",  "small",       "all_equal",
                                   "perfect",  "inverted",   "one_positive", "signed_zero", "all_positive"};

void check_f1(const eval::F1Max& got, const std::vector<double>& e) {
  CHECK(std::abs(got.f1 - e[0]) <= kTol);
  CHECK(got.threshold == e[1]);
  CHECK(std::abs(got.precision - e[2]) <= kTol);
  CHECK(std::abs(got.recall - e[3]) <= kTol);
}

// The map sets of the fixture, derived from the stored smooth maps as the script derives them.
Tensor<double> derived_maps(const std::string& set) {
  const Tensor<double> maps = fx().get<double>("maps.maps");
  if (set == "perfect") return fx().get<double>("maps.masks");
  const double q = set == "tied" ? 6.0 : set == "coarse" ? 2.0 : 0.0;
  if (q == 0) return maps;
  std::vector<double> v = maps.to_vector();
  for (double& x : v) x = std::nearbyint(x * q) / q;  // np.round: half to even
  return packd::from_vector(v, maps.shape());
}

}  // namespace

TEST_CASE("roc_auc and f1_max match sklearn (ties, signed zeros, edge cases)", "[metrics]") {
  for (const char* name : kScoreCases) {
    INFO("case " << name);
    const std::string p = std::string("score_") + name;
    const std::vector<double> s = values<double>(p + ".scores");
    const std::vector<float> lf = values<float>(p + ".labels");
    const std::vector<uint8_t> l = as_u8(lf);
    if (fx().contains(p + ".auc")) {
      const double e = fx().get<double>(p + ".auc").item();
      CHECK(std::abs(eval::roc_auc(s, l) - e) <= kTol);
      CHECK(std::abs(eval::roc_auc(std::span<const double>(s), std::span<const float>(lf)) - e) <= kTol);  // float labels
    } else {
      CHECK_THROWS_PACKD(eval::roc_auc(s, l), "only one class");
    }
    check_f1(eval::f1_max(s, l), values<double>(p + ".f1"));
  }
  SECTION("float32 scores") {
    const std::vector<float> s = values<float>("score_tied_f32.scores");
    const std::vector<uint8_t> l = as_u8(values<float>("score_tied_f32.labels"));
    CHECK(std::abs(eval::roc_auc(s, l) - fx().get<double>("score_tied_f32.auc").item()) <= kTol);
    const std::vector<double> e = values<double>("score_tied_f32.f1");
    const eval::F1Max f = eval::f1_max(s, l);
    CHECK(std::abs(f.f1 - e[0]) <= kTol);
    CHECK(f.threshold == e[1]);
  }
  SECTION("bool and int labels") {
    const bool lb[] = {false, false, true, true};
    const int li[] = {0, 0, 1, 1};
    const double s[] = {0.1, 0.4, 0.35, 0.8};
    CHECK(eval::roc_auc(std::span<const double>(s), std::span<const bool>(lb)) == 0.75);
    CHECK(eval::roc_auc(std::span<const double>(s), std::span<const int>(li)) == 0.75);
  }
}

TEST_CASE("roc_auc and f1_max reject bad input", "[metrics]") {
  const std::vector<double> s = {0.1, 0.5, 0.3};
  CHECK_THROWS_PACKD(eval::roc_auc(s, std::vector<uint8_t>{0, 1}), "3 scores but 2 labels");
  CHECK_THROWS_PACKD(eval::roc_auc(std::vector<double>{}, std::vector<uint8_t>{}), "no scores");
  CHECK_THROWS_PACKD(eval::roc_auc(s, std::vector<uint8_t>{0, 2, 1}), "label 2 at index 1 is not 0 or 1");
  CHECK_THROWS_PACKD(eval::roc_auc(s, std::vector<float>{0, 0.5f, 1}), "label 0.5 at index 1");
  CHECK_THROWS_PACKD(eval::roc_auc(std::vector<double>{0.1, NAN, 0.3}, std::vector<uint8_t>{0, 1, 1}), "score nan at index 1 is not finite");
  CHECK_THROWS_PACKD(eval::roc_auc(std::vector<double>{0.1, 0.2, INFINITY}, std::vector<uint8_t>{0, 1, 1}), "at index 2 is not finite");
  CHECK_THROWS_PACKD(eval::roc_auc(s, std::vector<uint8_t>{0, 0, 0}), "negatives, no positive");
  CHECK_THROWS_PACKD(eval::roc_auc(s, std::vector<uint8_t>{1, 1, 1}), "positives, no negative");
  CHECK_THROWS_PACKD(eval::f1_max(s, std::vector<uint8_t>{0, 0, 0}), "no positive label");
  CHECK_THROWS_PACKD(eval::f1_max(s, std::vector<uint8_t>{0, 1}), "3 scores but 2 labels");
}

TEST_CASE("label_components matches skimage.measure.label (8- and 4-connectivity)", "[metrics]") {
  for (const char* name : {"blobs", "speckle", "checker", "u_shape", "full", "empty", "row", "column"}) {
    INFO("case " << name);
    const std::string p = std::string("cc_") + name;
    const Tensor<float> mask = fx().get<float>(p + ".mask");
    const int64_t H = mask.size(0), W = mask.size(1);
    const std::vector<uint8_t> fg = as_u8(mask.to_vector());
    for (auto [conn, key] : {std::pair{eval::Connectivity::eight, ".label8"}, std::pair{eval::Connectivity::four, ".label4"}}) {
      INFO(key);
      int32_t count = -1;
      const std::vector<int32_t> got = eval::label_components(fg, H, W, conn, &count);
      const std::vector<float> e = values<float>(p + key);
      int32_t expected_count = 0, bad = 0;
      for (std::size_t i = 0; i < e.size(); ++i) {
        expected_count = std::max(expected_count, int32_t(e[i]));
        bad += got[i] != int32_t(e[i]);
      }
      CHECK(bad == 0);
      CHECK(count == expected_count);
    }
  }
  CHECK_THROWS_PACKD(eval::label_components(std::vector<uint8_t>(5), 2, 3), "5 mask values for 2 x 3 pixels");
}

TEST_CASE("RD4AD's thresholds reproduce numpy.arange bit for bit", "[metrics]") {
  for (const char* name : {"unit", "map", "negative", "tiny", "big", "random0", "random1", "random2"}) {
    INFO("case " << name);
    const std::vector<double> a = values<double>(std::string("arange_") + name + ".args");
    const std::vector<double> e = values<double>(std::string("arange_") + name + ".out");
    const std::vector<double> got = eval::detail::numpy_arange(a[0], a[1], a[2]);
    REQUIRE(got.size() == e.size());
    int64_t bad = 0;
    for (std::size_t i = 0; i < e.size(); ++i) bad += got[i] != e[i];
    CHECK(bad == 0);
  }
}

TEST_CASE("map metrics match sklearn, MVTec's AUPRO definition and RD4AD's compute_pro", "[metrics]") {
  const Tensor<float> masks = fx().get<float>("maps.masks");  // (8, 1, 32, 32)
  for (const char* set : {"smooth", "tied", "coarse", "smooth_f32", "perfect"}) {
    INFO("map set " << set);
    const std::string p = std::string("map_") + set;
    const Tensor<double> maps = derived_maps(set);
    auto check_all = [&](const auto& m) {
      CHECK(std::abs(eval::pixel_auroc(m, masks) - fx().get<double>(p + ".pixel_auroc").item()) <= kTol);
      CHECK(std::abs(eval::image_auroc(m, masks) - fx().get<double>(p + ".image_auroc").item()) <= kTol);
      const eval::F1Max f1 = eval::image_f1_max(m, masks);
      const std::vector<double> e1 = values<double>(p + ".image_f1");
      CHECK(std::abs(f1.f1 - e1[0]) <= kTol);
      CHECK(std::abs(f1.threshold - e1[1]) <= kTol);
      const Tensor<double> lim = fx().get<double>(p + ".aupro_global");
      for (int64_t r = 0; r < lim.size(0); ++r) {
        INFO("fpr_limit " << lim.at({r, 0}));
        CHECK(std::abs(eval::aupro_global(m, masks, lim.at({r, 0})) - lim.at({r, 1})) <= kTol);
      }
      const eval::Rd4adAupro rd = eval::aupro_rd4ad(m, masks);
      const std::vector<double> e = values<double>(p + ".aupro_rd4ad");
      CHECK(rd.images == std::vector<int64_t>{0, 1, 2, 3, 4});
      REQUIRE(rd.per_image.size() == e.size());
      for (std::size_t i = 0; i < e.size(); ++i) {
        INFO("image " << i << ": " << rd.per_image[i] << " vs " << e[i]);
        CHECK((std::isnan(e[i]) ? std::isnan(rd.per_image[i]) : std::abs(rd.per_image[i] - e[i]) <= kTol));
      }
      const double em = fx().get<double>(p + ".aupro_rd4ad_mean").item();
      CHECK((std::isnan(em) ? std::isnan(rd.mean) : std::abs(rd.mean - em) <= kTol));
    };
    if (std::string(set) == "smooth_f32") check_all(maps.to<float>());
    else check_all(maps);
  }
  SECTION("explicit image labels, (N, H, W) maps, int64 masks, a non-contiguous view") {
    const Tensor<double> maps = derived_maps("smooth");
    const std::vector<uint8_t> labels = {1, 1, 1, 1, 1, 0, 0, 0};
    CHECK(std::abs(eval::image_auroc(maps, labels) - fx().get<double>("map_smooth.image_auroc").item()) <= kTol);
    CHECK(std::abs(eval::image_f1_max(maps, labels).f1 - values<double>("map_smooth.image_f1")[0]) <= kTol);
    const Tensor<double> m3 = maps.reshape({8, 32, 32});
    const Tensor<int64_t> k3 = masks.reshape({8, 32, 32}).to<int64_t>();
    CHECK(std::abs(eval::pixel_auroc(m3, k3) - fx().get<double>("map_smooth.pixel_auroc").item()) <= kTol);
    CHECK(std::abs(eval::aupro_global(m3, k3) - fx().get<double>("map_smooth.aupro_global").at({0, 1})) <= kTol);
    // Transposing H and W of both keeps every region, FPR and threshold: the same values.
    const Tensor<double> mt = maps.transpose(2, 3);
    const Tensor<float> kt = masks.transpose(2, 3);
    REQUIRE(!mt.is_contiguous());
    CHECK(std::abs(eval::pixel_auroc(mt, kt) - fx().get<double>("map_smooth.pixel_auroc").item()) <= kTol);
    CHECK(std::abs(eval::aupro_global(mt, kt) - fx().get<double>("map_smooth.aupro_global").at({0, 1})) <= kTol);
    CHECK(std::abs(eval::aupro_rd4ad(mt, kt).mean - fx().get<double>("map_smooth.aupro_rd4ad_mean").item()) <= kTol);
  }
}

TEST_CASE("map metrics reject bad input", "[metrics]") {
  const Tensor<double> maps = derived_maps("smooth");
  const Tensor<float> masks = fx().get<float>("maps.masks");
  CHECK_THROWS_PACKD(eval::pixel_auroc(maps, masks.narrow(0, 0, 4)), "differ in shape");
  CHECK_THROWS_PACKD(eval::aupro_global(maps.reshape({8, 1024}), masks.reshape({8, 1024})), "(N, 1, H, W) or (N, H, W)");
  CHECK_THROWS_PACKD(eval::image_auroc(maps, std::vector<uint8_t>{1, 0}), "8 maps but 2 labels");
  CHECK_THROWS_PACKD(eval::aupro_global(maps, masks, 0.0), "fpr_limit must be in (0, 1]");
  CHECK_THROWS_PACKD(eval::aupro_global(maps, masks, 1.5), "fpr_limit must be in (0, 1]");

  std::vector<float> m = masks.to_vector();
  m[5 * 1024 + 3 * 32 + 7] = 0.5f;
  const Tensor<float> half = packd::from_vector(m, masks.shape());
  CHECK_THROWS_PACKD(eval::aupro_global(maps, half), "mask value 0.5 at image 5, pixel (3, 7) is not 0 or 1");
  CHECK_THROWS_PACKD(eval::aupro_rd4ad(maps, half), "mask value 0.5 at image 5, pixel (3, 7)");
  CHECK_THROWS_PACKD(eval::image_auroc(maps, half), "mask value 0.5 at image 5, pixel (3, 7)");
  CHECK_THROWS_PACKD(eval::pixel_auroc(maps, half), "label 0.5 at index 5223 is not 0 or 1");

  std::vector<double> s = maps.to_vector();
  s[2 * 1024 + 33] = NAN;
  const Tensor<double> nan_maps = packd::from_vector(s, maps.shape());
  CHECK_THROWS_PACKD(eval::aupro_global(nan_maps, masks), "map value nan at image 2, pixel (1, 1) is not finite");
  CHECK_THROWS_PACKD(eval::aupro_rd4ad(nan_maps, masks), "map value nan at image 2, pixel (1, 1)");
  CHECK_THROWS_PACKD(eval::pixel_auroc(nan_maps, masks), "score nan at index 2081 is not finite");
  CHECK_THROWS_PACKD(eval::image_auroc(nan_maps, masks), "map value nan at image 2, pixel (1, 1)");

  const Tensor<float> none = packd::zeros<float>(masks.shape());
  CHECK_THROWS_PACKD(eval::aupro_global(maps, none), "no mask has an anomalous pixel");
  CHECK_THROWS_PACKD(eval::aupro_rd4ad(maps, none), "no mask has an anomalous pixel");
  CHECK_THROWS_PACKD(eval::image_auroc(maps, none), "no positive");
  const Tensor<float> all = packd::ones<float>(masks.shape());
  CHECK_THROWS_PACKD(eval::aupro_global(maps, all), "every pixel is anomalous");
  CHECK_THROWS_PACKD(eval::aupro_rd4ad(maps, all), "image 0: the mask has no normal pixel");

  std::vector<double> c = maps.to_vector();
  std::fill(c.begin() + 3 * 1024, c.begin() + 4 * 1024, 0.25);
  CHECK_THROWS_PACKD(eval::aupro_rd4ad(packd::from_vector(c, maps.shape()), masks), "image 3: the map is constant");
  CHECK_THROWS_PACKD(eval::aupro_rd4ad(maps, masks, 0), "num_thresholds must be positive");
}

// A plain reference for the standard AUPRO: every pixel sorted, the whole curve, MVTec's trapezoid.
static double aupro_reference(const std::vector<double>& s, const std::vector<uint8_t>& m, int64_t N, int64_t H, int64_t W,
                              double limit) {
  std::vector<int64_t> region(s.size(), 0), size(1, 0);
  for (int64_t i = 0; i < N; ++i) {
    std::vector<uint8_t> fg(m.begin() + i * H * W, m.begin() + (i + 1) * H * W);
    int32_t count = 0;
    const std::vector<int32_t> lab = eval::label_components(fg, H, W, eval::Connectivity::eight, &count);
    const int64_t base = int64_t(size.size()) - 1;
    size.resize(size.size() + std::size_t(count), 0);
    for (int64_t j = 0; j < H * W; ++j)
      if (lab[std::size_t(j)]) region[std::size_t(i * H * W + j)] = base + lab[std::size_t(j)], ++size[std::size_t(base + lab[std::size_t(j)])];
  }
  const double R = double(size.size() - 1);
  int64_t num_ok = 0;
  for (int64_t r : region) num_ok += r == 0;
  std::vector<std::size_t> order(s.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
  std::vector<double> x{0}, y{0};
  int64_t fp = 0;
  double pro = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const int64_t r = region[order[i]];
    if (r == 0) ++fp;
    else pro += 1.0 / double(size[std::size_t(r)]);
    if (i + 1 == order.size() || s[order[i + 1]] != s[order[i]]) x.push_back(double(fp) / double(num_ok)), y.push_back(std::min(1.0, pro / R));
  }
  x.push_back(1), y.push_back(1);
  return eval::detail::trapezoid_to(x, y, limit) / limit;
}

TEST_CASE("aupro_global's cut at the FPR limit agrees with the whole curve (parallel sizes)", "[metrics]") {
  const int64_t N = 48, H = 64, W = 64;  // 196,608 pixels: the parallel passes
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> s(std::size_t(N * H * W));
  std::vector<uint8_t> m(s.size(), 0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const std::size_t j = std::size_t((i * H + y) * W + x);
        const bool blob = i % 3 == 0 && ((y - 20 - i % 7) * (y - 20 - i % 7) + (x - 30) * (x - 30) < 40 + i || (y > 50 && x % 9 == 0));
        m[j] = blob;
        s[j] = std::round((u(gen) + (blob ? 0.6 : 0.0)) * 200) / 200;  // ties
      }
  const Tensor<double> maps = packd::from_vector(s, {N, 1, H, W});
  std::vector<double> mv(m.begin(), m.end());
  const Tensor<double> masks = packd::from_vector(mv, {N, 1, H, W});
  for (double limit : {0.3, 0.05, 0.001, 0.999, 1.0}) {
    INFO("fpr_limit " << limit);
    CHECK(std::abs(eval::aupro_global(maps, masks, limit) - aupro_reference(s, m, N, H, W, limit)) <= 1e-12);
  }
}

TEST_CASE("radix_sort sorts in parallel like std::sort", "[metrics]") {
  std::mt19937_64 gen(3);
  for (int64_t n : {int64_t(5000), int64_t(1) << 20}) {
    std::vector<uint64_t> a(static_cast<std::size_t>(n)), buf(static_cast<std::size_t>(n));
    for (auto& k : a) k = gen() >> (gen() % 40);  // mixed magnitudes: some digits shared, some not
    std::vector<uint64_t> e = a;
    std::sort(e.begin(), e.end());
    eval::detail::radix_sort(a.data(), buf.data(), n, [](uint64_t k) { return k; });
    CHECK(a == e);
  }
}

TEST_CASE("roc_auc on 20 million pixels agrees with a sort-and-sweep reference", "[metrics][large]") {
  // Memory: scores 160 MB + labels 20 MB; inside roc_auc the keys (8 B/pixel) and the radix buffer
  // of the larger class (8 B/pixel at most): <= 16 B/pixel = 320 MB; the reference's pairs 320 MB
  // (after roc_auc has returned).
  const int64_t n = 20'000'000;
  std::vector<double> s(static_cast<std::size_t>(n));
  std::vector<uint8_t> l(static_cast<std::size_t>(n));
  std::mt19937_64 gen(11);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = gen();
    const bool pos = (r & 1023) < 40;  // ~4% anomalous pixels
    const double v = double(r >> 20) * 0x1p-44 + (pos ? 0.3 : 0.0);
    s[std::size_t(i)] = (r >> 10 & 3) == 0 ? std::round(v * 1000) / 1000 : v;  // a quarter of them tied
    l[std::size_t(i)] = pos;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double got = eval::roc_auc(s, l);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("roc_auc over %lld pixels: %.3f s (%d threads)\n", static_cast<long long>(n), secs, packd::cpu::max_threads());

  // Reference: sklearn's sweep over distinct thresholds, from the highest down, trapezoids summed.
  std::vector<std::pair<double, uint8_t>> p(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = {s[i], l[i]};
  std::vector<double>().swap(s);
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  double tp = 0, fp = 0, area = 0;
  for (std::size_t i = 0; i < p.size();) {
    const double tp0 = tp, fp0 = fp;
    for (const double v = p[i].first; i < p.size() && p[i].first == v; ++i) (p[i].second ? tp : fp) += 1;
    area += (fp - fp0) * (tp + tp0) / 2;
  }
  CHECK(std::abs(got - area / (tp * fp)) <= kTol);
}
