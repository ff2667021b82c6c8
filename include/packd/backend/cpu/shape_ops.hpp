#pragma once
// CPU kernels for the shape ops (ops/shape_ops.hpp).
//
// index_map_gather: the one kernel under pad, flip and index_select. Each output dimension d has a
// map from output index to source index along d (or "fill" for constant padding); the output is
// contiguous, the source any strides. index_map_scatter_add is its adjoint (the backward), adding
// each output element into the source position it came from; several outputs may share a source
// (reflect/replicate padding, repeated indices), so it parallelises only over dimension 0 when the
// caller says that dimension's map is one-to-one.
//
// gather_kernel / gather_scatter_add: torch.gather along one dimension and its adjoint.
//
// Threads (the worker pool, parallel.hpp) claim chunks of rows, or for the scatters chunks of
// dimension-0 indices, each covering whole rows.
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "packd/backend/cpu/loop.hpp"

namespace packd::cpu {

inline constexpr int64_t kFillOffset = std::numeric_limits<int64_t>::min();

// Per dimension, source offsets (index * stride, or kFillOffset) for each output index.
using OffsetMaps = std::vector<std::vector<int64_t>>;

namespace shape_detail {

// Calls visit(idx, rr) for rows rr in [r0, r1) of `shape` (rows = all dims but the last), idx
// being the row's index over dims 0 .. rank-2: decomposed once at r0, then advanced as an odometer.
template <class Visit>
void for_row_indices(const Shape& shape, int64_t r0, int64_t r1, Visit visit) {
  const int r = shape.size();
  std::array<int64_t, kMaxRank> idx{};
  int64_t rem = r0;
  for (int d = r - 2; d >= 0; --d) {
    idx[d] = rem % shape[d];
    rem /= shape[d];
  }
  for (int64_t rr = r0; rr < r1; ++rr) {
    visit(static_cast<const std::array<int64_t, kMaxRank>&>(idx), rr);
    for (int d = r - 2; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

// Calls row(first_offset_or_fill, out_row_start) for output rows [r0, r1) (rows = all dims but
// the last; a rank-0 shape is one row of one element).
template <class Row>
void for_rows(const Shape& oshape, const OffsetMaps& maps, int64_t r0, int64_t r1, Row row) {
  const int r = oshape.size();
  const int64_t n = oshape[r - 1];
  for_row_indices(oshape, r0, r1, [&](const std::array<int64_t, kMaxRank>& idx, int64_t rr) {
    int64_t base = 0;
    bool fill = false;
    for (int d = 0; d < r - 1; ++d) {
      const int64_t o = maps[d][idx[d]];
      if (o == kFillOffset) fill = true;
      else base += o;
    }
    row(fill ? kFillOffset : base, rr * n);
  });
}

}  // namespace shape_detail

template <class T>
void index_map_gather(T* out, const Shape& oshape, const T* x, const OffsetMaps& maps, T fill) {
  if (oshape.numel() == 0) return;
  if (oshape.size() == 0) {
    out[0] = x[0];
    return;
  }
  const int r = oshape.size();
  const int64_t n = oshape[r - 1], rows = oshape.numel() / n;
  const std::vector<int64_t>& last = maps[r - 1];
  auto run = [&](int64_t r0, int64_t r1) {
    shape_detail::for_rows(oshape, maps, r0, r1, [&](int64_t base, int64_t o0) {
      T* o = out + o0;
      if (base == kFillOffset) {
        for (int64_t j = 0; j < n; ++j) o[j] = fill;
        return;
      }
      const T* xb = x + base;
      for (int64_t j = 0; j < n; ++j) o[j] = last[j] == kFillOffset ? fill : xb[last[j]];
    });
  };
  parallel_for(0, rows, threads_for(rows * n), run);
}

// gx (zeroed, any strides encoded in maps) += g (contiguous, oshape) along the maps.
template <class T>
void index_map_scatter_add(T* gx, const Shape& oshape, const T* g, const OffsetMaps& maps, bool dim0_one_to_one) {
  if (oshape.numel() == 0) return;
  if (oshape.size() == 0) {
    gx[0] += g[0];
    return;
  }
  const int r = oshape.size();
  const int64_t n = oshape[r - 1], rows = oshape.numel() / n;
  const std::vector<int64_t>& last = maps[r - 1];
  auto run = [&](int64_t r0, int64_t r1) {
    shape_detail::for_rows(oshape, maps, r0, r1, [&](int64_t base, int64_t o0) {
      if (base == kFillOffset) return;
      const T* gp = g + o0;
      T* xb = gx + base;
      for (int64_t j = 0; j < n; ++j)
        if (last[j] != kFillOffset) xb[last[j]] += gp[j];
    });
  };
  // Threads split dimension 0, so only when it maps one-to-one (and is not the row dimension).
  const int64_t outer = r >= 2 ? oshape[0] : 1;
  const int nt = dim0_one_to_one && r >= 2 ? std::min<int64_t>(threads_for(rows * n), outer) : 1;
  if (nt <= 1) return run(0, rows);
  const int64_t per = rows / outer;
  parallel_for(0, outer, nt, [&](int64_t i0, int64_t i1) { run(i0 * per, i1 * per); });
}

// out (contiguous, ishape) = x[..., index[...], ...] along `dim`; index contiguous with ishape.
// accumulate: x[..., index, ...] += out instead (the adjoint; x is then the gradient buffer).
template <class T, bool Accumulate>
void gather_impl(T* out, const Shape& ishape, const int64_t* index, T* x, const Shape& xstrides, int dim) {
  if (ishape.numel() == 0) return;
  const int r = ishape.size();
  if (r == 0) {
    if constexpr (Accumulate) x[index[0] * (xstrides.size() ? xstrides[0] : 0)] += out[0];
    else out[0] = x[index[0] * (xstrides.size() ? xstrides[0] : 0)];
    return;
  }
  const int64_t n = ishape[r - 1], rows = ishape.numel() / n;
  auto run = [&](int64_t r0, int64_t r1) {
    shape_detail::for_row_indices(ishape, r0, r1, [&](const std::array<int64_t, kMaxRank>& idx, int64_t rr) {
      int64_t base = 0;
      for (int d = 0; d < r - 1; ++d)
        if (d != dim) base += idx[d] * xstrides[d];
      const int64_t* ip = index + rr * n;
      T* op = out + rr * n;
      const int64_t sl = xstrides[r - 1];
      if (dim == r - 1) {
        for (int64_t j = 0; j < n; ++j) {
          if constexpr (Accumulate) x[base + ip[j] * sl] += op[j];
          else op[j] = x[base + ip[j] * sl];
        }
      } else {
        const int64_t sd = xstrides[dim];
        for (int64_t j = 0; j < n; ++j) {
          if constexpr (Accumulate) x[base + ip[j] * sd + j * sl] += op[j];
          else op[j] = x[base + ip[j] * sd + j * sl];
        }
      }
    });
  };
  // Gathering reads only: any split. Scattering: split dimension 0 unless it is the gathered one.
  const bool can_split = !Accumulate || (dim != 0 && r >= 2);
  const int64_t outer = Accumulate ? (r >= 2 ? ishape[0] : 1) : rows;
  const int nt = can_split ? std::min<int64_t>(threads_for(rows * n), outer) : 1;
  if (nt <= 1) return run(0, rows);
  const int64_t per = rows / outer;
  parallel_for(0, outer, nt, [&](int64_t i0, int64_t i1) { run(i0 * per, i1 * per); });
}

}  // namespace packd::cpu
