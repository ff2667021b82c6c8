#pragma once
// interpolate kernels on contiguous planes (P, H, W) <-> (P, OH, OW). The per-row and per-column
// source indices and weights come from the host (cpu::linear_index / cpu::nearest_index), copied
// into two small device tables, so the sampled positions are the CPU's exactly. Forward: one
// thread per output element, a gather (bilinear blends along W first, then along H, as the CPU).
// Backward: one thread per gradient element, atomicAdd into the zeroed input gradient (several
// outputs share input pixels).
#include <vector>

#include "packd/backend/cpu/resize.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

// The bilinear tables on the device: indices (h0 | h1 | w0 | w1) and weights (a0 | a1 | l0 | l1),
// each block OH or OW long.
template <class T>
struct BilinearTables {
  DeviceCopy<int64_t> index;
  DeviceCopy<T> weight;

  static std::vector<int64_t> indices(const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw) {
    std::vector<int64_t> v(ih.i0);
    v.insert(v.end(), ih.i1.begin(), ih.i1.end());
    v.insert(v.end(), iw.i0.begin(), iw.i0.end());
    v.insert(v.end(), iw.i1.begin(), iw.i1.end());
    return v;
  }
  static std::vector<T> weights(const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw) {
    std::vector<T> v(ih.l0);
    v.insert(v.end(), ih.l1.begin(), ih.l1.end());
    v.insert(v.end(), iw.l0.begin(), iw.l0.end());
    v.insert(v.end(), iw.l1.begin(), iw.l1.end());
    return v;
  }
  BilinearTables(const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw) : index(indices(ih, iw)), weight(weights(ih, iw)) {}
};

// One sample's taps: rows h0, h1 with weights a0, a1; columns w0, w1 with weights l0, l1.
template <class T>
struct BilinearTaps {
  int64_t h0, h1, w0, w1;
  T a0, a1, l0, l1;
};

template <class T>
__device__ BilinearTaps<T> bilinear_taps(const int64_t* idx, const T* wt, int64_t oh, int64_t ow, int64_t OH, int64_t OW) {
  return {idx[oh], idx[OH + oh], idx[2 * OH + ow], idx[2 * OH + OW + ow], wt[oh], wt[OH + oh], wt[2 * OH + ow], wt[2 * OH + OW + ow]};
}

template <class T>
void bilinear_forward(const T* x, T* y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                      const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw) {
  const BilinearTables<T> tables(ih, iw);
  const int64_t* idx = tables.index.get();
  const T* wt = tables.weight.get();
  for_each_index(P * OH * OW, [=] __device__(int64_t i) {
    const int64_t ow = i % OW, r = i / OW, oh = r % OH, p = r / OH;
    const BilinearTaps<T> t = bilinear_taps(idx, wt, oh, ow, OH, OW);
    const T* xp = x + p * H * W;
    const T top = t.l0 * xp[t.h0 * W + t.w0] + t.l1 * xp[t.h0 * W + t.w1];
    const T bot = t.l0 * xp[t.h1 * W + t.w0] + t.l1 * xp[t.h1 * W + t.w1];
    y[i] = t.a0 * top + t.a1 * bot;
  });
}

template <class T>
void bilinear_backward(const T* g, T* gx, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                       const cpu::LinearIndex<T>& ih, const cpu::LinearIndex<T>& iw) {
  PACKD_CUDA_CHECK(cudaMemsetAsync(gx, 0, sizeof(T) * std::size_t(P * H * W), current_stream()));
  const BilinearTables<T> tables(ih, iw);
  const int64_t* idx = tables.index.get();
  const T* wt = tables.weight.get();
  for_each_index(P * OH * OW, [=] __device__(int64_t i) {
    const int64_t ow = i % OW, r = i / OW, oh = r % OH, p = r / OH;
    const BilinearTaps<T> t = bilinear_taps(idx, wt, oh, ow, OH, OW);
    T* gp = gx + p * H * W;
    const T v0 = t.a0 * g[i], v1 = t.a1 * g[i];  // spread over the rows first, as the CPU
    atomicAdd(gp + t.h0 * W + t.w0, t.l0 * v0);
    atomicAdd(gp + t.h0 * W + t.w1, t.l1 * v0);
    atomicAdd(gp + t.h1 * W + t.w0, t.l0 * v1);
    atomicAdd(gp + t.h1 * W + t.w1, t.l1 * v1);
  });
}

// Nearest tables: (ih | iw).
inline std::vector<int64_t> nearest_table(const std::vector<int64_t>& ih, const std::vector<int64_t>& iw) {
  std::vector<int64_t> v(ih);
  v.insert(v.end(), iw.begin(), iw.end());
  return v;
}

template <class T>
void nearest_forward(const T* x, T* y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                     const std::vector<int64_t>& ih, const std::vector<int64_t>& iw) {
  const DeviceCopy<int64_t> table(nearest_table(ih, iw));
  const int64_t* idx = table.get();
  for_each_index(P * OH * OW, [=] __device__(int64_t i) {
    const int64_t ow = i % OW, r = i / OW, oh = r % OH, p = r / OH;
    y[i] = x[(p * H + idx[oh]) * W + idx[OH + ow]];
  });
}

template <class T>
void nearest_backward(const T* g, T* gx, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                      const std::vector<int64_t>& ih, const std::vector<int64_t>& iw) {
  PACKD_CUDA_CHECK(cudaMemsetAsync(gx, 0, sizeof(T) * std::size_t(P * H * W), current_stream()));
  const DeviceCopy<int64_t> table(nearest_table(ih, iw));
  const int64_t* idx = table.get();
  for_each_index(P * OH * OW, [=] __device__(int64_t i) {
    const int64_t ow = i % OW, r = i / OW, oh = r % OH, p = r / OH;
    atomicAdd(gx + (p * H + idx[oh]) * W + idx[OH + ow], g[i]);
  });
}

}  // namespace packd::cuda::kernels
