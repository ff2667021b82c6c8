#pragma once
// CUDA convolutions on cuDNN (cuda/conv.cu): the declarations ops/conv.hpp calls through
// backend::dispatch, with the arguments of the CPU kernels (backend/cpu/conv.hpp): dense NCHW
// pointers and the convolution's geometry. Instantiated for float and double.
#include <cstdint>

#include "packd/backend/conv_geometry.hpp"

namespace packd::cuda {

using packd::ConvGeometry;  // packd/backend/conv_geometry.hpp

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
