#pragma once
// Shared by every CUDA TU: the checked-call macro that turns a CUDA error into packd::CudaError
// with the call's text, file and line; the current stream; the launch helpers every kernel file
// uses. Never included from include/ (Note [CUDA configuration]).
#if !defined(__CUDACC__) || !PACKD_WITH_CUDA
#error "packd/cuda/common.cuh is for the CUDA backend's own .cu files, compiled by nvcc with PACKD_WITH_CUDA=1"
#endif
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "packd/backend/cuda_api.hpp"
#include "packd/core/error.hpp"
#include "packd/core/shape.hpp"

#define PACKD_CUDA_CHECK(call)                                                                           \
  do {                                                                                                   \
    const cudaError_t packd_status_ = (call);                                                            \
    if (packd_status_ != cudaSuccess)                                                                    \
      throw ::packd::CudaError(::packd::detail::concat(#call, " failed at " __FILE__ ":", __LINE__, ": ", \
                                                       cudaGetErrorString(packd_status_)));              \
  } while (0)

// After a kernel launch: a bad configuration is reported at once, naming the kernel.
#define PACKD_CUDA_CHECK_LAUNCH(name) PACKD_CUDA_CHECK(((void)(name), cudaGetLastError()))

namespace packd::cuda {

// The stream every packd kernel, copy and library call of the current device is ordered on
// (context.cu; one per device, created on first use).
cudaStream_t current_stream();
int current_device();

// Makes `device` current for a scope and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    PACKD_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) PACKD_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(prev_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
};

inline constexpr int kBlock = 256;  // threads per block of the elementwise / index kernels

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never above the grid limit.
inline unsigned grid_for(int64_t n, int block = kBlock) {
  const int64_t blocks = (n + block - 1) / block;
  return unsigned(std::clamp<int64_t>(blocks, 1, int64_t(1) << 20));
}

template <class F>
__global__ void for_each_index_kernel(int64_t n, F f) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) f(i);
}

// f(i) for i in [0, n) on the current stream: the launch of every one-thread-per-item kernel.
// f is a __device__ lambda (nvcc --extended-lambda) or a functor with a __device__ operator().
template <class F>
void for_each_index(int64_t n, F f) {
  if (n <= 0) return;
  for_each_index_kernel<<<grid_for(n), kBlock, 0, current_stream()>>>(n, f);
  PACKD_CUDA_CHECK_LAUNCH("for_each_index");
}

// Offsets of N operands for a linear index over a shape (row-major), from each operand's strides
// (0 along broadcast dimensions). Dimensions that are contiguous in every operand are merged on
// the host first, so the common cases cost one or two divisions per element.
template <int N>
struct OffsetCalc {
  int ndim = 0;
  int64_t sizes[kMaxRank] = {};
  int64_t strides[kMaxRank][N] = {};

  __host__ __device__ std::array<int64_t, N> offsets(int64_t linear) const {
    std::array<int64_t, N> off{};
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < N; ++k) off[k] += i * strides[d][k];
    }
    return off;
  }
};

template <int N>
OffsetCalc<N> make_offset_calc(const Shape& shape, const std::array<const Shape*, N>& strides) {
  OffsetCalc<N> c;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;  // size-1 dimensions contribute nothing
    const int m = c.ndim - 1;
    bool merge = m >= 0;
    for (int k = 0; k < N && merge; ++k) merge = c.strides[m][k] == (*strides[k])[d] * shape[d];
    if (merge) {  // the previous kept dimension steps over this one exactly: fold them
      c.sizes[m] *= shape[d];
      for (int k = 0; k < N; ++k) c.strides[m][k] = (*strides[k])[d];
      continue;
    }
    c.sizes[c.ndim] = shape[d];
    for (int k = 0; k < N; ++k) c.strides[c.ndim][k] = (*strides[k])[d];
    ++c.ndim;
  }
  return c;
}

