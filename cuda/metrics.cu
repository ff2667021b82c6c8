// CUDA ROC AUC (eval/metrics.hpp's pixel_auroc for maps on a CUDA device): Thrust on the packd
// stream, temporary storage from packd's caching allocator.
//
// The CPU counts the AUC exactly, Σ_positives #(neg < p) + #(neg <= p) over order-preserving keys,
// and divides once. Here the same integer: the (key, is-positive) pairs are sorted by key, each run
// of equal keys (a tie group g) is reduced to its counts pos_g and neg_g, and
//   Σ_positives #(neg < p) + #(neg <= p) = Σ_g pos_g (2 below_g + neg_g),
// below_g the negatives of the groups before g (an exclusive scan). The sum fits in 64 bits for
// n < 2^32 (at most 2 P N < 2^63), so the result is bit-identical to the CPU's.
#include <thrust/count.h>
#include <thrust/execution_policy.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/discard_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>
#include <thrust/transform_reduce.h>
#include <thrust/transform_scan.h>
#include <thrust/tuple.h>

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "packd/backend/cuda/metrics.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda {

namespace {

// Thrust's temporary storage (the radix sort's buffers) from the caching allocator.
struct ThrustAllocator {
  using value_type = char;
  int device;
  char* allocate(std::ptrdiff_t n) { return static_cast<char*>(device_allocate(std::size_t(n), device)); }
  void deallocate(char* p, std::size_t n) { device_deallocate(p, n, device); }
};

template <class S>
using key_t = std::conditional_t<std::is_same_v<S, float>, uint32_t, uint64_t>;

// The CPU's score_key (eval/metrics.hpp): an unsigned key with key(a) < key(b) <=> a < b for
// non-NaN values; -0 takes +0's key (they tie, as numpy compares them).
__device__ inline uint32_t score_bits(float x) { return __float_as_uint(x == 0.0f ? 0.0f : x); }
__device__ inline uint64_t score_bits(double x) { return uint64_t(__double_as_longlong(x == 0.0 ? 0.0 : x)); }
template <class K>
__device__ inline K order_key(K b) {
  constexpr K sign = K(1) << (8 * sizeof(K) - 1);
  return (b & sign) ? K(~b) : K(b | sign);
}

// i when score i is not finite or label i is not 0/1, else n (the min over i finds the first).
template <class S, class L>
struct FirstBad {
  const S* scores;
  const L* labels;
  int64_t n;
  __device__ int64_t operator()(int64_t i) const {
    const S s = scores[i];
    const L l = labels[i];
    return isfinite(s) && (l == L(0) || l == L(1)) ? n : i;
  }
};

// keys[i] = the order key of score i, positive[i] = (label i == 1).
template <class S, class L>
struct MakeKeys {
  const S* scores;
  const L* labels;
  key_t<S>* keys;
  uint8_t* positive;
  __device__ void operator()(int64_t i) const {
    keys[i] = order_key(score_bits(scores[i]));
    positive[i] = labels[i] == L(1) ? 1 : 0;
  }
};

// One pixel's counts packed in 64 bits: positives << 32 | negatives (each < 2^32, no carry).
struct PackCount {
  __host__ __device__ uint64_t operator()(uint8_t positive) const { return positive ? uint64_t(1) << 32 : uint64_t(1); }
};
struct NegativesOf {
  __host__ __device__ uint64_t operator()(uint64_t packed) const { return packed & 0xffffffffull; }
};
// pos_g (2 below_g + neg_g) of a tie group.
struct GroupTerm {
  __host__ __device__ uint64_t operator()(const thrust::tuple<uint64_t, uint64_t>& t) const {
    const uint64_t packed = thrust::get<0>(t), below = thrust::get<1>(t);
    return (packed >> 32) * (2 * below + (packed & 0xffffffffull));
  }
};

template <class L>
auto printable(L l) {
  if constexpr (std::is_floating_point_v<L>) return double(l);
  else return int64_t(l);
}

}  // namespace

