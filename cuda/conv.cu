// Convolutions on cuDNN; the only TU that calls it (packd/cuda/cudnn.cuh).
//
// cuDNN's legacy convolution API (cudnnConvolutionForward / BackwardData / BackwardFilter, the
// filter and convolution descriptors, cudnnFind*AlgorithmEx) is deprecated as of cuDNN 9 in
// favour of the graph API but still supported; the headers mark it deprecated only when
// CUDNN_WARN_DEPRECATED is defined, which packd never does. It is kept to this one TU so that a
// move to the graph API touches nothing else.
//
// Every convolution packd runs is one of three cuDNN operations on the geometry of an underlying
// conv2d (ops/conv.hpp): forward, backward-data (conv2d's input gradient and conv_transpose2d's
// forward) and backward-filter. The algorithm of each (operation, geometry, dtype, math) is chosen
// once by timing every algorithm on the real operands (cudnnFind*AlgorithmEx) and cached.
//
// Precision: float convolutions run with CUDNN_FMA_MATH unless allow_tf32(): cuDNN's
// CUDNN_DEFAULT_MATH may use TF32 tensor cores on Ampere and later, whose 10-bit mantissa would
// miss the CPU's results by ~1e-3; with allow_tf32() the math type is CUDNN_TENSOR_OP_MATH.
#include <array>
#include <climits>
#include <map>
#include <mutex>
#include <type_traits>

#include "packd/backend/cuda/conv.hpp"
#include "packd/cuda/cudnn.cuh"
#include "packd/cuda/kernels/conv.cuh"

namespace packd::cuda {

namespace {

using Workspace = DeviceBuffer<std::byte>;  // cuDNN workspace: size() bytes

// The largest workspace the algorithm search offers: algorithms that want more (some FFT
// variants want gigabytes) are not considered.
constexpr std::size_t kMaxSearchWorkspace = std::size_t(512) << 20;

int to_int(int64_t v, const char* what, const ConvGeometry& g) {
  PACKD_CHECK(v >= INT_MIN && v <= INT_MAX, "conv2d: ", what, " = ", v, " exceeds cuDNN's 32-bit limit (N=", g.N, " C=", g.C,
              " H=", g.H, " W=", g.W, " K=", g.K, ")");
  return int(v);
}

template <class T>
bool tf32_math() {
  return std::is_same_v<T, float> && allow_tf32();
}

// The descriptors of the underlying conv2d: x (N, C, H, W), w (K, C/groups, KH, KW), y (N, K, OH, OW).
struct ConvDescriptors {
  TensorDescriptor x, y;
  FilterDescriptor w;
  ConvolutionDescriptor conv;

  template <class T>
  static ConvDescriptors make(const ConvGeometry& g) {
    constexpr cudnnDataType_t dtype = std::is_same_v<T, float> ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
    // cuDNN's legacy API indexes tensors with 32-bit integers.
    to_int(g.N * g.C * g.H * g.W, "the input's element count", g);
    to_int(g.N * g.K * g.OH * g.OW, "the output's element count", g);
    to_int(g.K * g.C / g.groups * g.KH * g.KW, "the weight's element count", g);
    const cudnnMathType_t math = std::is_same_v<T, float> ? (allow_tf32() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH)
                                                          : CUDNN_DEFAULT_MATH;
    return ConvDescriptors{
        TensorDescriptor(dtype, int(g.N), int(g.C), int(g.H), int(g.W)),
        TensorDescriptor(dtype, int(g.N), int(g.K), int(g.OH), int(g.OW)),
        FilterDescriptor(dtype, int(g.K), int(g.C / g.groups), int(g.KH), int(g.KW)),
        ConvolutionDescriptor(dtype, to_int(g.ph, "padding", g), to_int(g.pw, "padding", g), to_int(g.sh, "stride", g),
                              to_int(g.sw, "stride", g), to_int(g.dh, "dilation", g), to_int(g.dw, "dilation", g),
                              to_int(g.groups, "groups", g), math)};
  }
};

// The three cuDNN operations behind one interface for the algorithm search. in0 / in1 / out:
//   Forward         x, w -> y
//   BackwardData    dy, w -> dx
//   BackwardFilter  x, dy -> dw
struct Forward {
  static constexpr int kDirection = 0;
  static constexpr const char* kName = "forward";
  using Algo = cudnnConvolutionFwdAlgo_t;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvDescriptors& d, Algo a, std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(), a, bytes);
  }
  static void find(cudnnHandle_t h, const ConvDescriptors& d, const void* x, const void* w, void* y, int* found,
                   Perf* perf, const Workspace& ws) {
    PACKD_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, d.x.get(), x, d.w.get(), w, d.conv.get(), d.y.get(), y,
                                                             kAlgoCount, found, perf, ws.get(), ws.size()));
  }
  static void run(cudnnHandle_t h, const ConvDescriptors& d, Algo a, const void* one, const void* x, const void* w,
                  const Workspace& ws, const void* zero, void* y) {
    PACKD_CUDNN_CHECK(cudnnConvolutionForward(h, one, d.x.get(), x, d.w.get(), w, d.conv.get(), a, ws.get(), ws.size(),
                                              zero, d.y.get(), y));
  }
};

