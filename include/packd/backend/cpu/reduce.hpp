#pragma once
// CPU reduction kernel: folds the dimensions marked in `reduce` of a strided tensor into a
// contiguous output over the kept dimensions (row-major order of the kept dimensions).
//
// For each output element the reduced sub-space is walked with strided_for_each (so a reduction
// over contiguous inner dimensions is one flat run). Work is split over outputs when there are
// many, and over the reduced space (partial accumulators, combined at the end) when there are few,
// as for a full sum. The step receives the row-major index within the reduced sub-space, which
// argmax and argmin need. Threads come from the worker pool (parallel.hpp, via loop.hpp); a
// split reduction folds a fixed number of slices (set by the thread count, not by which thread
// runs which) and combines them in order, so its result does not depend on the scheduling.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "packd/backend/cpu/loop.hpp"

namespace packd::cpu {

// step(acc, value, index) -> acc ; combine(acc, acc) -> acc ; finish(acc) -> Out
template <class T, class Acc, class Out, class Step, class Combine, class Finish>
void reduce_kernel(Out* out, const T* x, const Shape& shape, const Shape& strides, const std::vector<bool>& reduce,
                   Acc init, Step step, Combine combine, Finish finish) {
  Shape kshape, kstrides, rshape, rstrides;
  for (int d = 0; d < shape.size(); ++d) {
    if (reduce[d]) {
      rshape.push_back(shape[d]);
      rstrides.push_back(strides[d]);
    } else {
      kshape.push_back(shape[d]);
      kstrides.push_back(strides[d]);
    }
  }
  const int64_t nout = kshape.numel();
  const int64_t nred = rshape.numel();
  if (nout == 0) return;

  // Folds the reduced elements with linear index in [r0, r1) starting at x + base.
  // The reduced space is visited row by row, as strided_for_each would, but serially.
  auto fold = [&](int64_t base, int64_t r0, int64_t r1, Acc acc) {
    if (r0 >= r1) return acc;
    if (rshape.size() == 0) return step(acc, x[base], int64_t(0));
    const int last = rshape.size() - 1;
    const int64_t n = rshape[last], s = rstrides[last];
    std::array<int64_t, kMaxRank> idx{};
    int64_t off = base, rem = r0;
    for (int d = last; d >= 0; --d) {
      idx[d] = rem % rshape[d];
      rem /= rshape[d];
      off += idx[d] * rstrides[d];
    }
    int64_t lin = r0;
    while (lin < r1) {
      const int64_t count = std::min(n - idx[last], r1 - lin);
      const T* p = x + off;
      for (int64_t i = 0; i < count; ++i) acc = step(acc, p[i * s], lin + i);
      lin += count;
      off += count * s;
      idx[last] += count;
      if (idx[last] < n) continue;
      off -= idx[last] * s;
      idx[last] = 0;
      for (int d = last - 1; d >= 0; --d) {
        off += rstrides[d];
        if (++idx[d] < rshape[d]) break;
        off -= idx[d] * rstrides[d];
        idx[d] = 0;
      }
    }
    return acc;
  };

  auto base_of = [&](int64_t o) {
    int64_t base = 0;
    for (int d = kshape.size() - 1; d >= 0; --d) {
      base += (o % kshape[d]) * kstrides[d];
      o /= kshape[d];
    }
    return base;
  };

  const int nt = threads_for(nout * nred);
  if (nt > 1 && nout >= nt * 4) {
    parallel_for(0, nout, nt, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) out[o] = finish(fold(base_of(o), 0, nred, init));
    });
    return;
  }
  // Few outputs: each one's reduced space in 4 slices per thread, claimed dynamically.
  const int64_t slices = std::min<int64_t>(int64_t(nt) * 4, nred);
  std::vector<Acc> partial(static_cast<std::size_t>(nt > 1 ? slices : 0), init);
  for (int64_t o = 0; o < nout; ++o) {
    const int64_t base = base_of(o);
    if (nt <= 1) {
      out[o] = finish(fold(base, 0, nred, init));
      continue;
    }
    pool_for(slices, nt, [&](int64_t i) {
      partial[static_cast<std::size_t>(i)] = fold(base, nred * i / slices, nred * (i + 1) / slices, init);
    });
    Acc acc = partial[0];
    for (std::size_t i = 1; i < partial.size(); ++i) acc = combine(acc, partial[i]);
    out[o] = finish(acc);
  }
}

}  // namespace packd::cpu
