#pragma once
// The geometry of a 2-D convolution, shared by the CPU kernels (packd/backend/cpu/conv.hpp) and
// the CUDA entry points (packd/backend/cuda/conv.hpp). A plain header: nvcc compiles it too.
#include <cstdint>

namespace packd {

// Shapes of a 2-D convolution y = conv2d(x, w): x (N, C, H, W), w (K, C/groups, KH, KW),
// y (N, K, OH, OW). Padding may be negative for the internal flipped convolution of
// conv2d_backward_input (it then crops).
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
  // every input pixel is in exactly one window (kernel == stride, e.g. k2 s2): col2im is a scatter
  bool tiles() const {
    return KH == sh && KW == sw && dh == 1 && dw == 1 && ph == 0 && pw == 0 && H == OH * sh && W == OW * sw;
  }
};

}  // namespace packd