struct BackwardData {
  static constexpr int kDirection = 1;
  static constexpr const char* kName = "backward-data";
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvDescriptors& d, Algo a, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.get(), d.y.get(), d.conv.get(), d.x.get(), a, bytes);
  }
  static void find(cudnnHandle_t h, const ConvDescriptors& d, const void* dy, const void* w, void* dx, int* found,
                   Perf* perf, const Workspace& ws) {
    PACKD_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w.get(), w, d.y.get(), dy, d.conv.get(), d.x.get(),
                                                                  dx, kAlgoCount, found, perf, ws.get(), ws.size()));
  }
  static void run(cudnnHandle_t h, const ConvDescriptors& d, Algo a, const void* one, const void* dy, const void* w,
                  const Workspace& ws, const void* zero, void* dx) {
    PACKD_CUDNN_CHECK(cudnnConvolutionBackwardData(h, one, d.w.get(), w, d.y.get(), dy, d.conv.get(), a, ws.get(),
                                                   ws.size(), zero, d.x.get(), dx));
  }
};

struct BackwardFilter {
  static constexpr int kDirection = 2;
  static constexpr const char* kName = "backward-filter";
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvDescriptors& d, Algo a, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.get(), d.y.get(), d.conv.get(), d.w.get(), a, bytes);
  }
  static void find(cudnnHandle_t h, const ConvDescriptors& d, const void* x, const void* dy, void* dw, int* found,
                   Perf* perf, const Workspace& ws) {
    PACKD_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x.get(), x, d.y.get(), dy, d.conv.get(),
                                                                    d.w.get(), dw, kAlgoCount, found, perf, ws.get(),
                                                                    ws.size()));
  }
  static void run(cudnnHandle_t h, const ConvDescriptors& d, Algo a, const void* one, const void* x, const void* dy,
                  const Workspace& ws, const void* zero, void* dw) {
    PACKD_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, one, d.x.get(), x, d.y.get(), dy, d.conv.get(), a, ws.get(),
                                                     ws.size(), zero, d.w.get(), dw));
  }
};

// ---- algorithm cache ---------------------------------------------------------------------------

// (operation, device, dtype, TF32, geometry): everything the choice of algorithm depends on.
using AlgoKey = std::array<int64_t, 18>;

struct AlgoChoice {
  int algo;
  cudnnMathType_t math;
  std::size_t workspace;  // bytes
};

struct AlgoCache {
  std::mutex mutex;
  std::map<AlgoKey, AlgoChoice> choices;
};
AlgoCache& algo_cache() {
  static AlgoCache* cache = new AlgoCache;  // never destroyed: may be used during static destruction
  return *cache;
}

bool is_tensor_op(cudnnMathType_t m) { return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }

// A workspace for the search: `want` bytes, or less when the device cannot spare that much.
Workspace search_workspace(std::size_t want) {
  for (;;) {
    try {
      return Workspace(want);
    } catch (const CudaError&) {
      if (want == 0) throw;
      want = want > (std::size_t(16) << 20) ? want / 4 : 0;
    }
  }
}

