#pragma once
// CPU convolution kernels: conv2d forward, backward-to-input, backward-to-weight, bias gradient.
// conv_transpose2d uses the same three kernels with the roles of input and output swapped
// (ops/conv.hpp), so this file holds every convolution algorithm packd has.
//
// Algorithm (per image n and group g, NCHW, contiguous buffers):
//   cols  = im2col(x[n, g])                  (Cg*KH*KW, OH*OW): the receptive field of each output pixel
//   y[n,g]  = W[g] @ cols (+ bias)            W[g]: (Kg, Cg*KH*KW), the weight as a matrix
//   dcols   = W[g]^T @ dy[n,g];  dx[n,g] += col2im(dcols)
//   dW[g]  += dy[n,g] @ cols^T
// A 1x1 convolution with stride 1 and no padding needs no im2col: cols is the image itself.
// The products run on the packed GEMM (gemm.hpp), which reads the transposed operands through
// strides, and is parallel inside; im2col/col2im are parallel over channels.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "packd/backend/cpu/gemm.hpp"
#include "packd/backend/cpu/loop.hpp"

namespace packd::cpu {

// Shapes of a 2-D convolution y = conv2d(x, w): x (N, C, H, W), w (K, C/groups, KH, KW),
// y (N, K, OH, OW).
struct ConvGeometry {
  int64_t N, C, H, W;     // input
  int64_t K, KH, KW;      // output channels, kernel size
  int64_t OH, OW;         // output spatial size
  int64_t sh, sw, ph, pw, dh, dw, groups;

  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
  int64_t col_rows() const { return Cg() * KH * KW; }  // the GEMM's inner dimension
  int64_t col_cols() const { return OH * OW; }
  // cols is the image itself for 1x1 kernels with unit stride and no padding
  bool direct() const { return KH == 1 && KW == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

// cols (Cg*KH*KW, OH*OW) from x (Cg, H, W); zero where the window reaches into the padding.
template <class T>
void im2col(const T* x, const ConvGeometry& g, T* cols) {
  const int64_t rows = g.col_rows(), ohw = g.col_cols();
#pragma omp parallel for num_threads(threads_for(rows * ohw)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / (g.KH * g.KW), kh = (r / g.KW) % g.KH, kw = r % g.KW;
    const T* xc = x + c * g.H * g.W;
    T* out = cols + r * ohw;
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
      T* orow = out + oh * g.OW;
      if (ih < 0 || ih >= g.H) {
        std::fill_n(orow, g.OW, T(0));
        continue;
      }
      const T* xrow = xc + ih * g.W;
      const int64_t off = kw * g.dw - g.pw;  // iw = ow * sw + off
      if (g.sw == 1) {
        // valid ow range: 0 <= ow + off < W
        const int64_t lo = std::clamp<int64_t>(-off, 0, g.OW), hi = std::clamp<int64_t>(g.W - off, lo, g.OW);
        std::fill_n(orow, lo, T(0));
        std::memcpy(orow + lo, xrow + lo + off, std::size_t(hi - lo) * sizeof(T));
        std::fill_n(orow + hi, g.OW - hi, T(0));
      } else {
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t iw = ow * g.sw + off;
          orow[ow] = iw >= 0 && iw < g.W ? xrow[iw] : T(0);
        }
      }
    }
  }
}

// x (Cg, H, W) += col2im(cols): the adjoint of im2col. Parallel over channels, so no two threads
// write the same element.
template <class T>
void col2im_add(const T* cols, const ConvGeometry& g, T* x) {
  const int64_t ohw = g.col_cols(), cg = g.Cg();
#pragma omp parallel for num_threads(threads_for(g.col_rows() * ohw)) schedule(static)
  for (int64_t c = 0; c < cg; ++c) {
    T* xc = x + c * g.H * g.W;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* in = cols + ((c * g.KH + kh) * g.KW + kw) * ohw;
        const int64_t off = kw * g.dw - g.pw;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          T* xrow = xc + ih * g.W;
          const T* irow = in + oh * g.OW;
          if (g.sw == 1) {
            const int64_t lo = std::clamp<int64_t>(-off, 0, g.OW), hi = std::clamp<int64_t>(g.W - off, lo, g.OW);
            for (int64_t ow = lo; ow < hi; ++ow) xrow[ow + off] += irow[ow];
          } else {
            for (int64_t ow = 0; ow < g.OW; ++ow) {
              const int64_t iw = ow * g.sw + off;
              if (iw >= 0 && iw < g.W) xrow[iw] += irow[ow];
            }
          }
        }
      }
    }
  }
}

