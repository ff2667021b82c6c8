#pragma once
// Shape-op kernels: the index-map gather under pad / flip / rot90 / index_select and its adjoint,
// and torch.gather with its adjoint. One thread per output element (grid-stride); the element's
// index is decomposed over the output extents and each dimension's map (a small table in device
// memory, read through the cache) gives its source offset. The adjoints scatter with atomicAdd,
// or with a plain add when no two elements share a target.
#include <algorithm>
#include <vector>

#include "packd/backend/cpu/shape_ops.hpp"
#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

// The output extents and where each dimension's map starts in the flattened table.
struct MapGeometry {
  int rank = 0;
  int64_t size[kMaxRank] = {};
  int64_t start[kMaxRank] = {};

  // Source offset of output element i, or cpu::kFillOffset when any dimension maps to the fill.
  __device__ int64_t source(int64_t i, const int64_t* table) const {
    int64_t off = 0;
    bool fill = false;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t k = i % size[d];
      i /= size[d];
      const int64_t o = table[start[d] + k];
      if (o == cpu::kFillOffset) fill = true;
      else off += o;
    }
    return fill ? cpu::kFillOffset : off;
  }
};

// The maps concatenated (dimension 0 first) with their geometry.
inline MapGeometry flatten_maps(const Shape& oshape, const cpu::OffsetMaps& maps, std::vector<int64_t>& table) {
  MapGeometry g;
  g.rank = oshape.size();
  for (int d = 0; d < g.rank; ++d) {
    PACKD_CHECK(int64_t(maps[d].size()) == oshape[d], "index_map: map of dimension ", d, " has ", maps[d].size(),
                " entries for an output of shape ", oshape);
    g.size[d] = oshape[d];
    g.start[d] = int64_t(table.size());
    table.insert(table.end(), maps[d].begin(), maps[d].end());
  }
  return g;
}

// Whether a map sends no two output indices to one source (fill entries aside).
inline bool map_injective(const std::vector<int64_t>& map) {
  std::vector<int64_t> s;
  s.reserve(map.size());
  for (int64_t o : map)
    if (o != cpu::kFillOffset) s.push_back(o);
  std::sort(s.begin(), s.end());
  return std::adjacent_find(s.begin(), s.end()) == s.end();
}

template <class T>
void index_map_gather(T* out, const Shape& oshape, const T* x, const cpu::OffsetMaps& maps, T fill) {
  const int64_t n = oshape.numel();
  if (n == 0) return;
  std::vector<int64_t> host;
  const MapGeometry g = flatten_maps(oshape, maps, host);
  const DeviceCopy<int64_t> table(host);
  const int64_t* tab = table.get();
  for_each_index(n, [=] __device__(int64_t i) {
    const int64_t s = g.source(i, tab);
    out[i] = s == cpu::kFillOffset ? fill : x[s];
  });
}

// The maps are index * stride of one non-overlapping layout, so the whole map is one-to-one
// exactly when every dimension's map is; then each target has one writer and needs no atomic.
template <class T>
void index_map_scatter_add(T* gx, const Shape& oshape, const T* g, const cpu::OffsetMaps& maps, bool dim0_one_to_one) {
  const int64_t n = oshape.numel();
  if (n == 0) return;
  bool one_to_one = true;
  for (int d = 0; d < oshape.size() && one_to_one; ++d)
    one_to_one = (d == 0 && dim0_one_to_one) || map_injective(maps[d]);
  std::vector<int64_t> host;
  const MapGeometry geo = flatten_maps(oshape, maps, host);
  const DeviceCopy<int64_t> table(host);
  const int64_t* tab = table.get();
  if (one_to_one) {
    for_each_index(n, [=] __device__(int64_t i) {
      const int64_t s = geo.source(i, tab);
      if (s != cpu::kFillOffset) gx[s] += g[i];
    });
  } else {
    for_each_index(n, [=] __device__(int64_t i) {
      const int64_t s = geo.source(i, tab);
      if (s != cpu::kFillOffset) atomicAdd(gx + s, g[i]);
    });
  }
}

// Index extents and the strides of the indexed tensor (the gathered dimension's stride applies to
// the index value).
struct GatherGeometry {
  int rank = 0;
  int dim = 0;
  int64_t size[kMaxRank] = {};
  int64_t stride[kMaxRank] = {};

  __device__ int64_t offset(int64_t i, int64_t index) const {
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t k = i % size[d];
      i /= size[d];
      off += (d == dim ? index : k) * stride[d];
    }
    return off;
  }
};

inline GatherGeometry gather_geometry(const Shape& ishape, const Shape& xstrides, int dim) {
  GatherGeometry g;
  g.rank = ishape.size();
  g.dim = dim;
  for (int d = 0; d < g.rank; ++d) g.size[d] = ishape[d], g.stride[d] = xstrides[d];
  return g;
}

template <class T>
void gather(T* out, const Shape& ishape, const int64_t* index, const T* x, const Shape& xstrides, int dim) {
  const GatherGeometry geo = gather_geometry(ishape, xstrides, dim);
  for_each_index(ishape.numel(), [=] __device__(int64_t i) { out[i] = x[geo.offset(i, index[i])]; });
}

template <class T>
void gather_scatter_add(const T* g, const Shape& ishape, const int64_t* index, T* gx, const Shape& gxstrides, int dim) {
  const GatherGeometry geo = gather_geometry(ishape, gxstrides, dim);
  for_each_index(ishape.numel(), [=] __device__(int64_t i) { atomicAdd(gx + geo.offset(i, index[i]), g[i]); });
}

}  // namespace packd::cuda::kernels