// The algorithm for op on these operands: from the cache, or found by timing them all (which
// overwrites out, about to be written anyway).
template <class Op, class T>
AlgoChoice choose_algo(cudnnHandle_t h, const ConvDescriptors& d, const ConvGeometry& g, const void* in0,
                       const void* in1, void* out) {
  const AlgoKey key{Op::kDirection, current_device(), std::is_same_v<T, float> ? 0 : 1, tf32_math<T>() ? 1 : 0,
                    g.N, g.C, g.H, g.W, g.K, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups};
  AlgoCache& cache = algo_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (auto it = cache.choices.find(key); it != cache.choices.end()) return it->second;
  }
  // The search runs unlocked: two threads may both search one key, and store the same kind of answer.
  std::size_t want = 0;
  for (int a = 0; a < Op::kAlgoCount; ++a) {
    std::size_t bytes = 0;
    if (Op::workspace_size(h, d, typename Op::Algo(a), &bytes) == CUDNN_STATUS_SUCCESS)  // else not supported here
      want = std::max(want, std::min(bytes, kMaxSearchWorkspace));
  }
  const Workspace ws = search_workspace(want);
  typename Op::Perf perf[Op::kAlgoCount];
  int found = 0;
  Op::find(h, d, in0, in1, out, &found, perf, ws);
  // Fastest first; without allow_tf32() a float convolution never takes a tensor-core (TF32) algorithm.
  const bool tf32 = tf32_math<T>();
  for (int i = 0; i < found; ++i) {
    const auto& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > ws.size()) continue;
    if (std::is_same_v<T, float> && !tf32 && is_tensor_op(p.mathType)) continue;
    // Without TF32 the descriptor's FMA math stays: the algorithm was timed under it.
    const AlgoChoice choice{int(p.algo), std::is_same_v<T, float> && !tf32 ? CUDNN_FMA_MATH : p.mathType, p.memory};
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.choices[key] = choice;
    return choice;
  }
  PACKD_CHECK(false, "conv2d: cuDNN has no ", Op::kName, " algorithm for input (", g.N, ", ", g.C, ", ", g.H, ", ", g.W,
              "), weight (", g.K, ", ", g.C / g.groups, ", ", g.KH, ", ", g.KW, "), stride (", g.sh, ", ", g.sw,
              "), padding (", g.ph, ", ", g.pw, "), dilation (", g.dh, ", ", g.dw, "), groups ", g.groups, " (",
              found, " candidates, search workspace ", ws.size(), " bytes)");
  return {};
}

// out = op(in0, in1) on the underlying conv2d of g (out assigned: beta = 0).
template <class Op, class T>
void run_conv(const T* in0, const T* in1, T* out, const ConvGeometry& g) {
  const int64_t x_numel = g.N * g.C * g.H * g.W, y_numel = g.N * g.K * g.OH * g.OW, w_numel = g.K * (g.C / g.groups) * g.KH * g.KW;
  const int64_t out_numel = Op::kDirection == 0 ? y_numel : Op::kDirection == 1 ? x_numel : w_numel;
  if (out_numel == 0) return;
  if (x_numel == 0 || y_numel == 0 || w_numel == 0) {  // an empty sum (no images, or no channels to sum over)
    PACKD_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(T) * std::size_t(out_numel), current_stream()));
    return;
  }
  cudnnHandle_t h = cudnn_handle();
  ConvDescriptors d = ConvDescriptors::template make<T>(g);
  const AlgoChoice choice = choose_algo<Op, T>(h, d, g, in0, in1, out);
  d.conv.set_math(choice.math);
  const Workspace ws(choice.workspace);
  const T one = T(1), zero = T(0);
  Op::run(h, d, typename Op::Algo(choice.algo), &one, in0, in1, ws, &zero, out);
}

}  // namespace

template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g) {
  run_conv<Forward, T>(x, w, y, g);
  if (bias) kernels::add_channel_bias(y, bias, g.N, g.K, g.OH * g.OW);
}

template <class T>
void conv2d_backward_input(const T* dy, const T* w, T* dx, const ConvGeometry& g) {
  run_conv<BackwardData, T>(dy, w, dx, g);
}

template <class T>
void conv2d_backward_weight(const T* dy, const T* x, T* dw, const ConvGeometry& g) {
  run_conv<BackwardFilter, T>(x, dy, dw, g);
}

template <class T>
void conv2d_backward_bias(const T* dy, T* db, const ConvGeometry& g) {
  kernels::channel_sum(dy, db, g.N, g.K, g.OH * g.OW);
}

template <class T>
void add_channel_bias(T* y, const T* bias, int64_t N, int64_t C, int64_t plane) {
  kernels::add_channel_bias(y, bias, N, C, plane);
}

#define PACKD_INSTANTIATE(T)                                                                      \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const ConvGeometry&);         \
  template void conv2d_backward_input<T>(const T*, const T*, T*, const ConvGeometry&);            \
  template void conv2d_backward_weight<T>(const T*, const T*, T*, const ConvGeometry&);           \
  template void conv2d_backward_bias<T>(const T*, T*, const ConvGeometry&);                       \
  template void add_channel_bias<T>(T*, const T*, int64_t, int64_t, int64_t);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)

}  // namespace packd::cuda
