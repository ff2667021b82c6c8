#pragma once
// Separable Gaussian blur on contiguous (P, H, W) planes. Each 1-D pass is the CPU's banded matrix
// (cpu::make_band_op: the taps with the padding folded in, or its transpose for the adjoint),
// built on the host and copied to the device as CSR rows; a pass is then a gather, one thread per
// output element summing its row's entries in the CPU's order:
//   along H: out[p, i, j] = sum_e w[e] in[p, col[e], j]   (a warp reads whole rows: coalesced)
//   along W: out[p, h, j] = sum_e w[e] in[p, h, col[e]]   (interior rows read consecutive columns)
// The forward runs H then W (as scipy); the adjoint W^T then H^T. No atomics, deterministic.
#include <vector>

#include "packd/backend/cpu/filter.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

// One pass's matrix on the device: row i's entries are [start[i], start[i + 1]) of col / w.
template <class T>
struct BandView {
  const int64_t* start;
  const int64_t* col;
  const T* w;
};

// Both passes' matrices in two device tables: (startH | colH | startW | colW) and (wH | wW).
template <class T>
struct BandTables {
  std::vector<int64_t> index;
  std::vector<T> weight;
  int64_t col_h = 0, start_w = 0, col_w = 0;  // where each block begins in `index`
  int64_t w_w = 0;                            // where wW begins in `weight`

  BandTables(const cpu::BandOp<T>& h, const cpu::BandOp<T>& w) {
    index = h.start;
    col_h = int64_t(index.size());
    index.insert(index.end(), h.col.begin(), h.col.end());
    start_w = int64_t(index.size());
    index.insert(index.end(), w.start.begin(), w.start.end());
    col_w = int64_t(index.size());
    index.insert(index.end(), w.col.begin(), w.col.end());
    weight = h.w;
    w_w = int64_t(weight.size());
    weight.insert(weight.end(), w.w.begin(), w.w.end());
  }
};

template <class T>
void blur_along_h(const T* in, T* out, int64_t P, int64_t H, int64_t W, BandView<T> a) {
  for_each_index(P * H * W, [=] __device__(int64_t idx) {
    const int64_t j = idx % W, r = idx / W, i = r % H, p = r / H;
    const T* src = in + p * H * W + j;
    const int64_t e0 = a.start[i], e1 = a.start[i + 1];
    T acc = a.w[e0] * src[a.col[e0] * W];
    for (int64_t e = e0 + 1; e < e1; ++e) acc += a.w[e] * src[a.col[e] * W];
    out[idx] = acc;
  });
}

template <class T>
void blur_along_w(const T* in, T* out, int64_t P, int64_t H, int64_t W, BandView<T> a) {
  for_each_index(P * H * W, [=] __device__(int64_t idx) {
    const int64_t j = idx % W;
    const T* src = in + (idx - j);  // the row
    const int64_t e0 = a.start[j], e1 = a.start[j + 1];
    T acc = a.w[e0] * src[a.col[e0]];
    for (int64_t e = e0 + 1; e < e1; ++e) acc += a.w[e] * src[a.col[e]];
    out[idx] = acc;
  });
}

template <class T>
void gaussian_blur(const T* x, T* out, T* tmp, int64_t planes, int64_t H, int64_t W, const std::vector<T>& taps,
                   bool edge_repeated, bool adjoint) {
  if (planes * H * W == 0) return;
  const BandTables<T> host(cpu::make_band_op<T>(H, taps, edge_repeated, adjoint),
                           cpu::make_band_op<T>(W, taps, edge_repeated, adjoint));
  const DeviceCopy<int64_t> index(host.index);
  const DeviceCopy<T> weight(host.weight);
  const int64_t* ix = index.get();
  const T* wt = weight.get();
  const BandView<T> along_h{ix, ix + host.col_h, wt}, along_w{ix + host.start_w, ix + host.col_w, wt + host.w_w};
  if (!adjoint) {
    blur_along_h(x, tmp, planes, H, W, along_h);
    blur_along_w(tmp, out, planes, H, W, along_w);
  } else {
    blur_along_w(x, tmp, planes, H, W, along_w);
    blur_along_h(tmp, out, planes, H, W, along_h);
  }
}

}  // namespace packd::cuda::kernels
