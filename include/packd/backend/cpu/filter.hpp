#pragma once
// CPU kernels for the separable Gaussian blur (ops/filter.hpp). Vectorised through simd_run and
// threaded through parallel_chunks (simd.hpp).
//
// Blur: y = B_w(B_h(x)) over the last two dimensions of contiguous (P, H, W) planes. Each 1-D pass
// is a banded matrix A (n x n) whose row i holds the taps w_t at column pad(i + t), t in [-r, r],
// with taps that land on the same column added together (`BandOp`). The column pass (along H)
// runs row-wise: out row i = sum_s A[i][s] * in row s, whole rows at a time (vectorised over W).
// The row pass (along W) copies each row into a padded buffer and correlates with the taps. The
// backward is the adjoint A^T of each pass, in reverse order: the column pass uses A's transpose
// lists; the row pass correlates the zero-padded gradient row (2r wider) and folds the padded
// positions back through pad().
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/cpu/simd.hpp"
#include "packd/core/error.hpp"

namespace packd::cpu {

// ---- Gaussian blur --------------------------------------------------------------------------------

// Index of padded position m (any integer) in [0, n): scipy's 'reflect' (half-sample symmetric,
// edge repeated: ... c b a | a b c ... , periodic with period 2n) or, with edge_repeated = false,
// PyTorch's 'reflect' (... c b | a b c ..., period 2n - 2; n == 1 maps everything to 0).
inline int64_t blur_pad_index(int64_t m, int64_t n, bool edge_repeated) {
  if (edge_repeated) {
    const int64_t p = 2 * n;
    int64_t q = m % p;
    if (q < 0) q += p;
    return q < n ? q : p - 1 - q;
  }
  if (n == 1) return 0;
  const int64_t p = 2 * n - 2;
  int64_t q = m % p;
  if (q < 0) q += p;
  return q < n ? q : p - q;
}

// One 1-D pass as a sparse n x n matrix: row i lists (column, weight) pairs.
template <class T>
struct BandOp {
  std::vector<int64_t> start;  // row i's entries are [start[i], start[i + 1])
  std::vector<int64_t> col;
  std::vector<T> w;
};

// A for the pass (transpose = false) or A^T (transpose = true).
template <class T>
BandOp<T> make_band_op(int64_t n, const std::vector<T>& taps, bool edge_repeated, bool transpose) {
  const int64_t r = int64_t(taps.size() / 2);
  BandOp<T> a;
  a.start.push_back(0);
  std::vector<std::pair<int64_t, T>> lst;
  for (int64_t i = 0; i < n; ++i) {
    if (i - r >= 0 && i + r < n) {  // interior row: no padding, distinct columns
      for (int64_t t = -r; t <= r; ++t) {
        a.col.push_back(i + t);
        a.w.push_back(taps[t + r]);
      }
    } else {  // near an edge: padded positions may land on one column several times
      lst.clear();
      for (int64_t t = -r; t <= r; ++t) {
        const int64_t s = blur_pad_index(i + t, n, edge_repeated);
        bool merged = false;
        for (auto& e : lst)
          if (e.first == s) {
            e.second += taps[t + r];
            merged = true;
            break;
          }
        if (!merged) lst.emplace_back(s, taps[t + r]);
      }
      for (auto& e : lst) {
        a.col.push_back(e.first);
        a.w.push_back(e.second);
      }
    }
    a.start.push_back(int64_t(a.col.size()));
  }
  if (!transpose) return a;
  BandOp<T> at;  // CSR transpose by counting
  at.start.assign(n + 1, 0);
  for (int64_t c : a.col) ++at.start[c + 1];
  for (int64_t i = 0; i < n; ++i) at.start[i + 1] += at.start[i];
  at.col.resize(a.col.size());
  at.w.resize(a.w.size());
  std::vector<int64_t> fill(at.start.begin(), at.start.end() - 1);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = a.start[i]; e < a.start[i + 1]; ++e) {
      const int64_t k = fill[a.col[e]]++;
      at.col[k] = i;
      at.w[k] = a.w[e];
    }
  return at;
}

// out[j] = sum_t taps[t] * buf[j + t], j in [0, len) (buf holds len + 2r values). Vectorised over j.
template <class T>
inline void blur_correlate(const T* buf, T* out, int64_t len, const T* taps, int64_t ntaps) {
  for (int64_t j = 0; j < len; ++j) out[j] = taps[0] * buf[j];
  for (int64_t t = 1; t < ntaps; ++t) {
    const T wt = taps[t];
    const T* b = buf + t;
    for (int64_t j = 0; j < len; ++j) out[j] += wt * b[j];
  }
}