template <class S, class L>
double roc_auc(const S* scores, const L* labels, int64_t n, int device, const char* fn) {
  using K = key_t<S>;
  PACKD_CHECK(n > 0, fn, ": no scores");
  PACKD_CHECK(n < (int64_t(1) << 32), fn, ": ", n, " scores; at most 2^32 - 1 are supported");
  DeviceGuard guard(device);
  cudaStream_t stream = current_stream();
  ThrustAllocator alloc{device};
  auto policy = thrust::cuda::par(alloc).on(stream);

  // The first bad value, reported as the CPU reports it.
  const int64_t bad = thrust::transform_reduce(policy, thrust::counting_iterator<int64_t>(0),
                                               thrust::counting_iterator<int64_t>(n), FirstBad<S, L>{scores, labels, n}, n,
                                               thrust::minimum<int64_t>());
  if (bad < n) {
    S s{};
    L l{};
    PACKD_CUDA_CHECK(cudaMemcpyAsync(&s, scores + bad, sizeof s, cudaMemcpyDeviceToHost, stream));
    PACKD_CUDA_CHECK(cudaMemcpyAsync(&l, labels + bad, sizeof l, cudaMemcpyDeviceToHost, stream));
    PACKD_CUDA_CHECK(cudaStreamSynchronize(stream));
    PACKD_CHECK(std::isfinite(s), fn, ": score ", s, " at index ", bad, " is not finite");
    PACKD_CHECK(false, fn, ": label ", printable(l), " at index ", bad, " is not 0 or 1");
  }

  DeviceBuffer<K> keys{std::size_t(n)};                // (n,) order keys
  DeviceBuffer<uint8_t> positive{std::size_t(n)};      // (n,) 1 for label 1
  for_each_index(n, MakeKeys<S, L>{scores, labels, keys.get(), positive.get()});
  const int64_t P = int64_t(thrust::count(policy, positive.get(), positive.get() + n, uint8_t(1)));
  const int64_t N = n - P;
  PACKD_CHECK(P > 0 && N > 0, fn, ": only one class is present in the labels (", n,
              P > 0 ? " positives, no negative" : " negatives, no positive",
              "): ROC AUC is undefined (sklearn's roc_auc_score raises ValueError too)");

  thrust::sort_by_key(policy, keys.get(), keys.get() + n, positive.get());
  // Tie groups: packed (pos_g, neg_g) per run of equal keys, in ascending key order.
  DeviceBuffer<uint64_t> groups{std::size_t(n)};       // (G,) used
  const auto ends = thrust::reduce_by_key(policy, keys.get(), keys.get() + n,
                                          thrust::make_transform_iterator(positive.get(), PackCount{}),
                                          thrust::make_discard_iterator(), groups.get());
  const int64_t G = int64_t(ends.second - groups.get());
  DeviceBuffer<uint64_t> below{std::size_t(G)};        // (G,) negatives before group g
  thrust::transform_exclusive_scan(policy, groups.get(), groups.get() + G, below.get(), NegativesOf{}, uint64_t(0),
                                   thrust::plus<uint64_t>());
  const auto first = thrust::make_zip_iterator(thrust::make_tuple(groups.get(), below.get()));
  const uint64_t total = thrust::transform_reduce(policy, first, first + G, GroupTerm{}, uint64_t(0), thrust::plus<uint64_t>());
  return double(total) / (2.0 * double(P) * double(N));
}

#define PACKD_INSTANTIATE(S, L) template double roc_auc<S, L>(const S*, const L*, int64_t, int, const char*);
PACKD_INSTANTIATE(float, float)
PACKD_INSTANTIATE(float, double)
PACKD_INSTANTIATE(float, int64_t)
PACKD_INSTANTIATE(double, float)
PACKD_INSTANTIATE(double, double)
PACKD_INSTANTIATE(double, int64_t)
#undef PACKD_INSTANTIATE

}  // namespace packd::cuda