// y (N, K, OH, OW) = conv2d(x (N, C, H, W), w (K, Cg, KH, KW)) + bias (K) (bias may be null).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g) {
  const int64_t rows = g.col_rows(), ohw = g.col_cols(), kg = g.Kg();
  std::vector<T> cols_buf(g.direct() ? 0 : std::size_t(rows * ohw));
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* xg = x + (n * g.C + grp * g.Cg()) * g.H * g.W;  // (Cg, H, W)
      const T* cols = xg;                                        // (rows, OH*OW)
      if (!g.direct()) {
        im2col(xg, g, cols_buf.data());
        cols = cols_buf.data();
      }
      T* yg = y + (n * g.K + grp * kg) * ohw;  // (Kg, OH*OW)
      gemm<T>(kg, ohw, rows, T(1), w + grp * kg * rows, rows, 1, cols, ohw, 1, T(0), yg, ohw, 1);
      if (bias) {
        for (int64_t k = 0; k < kg; ++k) {
          const T b = bias[grp * kg + k];
          T* row = yg + k * ohw;
          for (int64_t i = 0; i < ohw; ++i) row[i] += b;
        }
      }
    }
  }
}

// dx (N, C, H, W) = the gradient of conv2d with respect to its input (assigned, not added).
template <class T>
void conv2d_backward_input(const T* dy, const T* w, T* dx, const ConvGeometry& g) {
  const int64_t rows = g.col_rows(), ohw = g.col_cols(), kg = g.Kg();
  std::vector<T> dcols(g.direct() ? 0 : std::size_t(rows * ohw));
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* dyg = dy + (n * g.K + grp * kg) * ohw;           // (Kg, OH*OW)
      const T* wg = w + grp * kg * rows;                        // (Kg, rows)
      T* dxg = dx + (n * g.C + grp * g.Cg()) * g.H * g.W;       // (Cg, H, W)
      if (g.direct()) {  // dx = W^T @ dy directly
        gemm<T>(rows, ohw, kg, T(1), wg, 1, rows, dyg, ohw, 1, T(0), dxg, ohw, 1);
        continue;
      }
      gemm<T>(rows, ohw, kg, T(1), wg, 1, rows, dyg, ohw, 1, T(0), dcols.data(), ohw, 1);
      std::fill_n(dxg, g.Cg() * g.H * g.W, T(0));
      col2im_add(dcols.data(), g, dxg);
    }
  }
}

// dw (K, Cg, KH, KW) = the gradient of conv2d with respect to its weight (assigned).
template <class T>
void conv2d_backward_weight(const T* dy, const T* x, T* dw, const ConvGeometry& g) {
  const int64_t rows = g.col_rows(), ohw = g.col_cols(), kg = g.Kg();
  std::vector<T> cols_buf(g.direct() ? 0 : std::size_t(rows * ohw));
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* xg = x + (n * g.C + grp * g.Cg()) * g.H * g.W;
      const T* cols = xg;
      if (!g.direct()) {
        im2col(xg, g, cols_buf.data());
        cols = cols_buf.data();
      }
      const T* dyg = dy + (n * g.K + grp * kg) * ohw;  // (Kg, OH*OW)
      // dW[g] (Kg, rows) (+)= dy (Kg, OHW) @ cols^T (OHW, rows); the first image assigns
      gemm<T>(kg, rows, ohw, T(1), dyg, ohw, 1, cols, 1, ohw, n == 0 ? T(0) : T(1), dw + grp * kg * rows, rows, 1);
    }
  }
}

// db (K) = sum of dy (N, K, OH, OW) over N, OH, OW (assigned).
template <class T>
void conv2d_backward_bias(const T* dy, T* db, const ConvGeometry& g) {
  const int64_t ohw = g.col_cols();
#pragma omp parallel for num_threads(threads_for(g.N * g.K * ohw)) schedule(static)
  for (int64_t k = 0; k < g.K; ++k) {
    double acc = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      const T* row = dy + (n * g.K + k) * ohw;
      for (int64_t i = 0; i < ohw; ++i) acc += double(row[i]);
    }
    db[k] = T(acc);
  }
}

}  // namespace packd::cpu
