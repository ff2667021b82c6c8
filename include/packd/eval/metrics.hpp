#pragma once
// Anomaly-detection metrics (foundations.md 1.9, packd-method.md D15), exact, on host arrays.
//
//   roc_auc(scores, labels)         sklearn.metrics.roc_auc_score: P(s+ > s-) + ½ P(s+ = s-), which is
//                                   the trapezoid over the ROC's distinct thresholds
//   f1_max(scores, labels)          max over thresholds of 2PR / (P + R) on sklearn's
//                                   precision_recall_curve (anomalib's F1Max, without its 1e-10)
//   pixel_auroc / image_auroc       roc_auc over every pixel of every map / over each map's max
//   image_f1_max                    f1_max over each map's max
//   aupro_global                    STANDARD AUPRO (MVTec AD's evaluation code; anomalib's definition):
//                                   one PRO curve over the whole test set, FPR limit 0.3, area / 0.3
//   aupro_rd4ad                     RD4AD's PER-IMAGE VARIANT (test.py compute_pro): 200 thresholds per
//                                   image, mean over anomalous images. Not comparable to the standard one.
//
// Maps are (N, 1, H, W) (or (N, H, W)) float64 or float32 tensors, masks the same shape holding 0/1
// (float, double or int64), on any device (copied to the host), except pixel_auroc of maps on a CUDA
// device: it runs there (masks moved to it), with Thrust's radix sort, and gives the CPU's value bit
// for bit (the same integer count; cuda/metrics.cu). Bad input (shapes, a label or mask value other
// than 0/1, a NaN or infinite score, a class missing) throws packd::Error naming it.
//
// Sorting. Scores become order-preserving unsigned keys (a float's bits, sign-flipped; -0 == +0),
// split by label into a positive and a negative array and sorted by a parallel LSD radix sort (8-bit
// digits, digits shared by every key skipped). Peak extra memory of roc_auc / pixel_auroc: the keys
// (sizeof(score) bytes per pixel) plus one radix buffer for the larger class: at most 16 bytes per
// pixel for double scores, 8 for float; 100 million double pixels need at most 1.6 GB besides the
// caller's arrays. The AUC is then counted exactly in integers, Σ_positives #(neg < p) + #(neg <= p),
// and divided once, so it is the correctly rounded value (sklearn's trapezoid agrees to ~1e-15).
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "packd/autograd/grad_mode.hpp"
#include "packd/backend/cpu/parallel.hpp"
#include "packd/backend/cuda/metrics.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/eval/connected_components.hpp"
#include "packd/tensor.hpp"

