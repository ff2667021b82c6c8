#pragma once
// CUDA convolutions on cuDNN (cuda/conv.cu): the declarations ops/conv.hpp calls through
// backend::dispatch, with the arguments of the CPU kernels (backend/cpu/conv.hpp): dense NCHW
// pointers and the convolution's geometry. Instantiated for float and double.
#include <cstdint>

namespace packd::cuda {

// The geometry of y = conv2d(x, w): x (N, C, H, W), w (K, C/groups, KH, KW), y (N, K, OH, OW);
// field for field cpu::ConvGeometry (ops/conv.hpp converts). Its own struct because
// backend/cpu/conv.hpp carries the CPU GEMM, which nvcc cannot compile.
struct ConvGeometry {
  int64_t N, C, H, W;  // input
  int64_t K, KH, KW;   // output channels, kernel size
  int64_t OH, OW;      // output spatial size
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

// y (N, K, OH, OW) = conv2d(x (N, C, H, W), w (K, C/groups, KH, KW)) + bias (K) (bias may be null).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g);
// dx (N, C, H, W) = the gradient of conv2d with respect to its input, for dy (N, K, OH, OW) (assigned).
template <class T>
void conv2d_backward_input(const T* dy, const T* w, T* dx, const ConvGeometry& g);
// dw (K, C/groups, KH, KW) = the gradient of conv2d with respect to its weight (assigned).
template <class T>
void conv2d_backward_weight(const T* dy, const T* x, T* dw, const ConvGeometry& g);
// db (K) = sum of dy (N, K, OH, OW) over N, OH, OW (assigned), accumulated in double.
template <class T>
void conv2d_backward_bias(const T* dy, T* db, const ConvGeometry& g);
// y (N, C, plane) += bias (C) per channel: conv_transpose2d's bias.
template <class T>
void add_channel_bias(T* y, const T* bias, int64_t N, int64_t C, int64_t plane);

}  // namespace packd::cuda
