// The GPU pixel AUROC (cuda/metrics.cu, eval::pixel_auroc of maps on a CUDA device) against the
// CPU's: the same exact integer count, so the values must be equal bit for bit, ties included
// (quantised scores, -0 and +0), for float and double maps and float / int64 masks, at sizes
// below and above the CPU's radix-sort threshold; bad input gives the CPU's errors.
#include <cmath>
#include <limits>

#include "cuda_parity.hpp"
#include "packd/eval/metrics.hpp"

using namespace packd;

namespace {

// Maps (N, 1, H, W) of scores quantised to `levels` values (many ties) and 0/1 masks with about
// `frac` positives, positives scoring higher on average.
template <FloatScalar T, Scalar M>
std::pair<Tensor<T>, Tensor<M>> random_maps(int64_t N, int64_t H, int64_t W, int levels, double frac, uint64_t seed) {
  Generator gen(seed);
  Tensor<T> maps = Tensor<T>::empty({N, 1, H, W});
  Tensor<M> masks = Tensor<M>::empty({N, 1, H, W});
  T* s = maps.data();
  M* m = masks.data();
  for (int64_t i = 0; i < maps.numel(); ++i) {
    const bool pos = gen.uniform() < frac;
    const double x = gen.normal() + (pos ? 0.7 : 0.0);
    m[i] = pos ? M(1) : M(0);
    s[i] = T(std::round(x * levels) / levels);
    if (s[i] == T(0) && gen.uniform() < 0.5) s[i] = T(-0.0);  // -0 ties with +0
  }
  return {maps, masks};
}

template <FloatScalar T, Scalar M>
void check_same_auroc(int64_t N, int64_t H, int64_t W, int levels, double frac, uint64_t seed) {
  auto [maps, masks] = random_maps<T, M>(N, H, W, levels, frac, seed);
  const double cpu = eval::pixel_auroc(maps, masks);
  const double gpu = eval::pixel_auroc(maps.to(Device::cuda(0)), masks.to(Device::cuda(0)));
  INFO("N " << N << " H " << H << " W " << W << " levels " << levels << ": cpu " << cpu << " gpu " << gpu);
  CHECK(gpu == cpu);
  // Masks left on the host are moved to the maps' device.
  CHECK(eval::pixel_auroc(maps.to(Device::cuda(0)), masks) == cpu);
}

}  // namespace

TEST_CASE("GPU pixel AUROC equals the CPU's, ties included [cuda]", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  check_same_auroc<double, float>(3, 17, 19, 8, 0.2, 1);       // small: the CPU's std::sort path
  check_same_auroc<float, float>(4, 33, 31, 4, 0.3, 2);
  check_same_auroc<double, int64_t>(8, 64, 64, 16, 0.1, 3);    // above 4096 pixels: the CPU's radix sort
  check_same_auroc<float, double>(16, 128, 128, 1000, 0.05, 4);
  check_same_auroc<double, float>(40, 256, 256, 3, 0.02, 5);   // 2.6 M pixels, 7 distinct values or so
  check_same_auroc<double, float>(2, 512, 512, 1 << 20, 0.4, 6);  // nearly no ties
}

TEST_CASE("GPU pixel AUROC of a non-contiguous map and of a perfect one [cuda]", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  auto [maps, masks] = random_maps<double, float>(6, 40, 30, 10, 0.25, 7);
  const Tensor<double> t = maps.to(Device::cuda(0)).transpose(2, 3);  // (N, 1, W, H), strided
  const Tensor<float> mt = masks.to(Device::cuda(0)).transpose(2, 3);
  REQUIRE(!t.is_contiguous());
  CHECK(eval::pixel_auroc(t, mt) == eval::pixel_auroc(maps.transpose(2, 3), masks.transpose(2, 3)));
  // A map that is its mask: AUROC 1; its negation: 0.
  const Tensor<double> perfect = masks.to<double>();
  CHECK(eval::pixel_auroc(perfect.to(Device::cuda(0)), masks.to(Device::cuda(0))) == 1.0);
  CHECK(eval::pixel_auroc(neg(perfect).to(Device::cuda(0)), masks.to(Device::cuda(0))) == 0.0);
  // Every score equal: 0.5.
  CHECK(eval::pixel_auroc(zeros<double>(masks.shape(), Device::cuda(0)), masks.to(Device::cuda(0))) == 0.5);
}

TEST_CASE("GPU pixel AUROC rejects what the CPU rejects [cuda]", "[cuda]") {
  PACKD_SKIP_WITHOUT_CUDA();
  auto [maps, masks] = random_maps<double, float>(2, 8, 8, 10, 0.3, 8);
  const Device cuda = Device::cuda(0);
  Tensor<double> bad = maps.clone();
  bad.data()[37] = std::numeric_limits<double>::quiet_NaN();
  bad.data()[50] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_PACKD(eval::pixel_auroc(bad.to(cuda), masks.to(cuda)), "pixel_auroc: score nan at index 37 is not finite");
  Tensor<float> bad_mask = masks.clone();
  bad_mask.data()[21] = 2.0f;
  CHECK_THROWS_PACKD(eval::pixel_auroc(maps.to(cuda), bad_mask.to(cuda)), "pixel_auroc: label 2 at index 21 is not 0 or 1");
  CHECK_THROWS_PACKD(eval::pixel_auroc(maps.to(cuda), zeros<float>(masks.shape(), cuda)), "only one class is present");
  CHECK_THROWS_PACKD(eval::pixel_auroc(maps.to(cuda), ones<float>(masks.shape(), cuda)), "only one class is present");
}