namespace packd::eval {

// The best F1 over all thresholds, and where: the lowest threshold among equal maxima, as
// argmax over precision_recall_curve's ascending thresholds picks it.
struct F1Max {
  double f1 = 0;         // 2 P R / (P + R)
  double threshold = 0;  // predict anomalous when score >= threshold
  double precision = 0;
  double recall = 0;
};

// RD4AD's per-image AUPRO: the reported number is `mean`.
struct Rd4adAupro {
  double mean = 0;                // np.mean over the anomalous images
  std::vector<int64_t> images;    // the anomalous images: those whose mask has a positive pixel
  std::vector<double> per_image;  // compute_pro of each, in the order of `images`
};

namespace detail {

template <class S>
concept MetricScore = std::is_same_v<S, float> || std::is_same_v<S, double>;

template <MetricScore S>
using score_key_t = std::conditional_t<std::is_same_v<S, float>, uint32_t, uint64_t>;

// Unsigned key with key(a) < key(b) <=> a < b for non-NaN floats; -0 maps to +0's key (they tie,
// as numpy compares them).
template <MetricScore S>
score_key_t<S> score_key(S x) {
  using K = score_key_t<S>;
  constexpr K sign = K(1) << (8 * sizeof(K) - 1);
  const K b = std::bit_cast<K>(x == S(0) ? S(0) : x);
  return (b & sign) ? K(~b) : K(b | sign);
}

template <MetricScore S>
S key_score(score_key_t<S> k) {
  using K = score_key_t<S>;
  constexpr K sign = K(1) << (8 * sizeof(K) - 1);
  return std::bit_cast<S>((k & sign) ? K(k & ~sign) : K(~k));
}

// An uninitialised array (a std::vector would write every element once more).
template <class T>
struct HostArray {
  std::unique_ptr<T[]> p;
  int64_t n = 0;
  explicit HostArray(int64_t size = 0) : p(size > 0 ? std::make_unique_for_overwrite<T[]>(std::size_t(size)) : nullptr), n(size) {}
  T* data() const { return p.get(); }
  T& operator[](int64_t i) const { return p[std::size_t(i)]; }
};

// Threads for a pass over n elements: parallel only where it pays.
inline int metric_threads(int64_t n) {
  return n < (int64_t(1) << 17) || cpu::in_parallel() ? 1 : cpu::max_threads();
}

// Fixed chunks of a pass (not per-thread ranges, which the pool does not allow): chunk c covers
// [c * size, min(n, (c + 1) * size)).
struct Chunks {
  int64_t n, size, count;
  explicit Chunks(int64_t n_, int64_t size_ = int64_t(1) << 16)
      : n(n_), size(size_), count(n_ > 0 ? (n_ + size_ - 1) / size_ : 0) {}
  int64_t begin(int64_t c) const { return c * size; }
  int64_t end(int64_t c) const { return std::min(n, (c + 1) * size); }
};

// Sorts a[0, n) ascending by key_of(a[i]) (an unsigned integer); buf holds n records of scratch.
// LSD radix sort, 8-bit digits: per pass, per-chunk digit counts (parallel), exclusive offsets in
// (digit, chunk) order, then each chunk scatters its records to its own offsets (parallel). Each
// pass is stable, so it keeps the order of the digits below; a digit every key shares is skipped
// (the top bytes of scores in a narrow range). Below 4096 records: std::sort (equal keys may move).
template <class Rec, class KeyOf>
void radix_sort(Rec* a, Rec* buf, int64_t n, KeyOf key_of) {
  using K = std::decay_t<decltype(key_of(*a))>;
  static_assert(std::is_unsigned_v<K>, "radix_sort: keys must be unsigned integers");
  if (n < 4096) {
    std::sort(a, a + n, [&](const Rec& x, const Rec& y) { return key_of(x) < key_of(y); });
    return;
  }
  const int nt = metric_threads(n);
  const Chunks chunks(n, std::max<int64_t>(int64_t(1) << 15, (n + 4 * nt - 1) / (4 * nt)));
  std::vector<std::array<int64_t, 256>> offset(std::size_t(chunks.count));  // [chunk][digit]
  Rec* src = a;
  Rec* dst = buf;
  for (unsigned shift = 0; shift < 8 * sizeof(K); shift += 8) {
    cpu::pool_for(chunks.count, nt, [&](int64_t c) {
      std::array<int64_t, 256>& h = offset[std::size_t(c)];
      h.fill(0);
      for (int64_t i = chunks.begin(c); i < chunks.end(c); ++i) ++h[(key_of(src[i]) >> shift) & 255u];
    });
    std::array<int64_t, 256> total{};
    for (const auto& h : offset)
      for (int d = 0; d < 256; ++d) total[std::size_t(d)] += h[std::size_t(d)];
    if (std::find(total.begin(), total.end(), n) != total.end()) continue;  // one digit for all: a copy
    int64_t run = 0;
    for (std::size_t d = 0; d < 256; ++d)
      for (auto& h : offset) {
        const int64_t k = h[d];
        h[d] = run;
        run += k;
      }
    cpu::pool_for(chunks.count, nt, [&](int64_t c) {
      std::array<int64_t, 256> at = offset[std::size_t(c)];
      for (int64_t i = chunks.begin(c); i < chunks.end(c); ++i) {
        const Rec r = src[i];
        dst[at[(key_of(r) >> shift) & 255u]++] = r;
      }
    });
    std::swap(src, dst);
  }
  if (src != a) cpu::parallel_for(0, n, nt, [&](int64_t b, int64_t e) { std::copy(src + b, src + e, a + b); });
}

// Scores split by label into sorted key arrays.
template <MetricScore S>
struct SortedByClass {
  HostArray<score_key_t<S>> pos, neg;  // ascending
};

template <class L>
bool is_binary_label(L l) {
  if constexpr (std::is_same_v<L, bool>) return true;
  else return l == L(0) || l == L(1);
}

// Printable label (uint8_t would print as a character).
template <class L>
auto printable(L l) {
  if constexpr (std::is_floating_point_v<L>) return double(l);
  else return int64_t(l);
}

// Checks scores (finite) and labels (0/1), splits the keys by class, sorts both. `fn` names the
// caller in errors. Two parallel passes over fixed chunks: count (and find the first bad value),
// then write each chunk's keys at its prefix offsets.
template <MetricScore S, class L>
SortedByClass<S> sort_by_class(const S* scores, const L* labels, int64_t n, const char* fn) {
  using K = score_key_t<S>;
  PACKD_CHECK(n > 0, fn, ": no scores");
  PACKD_CHECK(n < (int64_t(1) << 32), fn, ": ", n, " scores; at most 2^32 - 1 are supported");
  const int nt = metric_threads(n);
  const Chunks chunks(n);
  std::vector<int64_t> npos(std::size_t(chunks.count)), bad(std::size_t(chunks.count), -1);
  cpu::pool_for(chunks.count, nt, [&](int64_t c) {
    int64_t p = 0;
    for (int64_t i = chunks.begin(c); i < chunks.end(c); ++i) {
      if (!std::isfinite(scores[i]) || !is_binary_label(labels[i])) {
        bad[std::size_t(c)] = i;
        return;
      }
      p += labels[i] == L(1);
    }
    npos[std::size_t(c)] = p;
  });
  for (int64_t i : bad) {
    if (i < 0) continue;
    PACKD_CHECK(std::isfinite(scores[i]), fn, ": score ", scores[i], " at index ", i, " is not finite");
    PACKD_CHECK(false, fn, ": label ", printable(labels[i]), " at index ", i, " is not 0 or 1");
  }
  int64_t P = 0;
  for (int64_t& p : npos) {  // -> the chunk's first positive slot
    const int64_t k = p;
    p = P;
    P += k;
  }
  const int64_t N = n - P;
  SortedByClass<S> out{HostArray<K>(P), HostArray<K>(N)};
  cpu::pool_for(chunks.count, nt, [&](int64_t c) {
    int64_t ip = npos[std::size_t(c)], in = chunks.begin(c) - ip;
    for (int64_t i = chunks.begin(c); i < chunks.end(c); ++i) {
      const K k = score_key(scores[i]);
      if (labels[i] == L(1)) out.pos[ip++] = k;
      else out.neg[in++] = k;
    }
  });
  HostArray<K> buf(std::max(P, N));
  auto id = [](K k) { return k; };
  radix_sort(out.pos.data(), buf.data(), P, id);
  radix_sort(out.neg.data(), buf.data(), N, id);
  return out;
}

// 2 Σ_{positives p} [#(neg < p) + ½ #(neg = p)] from sorted keys, exactly (< 2^63 for n < 2^32),
// over chunks of the positives, each starting its two merge pointers by binary search.
template <class K>
double auc_from_sorted(const HostArray<K>& pos, const HostArray<K>& neg) {
  const int64_t P = pos.n, N = neg.n;
  const Chunks chunks(P);
  std::vector<uint64_t> part(std::size_t(chunks.count));
  cpu::pool_for(chunks.count, metric_threads(P + N), [&](int64_t c) {
    const K* nb = neg.data();
    int64_t lt = std::lower_bound(nb, nb + N, pos[chunks.begin(c)]) - nb;  // #(neg < p)
    int64_t le = lt;                                                        // #(neg <= p)
    uint64_t s = 0;
    for (int64_t i = chunks.begin(c); i < chunks.end(c); ++i) {
      const K k = pos[i];
      while (lt < N && nb[lt] < k) ++lt;
      le = std::max(le, lt);
      while (le < N && nb[le] <= k) ++le;
      s += uint64_t(lt + le);
    }
    part[std::size_t(c)] = s;
  });
  uint64_t total = 0;
  for (uint64_t s : part) total += s;
  return double(total) / (2.0 * double(P) * double(N));
}

template <MetricScore S, class L>
double roc_auc_impl(const S* scores, const L* labels, int64_t n, const char* fn) {
  const SortedByClass<S> s = sort_by_class(scores, labels, n, fn);
  PACKD_CHECK(s.pos.n > 0 && s.neg.n > 0, fn, ": only one class is present in the labels (", n,
              s.pos.n > 0 ? " positives, no negative" : " negatives, no positive",
              "): ROC AUC is undefined (sklearn's roc_auc_score raises ValueError too)");
  return auc_from_sorted(s.pos, s.neg);
}

// Walks the distinct thresholds from the highest down (sklearn's _binary_clf_curve order).
template <MetricScore S, class L>
F1Max f1_max_impl(const S* scores, const L* labels, int64_t n, const char* fn) {
  const SortedByClass<S> s = sort_by_class(scores, labels, n, fn);
  const int64_t P = s.pos.n, N = s.neg.n;
  PACKD_CHECK(P > 0, fn, ": no positive label among ", n, ": recall, and so F1, is undefined");
  F1Max best;
  best.f1 = -1;
  for (int64_t ip = P, in = N; ip > 0 || in > 0;) {
    const auto v = std::max(ip > 0 ? s.pos[ip - 1] : 0, in > 0 ? s.neg[in - 1] : 0);
    while (ip > 0 && s.pos[ip - 1] == v) --ip;
    while (in > 0 && s.neg[in - 1] == v) --in;
    const double tp = double(P - ip), fp = double(N - in);
    const double prec = tp / (tp + fp), rec = tp / double(P);
    const double f1 = prec + rec > 0 ? 2.0 * prec * rec / (prec + rec) : 0.0;
    if (f1 >= best.f1) best = {f1, double(key_score<S>(v)), prec, rec};  // >=: the lower threshold wins ties
  }
  return best;
}

// ---- maps and masks ------------------------------------------------------------------------------

struct MapShape {
  int64_t N, H, W;
  int64_t pixels() const { return H * W; }
};

template <FloatScalar T, Scalar M>
MapShape check_maps_masks(const Tensor<T>& maps, const Tensor<M>& masks, const char* fn) {
  PACKD_CHECK(maps.defined() && masks.defined(), fn, ": maps or masks is an undefined tensor");
  PACKD_CHECK(maps.shape() == masks.shape(), fn, ": maps ", maps.shape(), " and masks ", masks.shape(), " differ in shape");
  PACKD_CHECK((maps.dim() == 4 && maps.size(1) == 1) || maps.dim() == 3, fn,
              ": maps and masks must be (N, 1, H, W) or (N, H, W), got ", maps.shape());
  PACKD_CHECK(maps.numel() > 0, fn, ": empty maps ", maps.shape());
  return {maps.size(0), maps.size(-2), maps.size(-1)};
}

template <FloatScalar T>
void check_maps(const Tensor<T>& maps, const char* fn) {
  PACKD_CHECK(maps.defined(), fn, ": maps is an undefined tensor");
  PACKD_CHECK((maps.dim() == 4 && maps.size(1) == 1) || maps.dim() == 3, fn,
              ": maps must be (N, 1, H, W) or (N, H, W), got ", maps.shape());
  PACKD_CHECK(maps.numel() > 0, fn, ": empty maps ", maps.shape());
}

// The data on the host, contiguous (a copy only when needed).
template <Scalar T>
Tensor<T> host_contiguous(const Tensor<T>& t) {
  NoGradGuard no_grad;
  return t.to(Device::cpu()).contiguous();
}

// First bad value of image i (a non-finite score or a mask value other than 0/1), as an error.
template <FloatScalar T, Scalar M>
void check_map_values(const T* s, const M* m, const MapShape& g, const char* fn) {
  std::vector<int64_t> bad(std::size_t(g.N), -1);
  cpu::pool_for(g.N, metric_threads(g.N * g.pixels()), [&](int64_t i) {
    for (int64_t j = i * g.pixels(); j < (i + 1) * g.pixels(); ++j)
      if (!std::isfinite(s[j]) || !(m[j] == M(0) || m[j] == M(1))) {
        bad[std::size_t(i)] = j;
        return;
      }
  });
  for (int64_t j : bad) {
    if (j < 0) continue;
    const int64_t i = j / g.pixels(), y = j % g.pixels() / g.W, x = j % g.W;
    PACKD_CHECK(std::isfinite(s[j]), fn, ": map value ", s[j], " at image ", i, ", pixel (", y, ", ", x, ") is not finite");
    PACKD_CHECK(false, fn, ": mask value ", double(m[j]), " at image ", i, ", pixel (", y, ", ", x, ") is not 0 or 1");
  }
}

// Each map's max (RD4AD's image score).
template <FloatScalar T>
std::vector<T> per_image_max(const T* s, const MapShape& g, const char* fn) {
  std::vector<T> out(std::size_t(g.N));
  for (int64_t i = 0; i < g.N; ++i) {
    T mx = s[i * g.pixels()];
    for (int64_t j = i * g.pixels(); j < (i + 1) * g.pixels(); ++j) {
      PACKD_CHECK(!std::isnan(s[j]), fn, ": map value nan at image ", i, ", pixel (", (j % g.pixels()) / g.W, ", ",
                  j % g.W, ")");
      mx = std::max(mx, s[j]);
    }
    out[std::size_t(i)] = mx;
  }
  return out;
}

// 1 iff the image's mask has a positive pixel (RD4AD's max(gt)); checks the values are 0/1.
template <Scalar M>
std::vector<uint8_t> per_image_label(const M* m, const MapShape& g, const char* fn) {
  std::vector<uint8_t> out(std::size_t(g.N), 0);
  for (int64_t j = 0; j < g.N * g.pixels(); ++j) {
    PACKD_CHECK(m[j] == M(0) || m[j] == M(1), fn, ": mask value ", double(m[j]), " at image ", j / g.pixels(),
                ", pixel (", j % g.pixels() / g.W, ", ", j % g.W, ") is not 0 or 1");
    if (m[j] == M(1)) out[std::size_t(j / g.pixels())] = 1;
  }
  return out;
}

// Σ of doubles with Neumaier's compensation (PRO sums millions of 1/|region| terms).
struct CompensatedSum {
  double sum = 0, c = 0;
  void add(double v) {
    const double t = sum + v;
    c += std::abs(sum) >= std::abs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
  }
  double value() const { return sum + c; }
};

// MVTec AD's trapezoid(x, y, x_max) (generic_util.py): the trapezoidal area of the points with
// x <= x_max, plus, when x_max is not itself a point, the slice up to x_max under the segment that
// crosses it, its y interpolated linearly. x ascending, x[0] <= x_max < x.back() or x_max in x.
inline double trapezoid_to(const std::vector<double>& x, const std::vector<double>& y, double x_max) {
  double area = 0;
  std::size_t last = 0;
  for (std::size_t i = 1; i < x.size() && x[i] <= x_max; ++i) {
    area += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
    last = i;
  }
  if (x[last] != x_max && last + 1 < x.size()) {
    const std::size_t i = last + 1;
    const double y_at = y[last] + (y[i] - y[last]) * (x_max - x[last]) / (x[i] - x[last]);
    area += 0.5 * (y_at + y[last]) * (x_max - x[last]);
  }
  return area;
}

// RD4AD's thresholds np.arange(lo, hi, step): numpy's length ceil((hi - lo) / step), first value
// lo, second lo + step, then lo + i * delta with delta = (lo + step) - lo (numpy's fill), each
// product rounded before the sum (no fused multiply-add).
inline std::vector<double> numpy_arange(double lo, double hi, double step) {
  const double len = std::ceil((hi - lo) / step);
  PACKD_ASSERT(len >= 1 && len < 1e7, "arange length ", len);
  std::vector<double> th(static_cast<std::size_t>(len));
  th[0] = lo;
  if (th.size() > 1) th[1] = lo + step;
  const double delta = th.size() > 1 ? th[1] - th[0] : 0.0;
  for (std::size_t i = 2; i < th.size(); ++i) {
    volatile double p = double(i) * delta;  // volatile: the product is rounded, as in numpy
    th[i] = lo + p;
  }
  return th;
}

// compute_pro of RD4AD's test.py for one image (s, m: H*W values; m 0/1 with both present).
// Thresholds th_j as above; binary_j = s > th_j. A pixel is above th_j for j < k(s) = #(th < s)
// (th is ascending), so one histogram of k per region and for the normal pixels gives every
// threshold's overlaps by suffix sums. Rows with fpr < 0.3 are kept (in threshold order), fpr is
// divided by its largest kept value and sklearn's auc (direction-aware np.trapz) is returned.
// Returns an empty string and sets `out`, or the reason the official code would fail.
template <FloatScalar T, Scalar M>
std::string rd4ad_image_pro(const T* s, const M* m, int64_t H, int64_t W, int num_th, double& out) {
  const int64_t HW = H * W;
  std::vector<uint8_t> fg(static_cast<std::size_t>(HW));
  int64_t num_neg = 0;
  double lo = double(s[0]), hi = double(s[0]);
  for (int64_t j = 0; j < HW; ++j) {
    fg[std::size_t(j)] = m[j] == M(1);
    num_neg += m[j] == M(0);
    lo = std::min(lo, double(s[j])), hi = std::max(hi, double(s[j]));
  }
  if (num_neg == 0) return "the mask has no normal pixel (RD4AD's compute_pro asserts that both 0 and 1 occur)";
  const double step = (hi - lo) / double(num_th);
  if (!(step > 0)) return "the map is constant, so np.arange(min, max, (max - min) / num_th) has no thresholds";
  const std::vector<double> th = numpy_arange(lo, hi, step);
  for (std::size_t j = 1; j < th.size(); ++j) PACKD_ASSERT(th[j - 1] <= th[j], "thresholds not ascending");
  const int64_t L = int64_t(th.size());

  std::vector<int32_t> label(static_cast<std::size_t>(HW));
  const int32_t R = label_components(fg.data(), H, W, label.data(), Connectivity::eight);
  std::vector<int64_t> hist(std::size_t((R + 1) * (L + 1)), 0);  // [region (0: normal)][k]
  std::vector<int64_t> size(std::size_t(R + 1), 0);
  for (int64_t j = 0; j < HW; ++j) {
    const int64_t k = std::lower_bound(th.begin(), th.end(), double(s[j])) - th.begin();
    const std::size_t r = std::size_t(label[std::size_t(j)]);
    ++hist[r * std::size_t(L + 1) + std::size_t(k)];
    ++size[r];
  }
  // Suffix sums: hist[r][k] -> pixels of r above threshold k - 1, so row j's count is hist[r][j + 1].
  for (std::size_t r = 0; r <= std::size_t(R); ++r)
    for (int64_t k = L - 1; k >= 0; --k) hist[r * std::size_t(L + 1) + std::size_t(k)] += hist[r * std::size_t(L + 1) + std::size_t(k + 1)];
  std::vector<double> fpr, pro;
  for (int64_t j = 0; j < L; ++j) {
    const double f = double(hist[std::size_t(j + 1)]) / double(num_neg);
    if (!(f < 0.3)) continue;
    double sum = 0;
    for (std::size_t r = 1; r <= std::size_t(R); ++r)
      sum += double(hist[r * std::size_t(L + 1) + std::size_t(j + 1)]) / double(size[r]);
    fpr.push_back(f);
    pro.push_back(sum / double(R));
  }
  if (fpr.size() < 2)
    return "fewer than 2 of its thresholds have FPR < 0.3 (sklearn.metrics.auc raises on fewer than 2 points)";
  const double fmax = *std::max_element(fpr.begin(), fpr.end());
  if (!(fmax > 0)) {  // 0 / 0: pandas gives NaN, and so does np.trapz
    out = std::numeric_limits<double>::quiet_NaN();
    return {};
  }
  for (double& f : fpr) f /= fmax;
  bool any_down = false, all_down = true;
  for (std::size_t j = 1; j < fpr.size(); ++j) any_down |= fpr[j] < fpr[j - 1], all_down &= fpr[j] <= fpr[j - 1];
  PACKD_ASSERT(!any_down || all_down, "rd4ad: FPR not monotone over thresholds");
  double area = 0;
  for (std::size_t j = 1; j < fpr.size(); ++j) area += (fpr[j] - fpr[j - 1]) * (pro[j] + pro[j - 1]) / 2.0;
  out = any_down ? -area : area;
  return {};
}

}  // namespace detail

// ---- scores + labels ---------------------------------------------------------------------------

// sklearn.metrics.roc_auc_score(labels, scores). scores: float or double, finite; labels: 0/1 of any
// arithmetic type (bool, uint8_t, int, float, ...). Throws if only one class is present, as sklearn
// does (ValueError "Only one class present in y_true").
template <class S, class L>
double roc_auc(std::span<const S> scores, std::span<const L> labels) {
  static_assert(detail::MetricScore<S>, "roc_auc: scores must be float or double");
  PACKD_CHECK(scores.size() == labels.size(), "roc_auc: ", scores.size(), " scores but ", labels.size(), " labels");
  return detail::roc_auc_impl(scores.data(), labels.data(), int64_t(scores.size()), "roc_auc");
}
template <class S, class L>
double roc_auc(const std::vector<S>& scores, const std::vector<L>& labels) {
  static_assert(!std::is_same_v<L, bool>, "roc_auc: std::vector<bool> is not contiguous; use uint8_t labels");
  return roc_auc(std::span<const S>(scores), std::span<const L>(labels));
}

// Max F1 over sklearn.metrics.precision_recall_curve(labels, scores)'s points (the final (P=1, R=0)
// point has F1 0). Throws if there is no positive label.
template <class S, class L>
F1Max f1_max(std::span<const S> scores, std::span<const L> labels) {
  static_assert(detail::MetricScore<S>, "f1_max: scores must be float or double");
  PACKD_CHECK(scores.size() == labels.size(), "f1_max: ", scores.size(), " scores but ", labels.size(), " labels");
  return detail::f1_max_impl(scores.data(), labels.data(), int64_t(scores.size()), "f1_max");
}
template <class S, class L>
F1Max f1_max(const std::vector<S>& scores, const std::vector<L>& labels) {
  static_assert(!std::is_same_v<L, bool>, "f1_max: std::vector<bool> is not contiguous; use uint8_t labels");
  return f1_max(std::span<const S>(scores), std::span<const L>(labels));
}

// ---- maps + masks --------------------------------------------------------------------------------

// Pixel AUROC: roc_auc over every pixel of every map (normal images included), as RD4AD's
// evaluation flattens them. maps, masks: (N, 1, H, W). Runs on the maps' device.
template <FloatScalar T, Scalar M>
double pixel_auroc(const Tensor<T>& maps, const Tensor<M>& masks) {
  detail::check_maps_masks(maps, masks, "pixel_auroc");
  return backend::dispatch(
      "pixel_auroc", maps.device(),
      [&] {
        const Tensor<T> s = detail::host_contiguous(maps);
        const Tensor<M> m = detail::host_contiguous(masks);
        return detail::roc_auc_impl(s.data(), m.data(), s.numel(), "pixel_auroc");
      },
      [&] {
        NoGradGuard no_grad;
        const Tensor<T> s = maps.contiguous();
        const Tensor<M> m = masks.to(maps.device()).contiguous();
        return cuda::roc_auc(s.data(), m.data(), s.numel(), maps.device().index, "pixel_auroc");
      });
}

// Image AUROC over each map's max score, with the image labels given (0/1, one per map).
template <FloatScalar T, class L>
double image_auroc(const Tensor<T>& maps, std::span<const L> labels) {
  detail::check_maps(maps, "image_auroc");
  const Tensor<T> s = detail::host_contiguous(maps);
  const detail::MapShape g{maps.size(0), maps.size(-2), maps.size(-1)};
  PACKD_CHECK(int64_t(labels.size()) == g.N, "image_auroc: ", g.N, " maps but ", labels.size(), " labels");
  const std::vector<T> scores = detail::per_image_max(s.data(), g, "image_auroc");
  return detail::roc_auc_impl(scores.data(), labels.data(), g.N, "image_auroc");
}
template <FloatScalar T, class L>
double image_auroc(const Tensor<T>& maps, const std::vector<L>& labels) {
  static_assert(!std::is_same_v<L, bool>, "image_auroc: std::vector<bool> is not contiguous; use uint8_t labels");
  return image_auroc(maps, std::span<const L>(labels));
}
// ... with each image's label = 1 iff its mask has a positive pixel (RD4AD's max(gt)).
template <FloatScalar T, Scalar M>
double image_auroc(const Tensor<T>& maps, const Tensor<M>& masks) {
  const detail::MapShape g = detail::check_maps_masks(maps, masks, "image_auroc");
  const Tensor<M> m = detail::host_contiguous(masks);
  return image_auroc(maps, detail::per_image_label(m.data(), g, "image_auroc"));
}

// Image-level F1-max (anomalib's F1Max on image scores): f1_max over each map's max.
template <FloatScalar T, class L>
F1Max image_f1_max(const Tensor<T>& maps, std::span<const L> labels) {
  detail::check_maps(maps, "image_f1_max");
  const Tensor<T> s = detail::host_contiguous(maps);
  const detail::MapShape g{maps.size(0), maps.size(-2), maps.size(-1)};
  PACKD_CHECK(int64_t(labels.size()) == g.N, "image_f1_max: ", g.N, " maps but ", labels.size(), " labels");
  const std::vector<T> scores = detail::per_image_max(s.data(), g, "image_f1_max");
  return detail::f1_max_impl(scores.data(), labels.data(), g.N, "image_f1_max");
}
template <FloatScalar T, class L>
F1Max image_f1_max(const Tensor<T>& maps, const std::vector<L>& labels) {
  static_assert(!std::is_same_v<L, bool>, "image_f1_max: std::vector<bool> is not contiguous; use uint8_t labels");
  return image_f1_max(maps, std::span<const L>(labels));
}
template <FloatScalar T, Scalar M>
F1Max image_f1_max(const Tensor<T>& maps, const Tensor<M>& masks) {
  const detail::MapShape g = detail::check_maps_masks(maps, masks, "image_f1_max");
  const Tensor<M> m = detail::host_contiguous(masks);
  return image_f1_max(maps, detail::per_image_label(m.data(), g, "image_f1_max"));
}

// STANDARD AUPRO (MVTec AD's evaluation code, pro_curve_util.py + generic_util.py; the global
// definition anomalib's AUPRO also uses):
//   regions   connected components (8-connectivity) of every mask; R of them over the test set
//   curve     for each distinct threshold t, from the highest down, with "positive" = score >= t:
//               FPR(t) = #(normal pixels positive) / #(normal pixels), over all images,
//               PRO(t) = (1/R) Σ_regions #(region pixels positive) / |region|,
//             starting at (0, 0) (PRO clipped at 1, as MVTec's code clips it)
//   area      trapezoid of PRO over FPR in [0, fpr_limit]: every point with FPR <= fpr_limit, plus,
//             unless fpr_limit is itself a point's FPR, the slice from the last point below it to
//             fpr_limit under the segment that crosses it, PRO interpolated linearly
//   result    area / fpr_limit (1 for a perfect map)
// Differences from MVTec's script: FPR is kept in double (MVTec rounds it to float32) and PRO is a
// compensated sum. anomalib computes one ROC per region and interpolates them onto a common index
// grid before averaging, so its value can differ slightly from this exact curve.
//
// Only pixels scoring at least the threshold where FPR first exceeds the limit are sorted: the
// k-th highest normal score (k the least count with k / #normal > fpr_limit) is found by
// nth_element, and the curve beyond it is never needed. Peak extra memory: 4 bytes per pixel
// (region ids) plus 2 x (sizeof(key) + 4, padded) bytes per selected pixel (~ fpr_limit of them).
template <FloatScalar T, Scalar M>
double aupro_global(const Tensor<T>& maps, const Tensor<M>& masks, double fpr_limit = 0.3) {
  using K = detail::score_key_t<T>;
  const detail::MapShape g = detail::check_maps_masks(maps, masks, "aupro_global");
  PACKD_CHECK(fpr_limit > 0 && fpr_limit <= 1, "aupro_global: fpr_limit must be in (0, 1], got ", fpr_limit);
  const Tensor<T> st = detail::host_contiguous(maps);
  const Tensor<M> mt = detail::host_contiguous(masks);
  const T* s = st.data();
  const M* m = mt.data();
  detail::check_map_values(s, m, g, "aupro_global");
  const int64_t n = g.N * g.pixels();
  PACKD_CHECK(g.pixels() < int64_t(std::numeric_limits<int32_t>::max()), "aupro_global: maps of ", g.H, " x ", g.W,
              " are too large");

  // Regions: per-image labels, then global ids 1..R (0: normal) by per-image offsets.
  std::vector<int32_t> label(static_cast<std::size_t>(n));
  std::vector<int32_t> count(std::size_t(g.N));
  cpu::pool_for(g.N, detail::metric_threads(n), [&](int64_t i) {
    std::vector<uint8_t> fg(static_cast<std::size_t>(g.pixels()));
    for (int64_t j = 0; j < g.pixels(); ++j) fg[std::size_t(j)] = m[i * g.pixels() + j] == M(1);
    count[std::size_t(i)] = label_components(fg.data(), g.H, g.W, label.data() + i * g.pixels());
  });
  std::vector<int64_t> first(std::size_t(g.N) + 1, 0);  // image i's regions: first[i] + 1 .. first[i + 1]
  for (int64_t i = 0; i < g.N; ++i) first[std::size_t(i) + 1] = first[std::size_t(i)] + count[std::size_t(i)];
  const int64_t R = first.back();
  PACKD_CHECK(R > 0, "aupro_global: no mask has an anomalous pixel, so there is no region to overlap");
  PACKD_CHECK(R < int64_t(std::numeric_limits<uint32_t>::max()), "aupro_global: too many regions (", R, ")");
  std::vector<int64_t> region_size(std::size_t(R) + 1, 0);
  for (int64_t i = 0; i < g.N; ++i)
    for (int64_t j = i * g.pixels(); j < (i + 1) * g.pixels(); ++j)
      if (label[std::size_t(j)] > 0) ++region_size[std::size_t(first[std::size_t(i)] + label[std::size_t(j)])];
  const int64_t num_ok = n - std::accumulate(region_size.begin(), region_size.end(), int64_t(0));
  PACKD_CHECK(num_ok > 0, "aupro_global: every pixel is anomalous, so the FPR is undefined");
  std::vector<double> inv_size(std::size_t(R) + 1, 0.0);
  for (int64_t r = 1; r <= R; ++r) inv_size[std::size_t(r)] = 1.0 / double(region_size[std::size_t(r)]);

  // The cut: k = least count of positive normal pixels with k / num_ok > fpr_limit.
  int64_t k = std::min<int64_t>(num_ok + 1, int64_t(std::floor(fpr_limit * double(num_ok))));
  while (k > 0 && double(k - 1) / double(num_ok) > fpr_limit) --k;
  while (k <= num_ok && !(double(k) / double(num_ok) > fpr_limit)) ++k;
  K cut = 0;  // every pixel
  const detail::Chunks chunks(n);
  const int nt = detail::metric_threads(n);
  std::vector<int64_t> at(std::size_t(chunks.count));
  auto gather = [&](auto keep) {  // counts the kept pixels per chunk -> each chunk's first slot
    cpu::pool_for(chunks.count, nt, [&](int64_t c) {
      int64_t q = 0;
      for (int64_t j = chunks.begin(c); j < chunks.end(c); ++j) q += keep(j);
      at[std::size_t(c)] = q;
    });
    int64_t total = 0;
    for (int64_t& q : at) {
      const int64_t t = q;
      q = total;
      total += t;
    }
    return total;
  };
  auto scatter = [&](auto keep, auto write) {  // writes them, in pixel order
    cpu::pool_for(chunks.count, nt, [&](int64_t c) {
      int64_t q = at[std::size_t(c)];
      for (int64_t j = chunks.begin(c); j < chunks.end(c); ++j)
        if (keep(j)) write(q++, j);
    });
  };
  if (k <= num_ok) {
    auto normal = [&](int64_t j) { return label[std::size_t(j)] == 0; };
    detail::HostArray<K> ok(gather(normal));
    scatter(normal, [&](int64_t q, int64_t j) { ok[q] = detail::score_key(s[j]); });
    K* kth = ok.data() + (num_ok - k);  // ascending position of the k-th highest
    std::nth_element(ok.data(), kth, ok.data() + num_ok);
    cut = *kth;
  }

  struct Rec {
    K key;
    uint32_t region;  // 0: normal
  };
  auto kept = [&](int64_t j) { return detail::score_key(s[j]) >= cut; };
  const int64_t sel = gather(kept);
  detail::HostArray<Rec> rec(sel);
  scatter(kept, [&](int64_t q, int64_t j) {
    const int32_t l = label[std::size_t(j)];
    rec[q] = {detail::score_key(s[j]), l > 0 ? uint32_t(first[std::size_t(j / g.pixels())] + l) : 0u};
  });
  std::vector<int32_t>().swap(label);
  {
    detail::HostArray<Rec> buf(sel);
    detail::radix_sort(rec.data(), buf.data(), sel, [](const Rec& r) { return r.key; });
  }

  std::vector<double> fpr{0.0}, pro{0.0};
  int64_t fp = 0;
  detail::CompensatedSum hits;
  for (int64_t i = sel; i > 0;) {
    const K v = rec[i - 1].key;
    for (; i > 0 && rec[i - 1].key == v; --i) {
      const uint32_t r = rec[i - 1].region;
      if (r == 0) ++fp;
      else hits.add(inv_size[r]);
    }
    fpr.push_back(double(fp) / double(num_ok));
    pro.push_back(std::min(1.0, hits.value() / double(R)));
    if (fpr.back() > fpr_limit) break;
  }
  if (fpr.back() <= fpr_limit) fpr.push_back(1.0), pro.push_back(1.0);  // MVTec's closing (1, 1)
  return detail::trapezoid_to(fpr, pro, fpr_limit) / fpr_limit;
}

// RD4AD's PER-IMAGE AUPRO VARIANT (official test.py compute_pro, called once per anomalous test
// image; foundations.md 1.9), reproduced exactly:
//   per anomalous image (mask with a positive pixel):
//     thresholds  np.arange(min, max, (max - min) / num_thresholds) of that image's map (~200)
//     binary      map > th
//     PRO         mean over the mask's 8-connected regions of |region ∩ binary| / |region|
//     FPR         |binary ∩ ¬mask| / |¬mask|, that image's normal pixels only
//     keep        rows with FPR < 0.3; FPR divided by the largest kept FPR (not by 0.3)
//     AUPRO       sklearn.metrics.auc(FPR, PRO) (trapezoid; FPR decreasing is allowed)
//   result: the mean over the anomalous images.
// Where the official code fails, this throws naming the image: a mask with no normal pixel (its
// assert), a constant map (np.arange), fewer than 2 kept rows (sklearn's auc). Where it returns NaN
// (every kept FPR is 0: 0 / 0), the image's value is NaN, and so is the mean.
template <FloatScalar T, Scalar M>
Rd4adAupro aupro_rd4ad(const Tensor<T>& maps, const Tensor<M>& masks, int num_thresholds = 200) {
  const detail::MapShape g = detail::check_maps_masks(maps, masks, "aupro_rd4ad");
  PACKD_CHECK(num_thresholds >= 1, "aupro_rd4ad: num_thresholds must be positive, got ", num_thresholds);
  const Tensor<T> st = detail::host_contiguous(maps);
  const Tensor<M> mt = detail::host_contiguous(masks);
  const T* s = st.data();
  const M* m = mt.data();
  detail::check_map_values(s, m, g, "aupro_rd4ad");
  Rd4adAupro out;
  const std::vector<uint8_t> anomalous = detail::per_image_label(m, g, "aupro_rd4ad");
  for (int64_t i = 0; i < g.N; ++i)
    if (anomalous[std::size_t(i)]) out.images.push_back(i);
  PACKD_CHECK(!out.images.empty(), "aupro_rd4ad: no mask has an anomalous pixel, so there is no image to score");
  const int64_t A = int64_t(out.images.size());
  out.per_image.assign(std::size_t(A), 0.0);
  std::vector<std::string> error(static_cast<std::size_t>(A));
  cpu::pool_for(A, detail::metric_threads(A * g.pixels()), [&](int64_t a) {
    const int64_t off = out.images[std::size_t(a)] * g.pixels();
    error[std::size_t(a)] = detail::rd4ad_image_pro(s + off, m + off, g.H, g.W, num_thresholds, out.per_image[std::size_t(a)]);
  });
  for (int64_t a = 0; a < A; ++a)
    PACKD_CHECK(error[std::size_t(a)].empty(), "aupro_rd4ad: image ", out.images[std::size_t(a)], ": ", error[std::size_t(a)]);
  double sum = 0;
  for (double v : out.per_image) sum += v;
  out.mean = sum / double(A);
  return out;
}

}  // namespace packd::eval