// Column pass over items [i0, i1) of (plane, row) of planes of (H, W): out row i = sum over op's
// row i of w * in row col.
template <class T>
void blur_columns_range(const T* in, T* out, int64_t H, int64_t W, const BandOp<T>& op, int64_t i0, int64_t i1) {
  simd_run([&] {
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t p = it / H, i = it % H;
      const T* src = in + p * H * W;
      T* dst = out + p * H * W + i * W;
      const int64_t e0 = op.start[i], e1 = op.start[i + 1];
      {
        const T* s = src + op.col[e0] * W;
        const T wt = op.w[e0];
        for (int64_t j = 0; j < W; ++j) dst[j] = wt * s[j];
      }
      for (int64_t e = e0 + 1; e < e1; ++e) {
        const T* s = src + op.col[e] * W;
        const T wt = op.w[e];
        for (int64_t j = 0; j < W; ++j) dst[j] += wt * s[j];
      }
    }
  });
}

// The row pass's tables: pad[m] = the column of padded position m in [0, W + 2r).
inline std::vector<int64_t> blur_row_pad(int64_t W, int64_t r, bool edge_repeated) {
  std::vector<int64_t> pad(W + 2 * r);
  for (int64_t m = 0; m < W + 2 * r; ++m) pad[m] = blur_pad_index(m - r, W, edge_repeated);
  return pad;
}

// Row pass over rows [r0, r1) (adjoint = false): out row = correlate(pad(in row)). Adjoint:
// correlate the zero-padded gradient row into 2r extra positions and fold them back through pad().
template <class T>
void blur_rows_range(const T* in, T* out, int64_t W, const std::vector<T>& taps, const std::vector<int64_t>& pad,
                     bool adjoint, int64_t r0, int64_t r1) {
  const int64_t ntaps = int64_t(taps.size()), r = ntaps / 2;
  std::vector<T> buf(W + 4 * r), tmp(W + 2 * r);
  simd_run([&] {
    for (int64_t row = r0; row < r1; ++row) {
      const T* src = in + row * W;
      T* dst = out + row * W;
      if (!adjoint) {
        for (int64_t m = 0; m < W + 2 * r; ++m) buf[m] = src[pad[m]];
        blur_correlate(buf.data(), dst, W, taps.data(), ntaps);
      } else {
        for (int64_t m = 0; m < 2 * r; ++m) buf[m] = buf[W + 2 * r + m] = T(0);
        for (int64_t j = 0; j < W; ++j) buf[2 * r + j] = src[j];
        blur_correlate(buf.data(), tmp.data(), W + 2 * r, taps.data(), ntaps);  // taps are symmetric
        for (int64_t j = 0; j < W; ++j) dst[j] = tmp[r + j];
        for (int64_t m = 0; m < r; ++m) {
          dst[pad[m]] += tmp[m];
          dst[pad[W + r + m]] += tmp[W + r + m];
        }
      }
    }
  });
}

// Blur (or its adjoint) of contiguous (planes, H, W) data into out (same layout); tmp is scratch
// of the same size. With at least as many planes as threads, each thread takes whole planes
// through both passes (one parallel region, the plane still in cache for the second pass);
// otherwise each pass is split over rows.
template <class T>
void gaussian_blur_kernel(const T* x, T* out, T* tmp, int64_t planes, int64_t H, int64_t W, const std::vector<T>& taps,
                          bool edge_repeated, bool adjoint) {
  if (planes * H * W == 0) return;
  const BandOp<T> col_op = make_band_op<T>(H, taps, edge_repeated, adjoint);
  const std::vector<int64_t> pad = blur_row_pad(W, int64_t(taps.size() / 2), edge_repeated);
  // along H first, as scipy (axis 0, then axis 1); the adjoint in reverse order
  auto passes = [&](int64_t p0, int64_t p1) {  // planes [p0, p1) through both passes
    if (!adjoint) {
      blur_columns_range(x, tmp, H, W, col_op, p0 * H, p1 * H);
      blur_rows_range(tmp, out, W, taps, pad, false, p0 * H, p1 * H);
    } else {
      blur_rows_range(x, tmp, W, taps, pad, true, p0 * H, p1 * H);
      blur_columns_range(tmp, out, H, W, col_op, p0 * H, p1 * H);
    }
  };
  const int nt = threads_for(planes * H * W * int64_t(taps.size()) * 2);
  if (nt <= 1 || planes >= nt) return parallel_chunks(planes, nt, passes);
  if (!adjoint) {
    parallel_chunks(planes * H, nt, [&](int64_t a, int64_t b) { blur_columns_range(x, tmp, H, W, col_op, a, b); });
    parallel_chunks(planes * H, nt, [&](int64_t a, int64_t b) { blur_rows_range(tmp, out, W, taps, pad, false, a, b); });
  } else {
    parallel_chunks(planes * H, nt, [&](int64_t a, int64_t b) { blur_rows_range(x, tmp, W, taps, pad, true, a, b); });
    parallel_chunks(planes * H, nt, [&](int64_t a, int64_t b) { blur_columns_range(tmp, out, H, W, col_op, a, b); });
  }
}

}  // namespace packd::cpu
