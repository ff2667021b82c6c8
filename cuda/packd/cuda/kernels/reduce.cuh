#pragma once
// Reductions: each output folds its reduced sub-space. With few elements per output one thread
// folds one output; otherwise a block of kBlock threads folds one output (grid-stride over the
// outputs), each thread a strided share, then a shared-memory tree. The combine rules are
// order-independent (sum in double for float; max/min/arg with NaN and first-index tie rules), so
// the result matches the CPU's up to the order of float additions.
#include <cmath>
#include <vector>

#include "packd/cuda/common.cuh"

namespace packd::cuda::kernels {

// Splits a strided tensor's dimensions into the kept ones (over the output) and the reduced ones.
struct ReduceSpaces {
  OffsetCalc<1> kept, reduced;
  int64_t nout = 1, nred = 1;
};

inline ReduceSpaces reduce_spaces(const Shape& shape, const Shape& strides, const std::vector<bool>& reduce) {
  Shape ks, kst, rs, rst;
  for (int d = 0; d < shape.size(); ++d) {
    (reduce[d] ? rs : ks).push_back(shape[d]);
    (reduce[d] ? rst : kst).push_back(strides[d]);
  }
  ReduceSpaces sp;
  sp.kept = make_offset_calc<1>(ks, {&kst});
  sp.reduced = make_offset_calc<1>(rs, {&rst});
  sp.nout = ks.numel();
  sp.nred = rs.numel();
  return sp;
}

// Op: Acc init() ; Acc step(Acc, T value, int64_t r) ; Acc combine(Acc, Acc) ; Out finish(Acc)
template <class T, class Out, class Op>
__global__ void reduce_block_kernel(Out* out, const T* x, ReduceSpaces sp, Op op) {
  using Acc = decltype(op.init());
  __shared__ Acc part[kBlock];
  for (int64_t o = blockIdx.x; o < sp.nout; o += gridDim.x) {
    const int64_t base = sp.kept.offsets(o)[0];
    Acc acc = op.init();
    for (int64_t r = threadIdx.x; r < sp.nred; r += blockDim.x) acc = op.step(acc, x[base + sp.reduced.offsets(r)[0]], r);
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (int(threadIdx.x) < w) part[threadIdx.x] = op.combine(part[threadIdx.x], part[threadIdx.x + w]);
      __syncthreads();
    }
    if (threadIdx.x == 0) out[o] = op.finish(part[0]);
    __syncthreads();
  }
}

template <class T, class Out, class Op>
void reduce(Out* out, const T* x, const Shape& shape, const Shape& strides, const std::vector<bool>& reduce_mask, Op op) {
  const ReduceSpaces sp = reduce_spaces(shape, strides, reduce_mask);
  if (sp.nout == 0) return;
  if (sp.nred < 128) {
    for_each_index(sp.nout, [=] __device__(int64_t o) {
      const int64_t base = sp.kept.offsets(o)[0];
      auto acc = op.init();
      for (int64_t r = 0; r < sp.nred; ++r) acc = op.step(acc, x[base + sp.reduced.offsets(r)[0]], r);
      out[o] = op.finish(acc);
    });
    return;
  }
  const unsigned blocks = unsigned(std::min<int64_t>(sp.nout, int64_t(1) << 16));
  reduce_block_kernel<<<blocks, kBlock, 0, current_stream()>>>(out, x, sp, op);
  PACKD_CUDA_CHECK_LAUNCH("reduce");
}

template <class T>
__host__ __device__ inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  return false;
}

template <class T, class A>
struct SumOp {
  double scale;
  __device__ A init() const { return A(0); }
  __device__ A step(A acc, T v, int64_t) const { return A(acc + A(v)); }
  __device__ A combine(A a, A b) const { return A(a + b); }
  __device__ T finish(A acc) const { return T(scale == 1.0 ? acc : A(acc * scale)); }
};

template <class T, bool Max>
struct ExtremumOp {
  __device__ static bool better(T a, T b) {  // is a preferred over b
    if (is_nan(a)) return !is_nan(b);
    return Max ? a > b : a < b;
  }
  __device__ T init() const {  // ±inf for floats, as the CPU: an all -inf reduction gives -inf
    using lim = std::numeric_limits<T>;
    return lim::has_infinity ? (Max ? -lim::infinity() : lim::infinity()) : (Max ? lim::lowest() : lim::max());
  }
  __device__ T step(T acc, T v, int64_t) const { return better(v, acc) ? v : acc; }
  __device__ T combine(T a, T b) const { return better(b, a) ? b : a; }
  __device__ T finish(T a) const { return a; }
};

template <class T>
struct ValueIndex {
  T value;
  int64_t index;
};

template <class T, bool Max>
struct ArgExtremumOp {
  using Acc = ValueIndex<T>;
  // first occurrence wins ties; NaN counts as the extremum (the first NaN wins)
  __device__ static bool better(const Acc& a, const Acc& b) {
    if (b.index < 0) return true;
    if (is_nan(b.value)) return is_nan(a.value) && a.index < b.index;
    if (is_nan(a.value)) return true;
    if (a.value == b.value) return a.index < b.index;
    return Max ? a.value > b.value : a.value < b.value;
  }
  __device__ Acc init() const { return Acc{T(0), -1}; }
  __device__ Acc step(Acc acc, T v, int64_t r) const { return better(Acc{v, r}, acc) ? Acc{v, r} : acc; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (b.index < 0) return a;
    return better(b, a) ? b : a;
  }
  __device__ int64_t finish(Acc a) const { return a.index; }
};

}  // namespace packd::cuda::kernels
