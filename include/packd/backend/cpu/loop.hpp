#pragma once
// Strided iteration, the engine under every CPU elementwise kernel and copy.
//
// N operands share one logical shape; each has its own strides (in elements; 0 for a broadcast
// dimension). strided_for_each first simplifies the iteration space: it drops extent-1
// dimensions and merges neighbours that are contiguous with each other in every operand, so a
// contiguous tensor of any rank becomes one flat run. It then calls
//     inner(offsets, n, inner_strides)
// once per run along the innermost remaining dimension: element i of operand k is at
// offsets[k] + i * inner_strides[k]. Runs are spread over the worker pool (parallel.hpp) when
// the total work reaches `grain` elements; when there are too few runs to go round (a contiguous
// tensor is a single run) each run is cut into pieces, which inner sees as shorter runs.
#include <algorithm>
#include <array>
#include <cstdint>

#include "packd/backend/cpu/parallel.hpp"
#include "packd/core/shape.hpp"

namespace packd::cpu {

inline constexpr int64_t kParallelGrain = 32768;

// Number of threads to use for `work` units of roughly unit cost.
inline int threads_for(int64_t work, int64_t grain = kParallelGrain) {
  if (work < grain || in_parallel()) return 1;
  return int(std::min<int64_t>(max_threads(), std::max<int64_t>(1, work / grain)));
}

template <int N>
struct LoopSpace {
  Shape shape;
  std::array<Shape, N> strides;
};

template <int N>
LoopSpace<N> simplify(const Shape& shape, const std::array<Shape, N>& strides) {
  LoopSpace<N> s;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = s.shape.size() > 0;
    for (int k = 0; k < N && merge; ++k) merge = strides[k][d] * shape[d] == s.strides[k].back();
    if (merge) {
      // the previous dimension steps over exactly this one: fold them into one
      int last = s.shape.size() - 1;
      s.shape[last] *= shape[d];
      for (int k = 0; k < N; ++k) s.strides[k][last] = strides[k][d];
    } else {
      s.shape.push_back(shape[d]);
      for (int k = 0; k < N; ++k) s.strides[k].push_back(strides[k][d]);
    }
  }
  return s;
}

template <int N, class Inner>
void strided_for_each(const Shape& shape, const std::array<Shape, N>& strides, Inner&& inner,
                      int64_t grain = kParallelGrain) {
  using Offsets = std::array<int64_t, N>;
  if (shape.numel() == 0) return;
  LoopSpace<N> s = simplify<N>(shape, strides);
  if (s.shape.size() == 0) {
    inner(Offsets{}, int64_t(1), Offsets{});
    return;
  }
  const int r = s.shape.size();
  const int64_t n = s.shape[r - 1];
  Offsets step{};
  for (int k = 0; k < N; ++k) step[k] = s.strides[k][r - 1];
  const int64_t rows = s.shape.numel() / n;

  // Runs rows [r0, r1): decompose r0 once, then advance an odometer over the outer dimensions.
  auto run_rows = [&](int64_t r0, int64_t r1) {
    std::array<int64_t, kMaxRank> idx{};
    Offsets off{};
    int64_t rem = r0;
    for (int d = r - 2; d >= 0; --d) {
      idx[d] = rem % s.shape[d];
      rem /= s.shape[d];
      for (int k = 0; k < N; ++k) off[k] += idx[d] * s.strides[k][d];
    }
    for (int64_t row = r0; row < r1; ++row) {
      inner(off, n, step);
      for (int d = r - 2; d >= 0; --d) {
        for (int k = 0; k < N; ++k) off[k] += s.strides[k][d];
        if (++idx[d] < s.shape[d]) break;
        for (int k = 0; k < N; ++k) off[k] -= idx[d] * s.strides[k][d];
        idx[d] = 0;
      }
    }
  };

  const int nt = threads_for(rows * n, grain);
  if (nt <= 1) {
    run_rows(0, rows);
    return;
  }
  // Enough rows for ~8 chunks per thread: chunks of whole rows. Otherwise cut every row into
  // `pieces` runs of at least kMinPiece elements and hand out (row, piece) items.
  constexpr int64_t kMinPiece = 4096;
  const int64_t want = int64_t(nt) * 8;
  const int64_t pieces = rows >= want ? 1 : std::max<int64_t>(1, std::min(want / rows, n / kMinPiece));
  if (pieces <= 1) return parallel_for(0, rows, nt, run_rows);
  const int64_t piece = (n + pieces - 1) / pieces;
  parallel_for(0, rows * pieces, nt, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t j0 = i % pieces * piece, len = std::min(piece, n - j0);
      if (len <= 0) continue;
      Offsets off{};
      int64_t row = i / pieces;
      for (int d = r - 2; d >= 0; --d) {
        const int64_t id = row % s.shape[d];
        row /= s.shape[d];
        for (int k = 0; k < N; ++k) off[k] += id * s.strides[k][d];
      }
      for (int k = 0; k < N; ++k) off[k] += j0 * step[k];
      inner(off, len, step);
    }
  });
}

}  // namespace packd::cpu