// n elements of T on the current device from the caching allocator, for the length of one op
// (null for n == 0). Freed while the kernels or library calls that use it may still be queued:
// safe, because every later user of the block is ordered after them on the device's one stream
// (Note [CUDA caching allocator]).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n)
      : n_(n), device_(current_device()), p_(static_cast<T*>(device_allocate(n * sizeof(T), device_))) {}
  ~DeviceBuffer() { device_deallocate(p_, n_ * sizeof(T), device_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return p_; }
  std::size_t size() const { return n_; }  // elements

 private:
  std::size_t n_;
  int device_;
  T* p_;
};

// A host array uploaded into a DeviceBuffer for the length of one op. The copy is queued on the
// packd stream; a pageable source is staged before cudaMemcpyAsync returns, so the host array may
// go at once.
template <class T>
class DeviceCopy : public DeviceBuffer<T> {
 public:
  explicit DeviceCopy(const std::vector<T>& host) : DeviceBuffer<T>(host.size()) {
    if (!host.empty())
      PACKD_CUDA_CHECK(cudaMemcpyAsync(this->get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice,
                                       current_stream()));
  }
};

// One handle of a CUDA library (cuBLAS, cuDNN) per thread and device: a handle must not be used by
// two threads at once. A thread that ends leaves its handles to the next thread that needs one
// (creating a handle costs milliseconds). Never destroyed: at process exit the CUDA context may
// already be gone.
template <class Handle>
class LibraryHandles {
 public:
  // The calling thread's handle on the current device; create(&h) makes one when none is left over.
  template <class Create>
  static Handle get(Create create) {
    const std::size_t device = std::size_t(current_device());
    Mine& m = mine();
    if (m.by_device.size() <= device) m.by_device.resize(device + 1, Handle{});
    Handle& handle = m.by_device[device];
    if (!handle) {
      Shared& pool = shared();
      {
        std::lock_guard<std::mutex> lock(pool.mutex);
        if (pool.free.size() > device && !pool.free[device].empty()) {
          handle = pool.free[device].back();
          pool.free[device].pop_back();
        }
      }
      if (!handle) create(&handle);
    }
    return handle;
  }

 private:
  struct Shared {
    std::mutex mutex;
    std::vector<std::vector<Handle>> free;  // [device] -> idle handles
  };
  static Shared& shared() {
    static Shared* pool = new Shared;
    return *pool;
  }
  struct Mine {
    std::vector<Handle> by_device;
    Mine() = default;
    Mine(const Mine&) = delete;
    Mine& operator=(const Mine&) = delete;
    ~Mine() {
      Shared& pool = shared();
      std::lock_guard<std::mutex> lock(pool.mutex);
      for (std::size_t d = 0; d < by_device.size(); ++d) {
        if (!by_device[d]) continue;
        if (pool.free.size() <= d) pool.free.resize(d + 1);
        pool.free[d].push_back(by_device[d]);
      }
    }
  };
  static Mine& mine() {  // one per thread and Handle type (not per Create)
    thread_local Mine m;
    return m;
  }
};

// Folds v[0..K) over the thread block with op (associative: a sum, a max) and gives every thread
// the totals. blockDim.x must be Threads, a multiple of 32. Warps fold by shuffles, then every
// thread folds the warps' results in warp order, so all threads hold the same bits.
struct DeviceSum {
  template <class T>
  __device__ T operator()(T a, T b) const { return T(a + b); }
};

template <int Threads, class T, int K, class Op>
__device__ void block_all_reduce(T (&v)[K], Op op) {
  static_assert(Threads % 32 == 0, "block_all_reduce: whole warps only");
  __shared__ T part[Threads / 32][K];
  for (int k = 0; k < K; ++k)
    for (int o = 16; o > 0; o /= 2) v[k] = op(v[k], __shfl_down_sync(0xffffffffu, v[k], o));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0)
    for (int k = 0; k < K; ++k) part[warp][k] = v[k];
  __syncthreads();
  for (int k = 0; k < K; ++k) {
    T t = part[0][k];
    for (int w = 1; w < Threads / 32; ++w) t = op(t, part[w][k]);
    v[k] = t;
  }
  __syncthreads();  // part may be reused by the next call
}

template <int Threads, class T, class Op>
__device__ T block_all_reduce(T v, Op op) {
  T a[1] = {v};
  block_all_reduce<Threads>(a, op);
  return a[0];
}

}  // namespace packd::cuda
