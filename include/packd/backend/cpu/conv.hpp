#pragma once
// CPU convolution kernels: conv2d forward, backward-to-input, backward-to-weight, bias gradient.
// conv_transpose2d uses the same three kernels with the roles of input and output swapped
// (ops/conv.hpp), so this file holds every convolution algorithm packd has.
//
// Algorithm: implicit GEMM. With cols = im2col(x[n, g]), the (Cg*KH*KW, OH*OW) matrix whose
// column j is the receptive field of output pixel j, a convolution is three matrix products:
//   forward          y[n,g]  = W[g] @ cols                  W[g]: (Kg, Cg*KH*KW), the weight as a matrix
//   backward-input   dcols   = W[g]^T @ dy[n,g];  dx[n,g] = col2im(dcols)
//   backward-weight  dW[g]   = sum_n dy[n,g] @ cols^T
// cols is never built (for a 3x3 conv it is 9x the image: 37.7 MB per image for 256 channels at
// 64x64, so building it made the convolution memory-bound). The packed GEMM (gemm.hpp) copies
// every operand block into its panel layout anyway; here that copy reads straight from the NCHW
// image (Im2colPixelsOperand, Im2colRowsOperand below): "im2col fused into the packing".
//
// Where each product lives:
//   conv2d_forward          per image and group, C = y[n,g]^T (OH*OW x Kg): the driver's A is
//                           cols^T packed from x in 32-pixel panels (for stride 1 these are shifted
//                           contiguous runs of an input row, zero at the borders), its B is W[g]^T.
//   conv2d_backward_input   stride 1: dx is itself a stride-1 convolution of dy with the weight
//                           flipped in (kh, kw) and transposed in (K, C), padding dh*(KH-1)-ph, so it
//                           is conv2d_forward again (no col2im). Other strides: per image GEMM into
//                           a dcols buffer + col2im; when the kernel tiles the input exactly
//                           (kernel == stride, no padding / dilation, e.g. k2 s2) col2im is a plain
//                           scatter without zero fill.
//   conv2d_backward_weight  one GEMM per group whose inner dimension runs over all images and
//                           pixels (N*OH*OW), so the images accumulate inside the GEMM's K loop;
//                           A = cols packed from x (rows (c,kh,kw) x pixels: a transpose, 4x4 SSE
//                           blocks for stride 1 and 2), B = dy^T.
// 1x1 convolutions with stride 1 and no padding ("direct") need no im2col at all: the image is
// the matrix, and forward / backward-input are one single-threaded GEMM per image, the threads
// taking images from a counter (images_gemm; the products are small, 256x256x1024 in WideResNet).
// Otherwise the GEMM is parallel inside (dynamic work sharing), so the loops over images are
// sequential, and the steps between GEMMs (col2im, bias gradient) run on the worker pool
// (pool_for), not in OpenMP regions whose spinning threads would slow the next GEMM.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "packd/backend/conv_geometry.hpp"
#include "packd/backend/cpu/gemm.hpp"

namespace packd::cpu {

using packd::ConvGeometry;  // packd/backend/conv_geometry.hpp, shared with the CUDA backend

namespace detail {

// Where row r = (c, kh, kw) of cols reads the image: x[c, oh*sh + hoff, ow*sw + woff].
struct ColsRow {
  int64_t xoff, hoff, woff;  // xoff = c*H*W (the channel plane), hoff = kh*dh - ph, woff = kw*dw - pw
};

// The ColsRow of rows [r0, r0 + n) in a per-thread table (the divisions once per packed block).
inline const ColsRow* cols_rows(const ConvGeometry& g, int64_t r0, int64_t n) {
  static thread_local std::vector<ColsRow> tab;
  tab.resize(std::size_t(n));
  const int64_t khw = g.KH * g.KW;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = r0 + i, c = r / khw, kh = r % khw / g.KW, kw = r % g.KW;
    tab[std::size_t(i)] = ColsRow{c * g.H * g.W, kh * g.dh - g.ph, kw * g.dw - g.pw};
  }
  return tab.data();
}

#if defined(__SSE2__)
// x[off + sw*t] for t = 0..3, sw 1 or 2 (reads p[0..3], or p[0..7] for sw 2).
inline __m128 load4_strided(const float* p, int64_t sw) {
  if (sw == 1) return _mm_loadu_ps(p);
  return _mm_shuffle_ps(_mm_loadu_ps(p), _mm_loadu_ps(p + 4), _MM_SHUFFLE(2, 0, 2, 0));
}
#endif

// floor(a / b) for b > 0
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// One row of cols restricted to output row oh, columns [ow0, ow0+len): the values
// x[c, oh*sh + hoff, ow*sw + woff] (zero outside the image) to d[t*step], t < len. xc: (H, W).
template <class T>
inline void im2col_run(const ConvGeometry& g, const T* xc, const ColsRow& k, int64_t oh, int64_t ow0, int64_t len,
                       T alpha, T* d, int64_t step) {
  const int64_t ih = oh * g.sh + k.hoff;
  if (ih < 0 || ih >= g.H) {
    for (int64_t t = 0; t < len; ++t) d[t * step] = T(0);
    return;
  }
  const T* xrow = xc + ih * g.W;
  const int64_t off = ow0 * g.sw + k.woff;  // iw = t*sw + off
  if (g.sw == 1) {
    const int64_t lo = std::clamp<int64_t>(-off, 0, len), hi = std::clamp<int64_t>(g.W - off, lo, len);
    if (step == 1 && alpha == T(1)) {  // glibc's memcpy uses the CPU's widest vectors
      std::fill_n(d, lo, T(0));
      std::memcpy(d + lo, xrow + lo + off, sizeof(T) * std::size_t(hi - lo));
      std::fill_n(d + hi, len - hi, T(0));
      return;
    }
    for (int64_t t = 0; t < lo; ++t) d[t * step] = T(0);
    for (int64_t t = lo; t < hi; ++t) d[t * step] = alpha * xrow[t + off];
    for (int64_t t = hi; t < len; ++t) d[t * step] = T(0);
  } else {
    for (int64_t t = 0; t < len; ++t) {
      const int64_t iw = t * g.sw + off;
      d[t * step] = iw >= 0 && iw < g.W ? alpha * xrow[iw] : T(0);
    }
  }
}

// The GEMM operand cols^T (OH*OW x Cg*KH*KW) of one image and group, x: (Cg, H, W). Used as the
// driver's A (MR-pixel panels): for each k = (c, kh, kw) a panel holds MR consecutive output
// pixels, i.e. runs of an output row: for stride 1 shifted contiguous runs of an input row.
template <class T>
struct Im2colPixelsOperand {
  const T* x;
  ConvGeometry g;

  template <int64_t MR>
  void pack_a_block(int64_t i0, int64_t p0, int64_t mc, int64_t kc, T alpha, T* dst) const {
    // Cut the pixels [i0, i0+mc) into runs that stay in one output row and one panel; the same
    // runs serve every k.
    struct Run {
      int64_t oh, ow0, len, dst_off;  // dst_off: panel*MR*kc + slot
    };
    static thread_local std::vector<Run> runs;
    runs.clear();
    for (int64_t m = 0; m < mc;) {
      const int64_t pix = i0 + m, slot = m % MR;
      const int64_t oh = pix / g.OW, ow0 = pix % g.OW;
      const int64_t len = std::min({mc - m, g.OW - ow0, MR - slot});
      runs.push_back(Run{oh, ow0, len, m / MR * MR * kc + slot});
      m += len;
    }
    const int64_t tail = mc % MR, last = (mc - 1) / MR * MR * kc;  // zero rows of the last panel
    const ColsRow* rows = cols_rows(g, p0, kc);
    for (int64_t p = 0; p < kc; ++p) {
      const ColsRow& k = rows[p];
      const T* xc = x + k.xoff;
      T* dp = dst + p * MR;
      for (const Run& run : runs) {
        const int64_t ih = run.oh * g.sh + k.hoff, iw0 = run.ow0 * g.sw + k.woff;
        if (g.sw == 1 && alpha == T(1) && ih >= 0 && ih < g.H && iw0 >= 0 && iw0 + run.len <= g.W) {
          const T* s = xc + ih * g.W + iw0;  // the bulk: a whole run inside the image
          if (run.len == MR)
            std::memcpy(dp + run.dst_off, s, sizeof(T) * MR);
          else
            std::memcpy(dp + run.dst_off, s, sizeof(T) * std::size_t(run.len));
#if defined(__SSE2__)
        } else if (std::is_same_v<T, float> && g.sw == 2 && ih >= 0 && ih < g.H && iw0 >= 0 &&
                   iw0 + 2 * run.len <= g.W + 1) {  // stride 2 (e.g. k2 s2): even lanes of two loads
          const T* s = xc + ih * g.W + iw0;
          T* d = dp + run.dst_off;
          int64_t t = 0;
          if constexpr (std::is_same_v<T, float>) {
            const __m128 va = _mm_set1_ps(alpha);
            for (; t + 4 <= run.len && iw0 + 2 * t + 8 <= g.W; t += 4)
              _mm_storeu_ps(d + t, _mm_mul_ps(va, load4_strided(s + 2 * t, 2)));
          }
          for (; t < run.len; ++t) d[t] = alpha * s[2 * t];
#endif
        } else {
          im2col_run(g, xc, k, run.oh, run.ow0, run.len, alpha, dp + run.dst_off, 1);
        }
      }
      if (tail != 0) std::fill_n(dst + last + p * MR + tail, MR - tail, T(0));
    }
  }
};

// The GEMM operand cols (Cg*KH*KW x N*OH*OW) of group grp over all images, x: (N, C, H, W): the
// inner dimension q = n*OH*OW + pixel runs over every image. Used as the driver's A (MR-row
// panels of (c, kh, kw)): each row's run of pixels is written with stride MR (a transpose).
template <class T>
struct Im2colRowsOperand {
  const T* x;
  ConvGeometry g;
  int64_t grp;

  // Stride 1 or 2: rows k[0..3] over pixels [ow0, ow0+len) of output row oh into d[t*step + i],
  // i < 4. Where all four rows are inside the image (the bulk), 4x4 SSE transposes; the borders go
  // through im2col_run.
  void pack_rows4(const T* xn, const ColsRow* k, int64_t oh, int64_t ow0, int64_t len, T alpha, T* d,
                  int64_t step) const {
    const int64_t sw = g.sw;
    const T* rowp[4];
    int64_t off[4], lo = 0, hi = len;
    for (int64_t i = 0; i < 4; ++i) {
      const int64_t ih = oh * g.sh + k[i].hoff;
      off[i] = ow0 * sw + k[i].woff;  // iw = sw*t + off; a vector of 4 reads iw .. iw + 4*sw - 1
      rowp[i] = xn + k[i].xoff + std::clamp<int64_t>(ih, 0, g.H - 1) * g.W;
      if (ih < 0 || ih >= g.H) hi = 0;
      lo = std::max(lo, std::clamp<int64_t>(-floor_div(off[i], sw), 0, len));            // iw >= 0
      hi = std::min(hi, std::clamp<int64_t>(floor_div(g.W - sw - off[i], sw) + 1, 0, len));  // iw + sw-1 < W
    }
    if (hi - lo < 4) lo = hi = 0;
    for (int64_t i = 0; i < 4; ++i) {  // the borders [0, lo) and [hi, len)
      im2col_run(g, xn + k[i].xoff, k[i], oh, ow0, lo, alpha, d + i, step);
      im2col_run(g, xn + k[i].xoff, k[i], oh, ow0 + hi, len - hi, alpha, d + hi * step + i, step);
    }
    int64_t t = lo;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>) {
      const __m128 va = _mm_set1_ps(alpha);
      for (; t + 4 <= hi; t += 4) {
        __m128 r0 = load4_strided(rowp[0] + sw * t + off[0], sw), r1 = load4_strided(rowp[1] + sw * t + off[1], sw);
        __m128 r2 = load4_strided(rowp[2] + sw * t + off[2], sw), r3 = load4_strided(rowp[3] + sw * t + off[3], sw);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        T* o = d + t * step;
        _mm_storeu_ps(o, _mm_mul_ps(va, r0));
        _mm_storeu_ps(o + step, _mm_mul_ps(va, r1));
        _mm_storeu_ps(o + 2 * step, _mm_mul_ps(va, r2));
        _mm_storeu_ps(o + 3 * step, _mm_mul_ps(va, r3));
      }
    }
#endif
    for (; t < hi; ++t)
      for (int64_t i = 0; i < 4; ++i) d[t * step + i] = alpha * rowp[i][sw * t + off[i]];
  }

  template <int64_t MR>
  void pack_a_block(int64_t i0, int64_t p0, int64_t mc, int64_t kc, T alpha, T* dst) const {
    const int64_t ohw = g.OH * g.OW, hw = g.H * g.W;
    const ColsRow* rows = cols_rows(g, i0, mc);
    for (int64_t r0 = 0; r0 < mc; r0 += MR, dst += MR * kc) {  // one panel: rows i0+r0 ..
      const int64_t mr = std::min(MR, mc - r0);
      for (int64_t q = p0; q < p0 + kc;) {
        const int64_t n = q / ohw, pix = q % ohw;
        const T* xn = x + (n * g.C + grp * g.Cg()) * hw;  // (Cg, H, W)
        T* d = dst + (q - p0) * MR;
        int64_t len;
        if (g.direct()) {  // rows are channels, pixels contiguous: a plain transpose
          len = std::min(p0 + kc - q, ohw - pix);
          pack_transpose<T, MR>(mr, len, xn + (i0 + r0) * hw + pix, hw, alpha, d);
        } else {  // one output row at a time
          const int64_t oh = pix / g.OW, ow0 = pix % g.OW;
          len = std::min(p0 + kc - q, g.OW - ow0);
          int64_t i = 0;
          if constexpr (std::is_same_v<T, float> && MR % 4 == 0)
            if (g.sw <= 2)
              for (; i + 4 <= mr; i += 4) pack_rows4(xn, rows + r0 + i, oh, ow0, len, alpha, d + i, MR);
          for (; i < mr; ++i) im2col_run(g, xn + rows[r0 + i].xoff, rows[r0 + i], oh, ow0, len, alpha, d + i, MR);
          for (int64_t t = 0; t < len; ++t)
            for (int64_t z = mr; z < MR; ++z) d[t * MR + z] = T(0);
        }
        q += len;
      }
    }
  }
};

// The GEMM operand dy^T (N*OH*OW x Kg) of group grp over all images, dy: (N, K, OH, OW). Used as
// the driver's B (NR-channel panels); within one image it is a strided matrix (a transpose).
template <class T>
struct ImagesTransposedOperand {
  const T* dy;
  ConvGeometry g;
  int64_t grp;

  template <int64_t NR>
  void pack_b_panels(int64_t p0, int64_t j0, int64_t kc, int64_t nc, int64_t q0, int64_t q1, T* dst) const {
    const int64_t ohw = g.OH * g.OW;
    for (int64_t qp = q0; qp < q1; ++qp) {
      const int64_t j = j0 + qp * NR, nr = std::min(NR, nc - qp * NR);
      T* d = dst + qp * NR * kc;
      for (int64_t q = p0; q < p0 + kc;) {
        const int64_t n = q / ohw, pix = q % ohw, len = std::min(p0 + kc - q, ohw - pix);
        const T* src = dy + (n * g.K + grp * g.Kg() + j) * ohw + pix;  // (nr channels, len pixels), row stride ohw
        pack_transpose<T, NR>(nr, len, src, ohw, T(1), d + (q - p0) * NR);
        q += len;
      }
    }
  }
};

}  // namespace detail

// x (Cg, H, W) = col2im(cols) (accumulate == false: assigned, only when g.tiles(); true: added),
// cols (Cg*KH*KW, OH*OW). The adjoint of im2col. Parallel over channels (on the GEMM's worker
// pool, see pool_for), so no two threads write the same element.
template <class T>
void col2im(const T* cols, const ConvGeometry& g, T* x, bool accumulate) {
  const int64_t ohw = g.col_cols();
  const int nthreads = detail::gemm_threads(g.col_rows(), ohw, 16);
  detail::pool_for(g.Cg(), nthreads, [&](int64_t c) {
    T* xc = x + c * g.H * g.W;  // (H, W)
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* in = cols + ((c * g.KH + kh) * g.KW + kw) * ohw;  // (OH, OW)
        const int64_t off = kw * g.dw - g.pw;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          T* xrow = xc + ih * g.W;
          const T* irow = in + oh * g.OW;
          if (!accumulate) {  // g.tiles(): every iw = ow*sw + kw is in range and written once
            for (int64_t ow = 0; ow < g.OW; ++ow) xrow[ow * g.sw + off] = irow[ow];
          } else if (g.sw == 1) {
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
  });
}

// c[n] (M, N) row-major = a[n] @ b[n] for the images n < batch (operand n at base + n*bs): the
// 1x1 convolutions. With at least as many images as threads, each image is one single-threaded
// GEMM and the threads take images from a counter (no synchronisation inside the products, which
// are small: 256x256x1024 for WideResNet's 1x1 reductions); otherwise one threaded GEMM per image.
template <class T>
void images_gemm(int64_t batch, int64_t M, int64_t N, int64_t K, const T* a, int64_t rs_a, int64_t cs_a, int64_t bs_a,
                 const T* b, int64_t rs_b, int64_t cs_b, int64_t bs_b, T* c, int64_t bs_c) {
  const int threads = detail::gemm_threads(M, N, K * batch);
  if (batch >= threads && threads > 1) {
    detail::pool_for(batch, threads, [&](int64_t n) {
      detail::gemm_impl<T>(M, N, K, T(1), a + n * bs_a, rs_a, cs_a, b + n * bs_b, rs_b, cs_b, T(0), c + n * bs_c, N, 1, 1);
    });
    return;
  }
  gemm_batched<T>(batch, M, N, K, T(1), a, rs_a, cs_a, bs_a, b, rs_b, cs_b, bs_b, T(0), c, N, 1, bs_c);
}

// y (N, K, OH, OW) = conv2d(x (N, C, H, W), w (K, Cg, KH, KW)) + bias (K) (bias may be null).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g) {
  const int64_t rows = g.col_rows(), ohw = g.col_cols(), kg = g.Kg(), chw = g.C * g.H * g.W;
  std::vector<T> wt(g.direct() && g.N > 1 ? std::size_t(rows * kg) : 0);  // (Cg, Kg): W[g]^T
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    const T* wg = w + grp * kg * rows;  // (Kg, rows)
    if (g.direct()) {
      // y[n,g] (Kg, HW) = W[g] (Kg, Cg) @ x[n,g] (Cg, HW) for every image (images_gemm). The GEMM packs
      // W[g]^T for every image; stored transposed once here, that packing is a copy.
      int64_t rs_w = rows, cs_w = 1;
      if (!wt.empty()) {
        for (int64_t c0 = 0; c0 < rows; c0 += 16)  // 16 source columns at a time: both sides stay in L1
          for (int64_t k = 0; k < kg; ++k)
            for (int64_t c = c0; c < std::min(rows, c0 + 16); ++c) wt[std::size_t(c * kg + k)] = wg[k * rows + c];
        wg = wt.data(), rs_w = 1, cs_w = kg;
      }
      images_gemm<T>(g.N, kg, ohw, rows, wg, rs_w, cs_w, 0, x + grp * rows * ohw, ohw, 1, chw, y + grp * kg * ohw,
                     g.K * ohw);
      continue;
    }
    for (int64_t n = 0; n < g.N; ++n) {
      // y[n,g]^T (OH*OW, Kg), column-major = y[n,g] (Kg, OH*OW) = (cols^T @ W[g]^T)
      const T* xg = x + n * chw + grp * g.Cg() * g.H * g.W;  // (Cg, H, W)
      T* yg = y + (n * g.K + grp * kg) * ohw;                 // (Kg, OH*OW)
      detail::gemm_packed<T>(ohw, kg, rows, T(1), detail::Im2colPixelsOperand<T>{xg, g},
                             detail::StridedOperand<T>{wg, 1, rows}, T(0), yg, 1, ohw,
                             detail::gemm_threads(ohw, kg, rows));
    }
  }
  if (bias) {
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t k = 0; k < g.K; ++k) {
        T* row = y + (n * g.K + k) * ohw;  // (OH*OW)
        const T b = bias[k];
        for (int64_t i = 0; i < ohw; ++i) row[i] += b;
      }
  }
}

// dx (N, C, H, W) = the gradient of conv2d with respect to its input (assigned, not added).
template <class T>
void conv2d_backward_input(const T* dy, const T* w, T* dx, const ConvGeometry& g) {
  const int64_t rows = g.col_rows(), ohw = g.col_cols(), kg = g.Kg(), cg = g.Cg(), khw = g.KH * g.KW;
  if (g.direct()) {  // dx[n,g] (Cg, HW) = W[g]^T (Cg, Kg) @ dy[n,g] (Kg, HW) for every image
    for (int64_t grp = 0; grp < g.groups; ++grp)
      images_gemm<T>(g.N, cg, ohw, kg, w + grp * kg * rows, 1, rows, 0, dy + grp * kg * ohw, ohw, 1, g.K * ohw,
                     dx + grp * cg * ohw, g.C * ohw);
    return;
  }
  if (g.sh == 1 && g.sw == 1) {
    // dx = conv2d(dy, wf) with wf[g*Cg + c, k, kh, kw] = w[g*Kg + k, c, KH-1-kh, KW-1-kw]
    // (C, Kg, KH, KW): the flipped, transposed weight; padding dh*(KH-1) - ph, stride 1.
    std::vector<T> wf(std::size_t(g.C * kg * khw));
    for (int64_t grp = 0; grp < g.groups; ++grp)
      for (int64_t k = 0; k < kg; ++k)
        for (int64_t c = 0; c < cg; ++c) {
          const T* src = w + ((grp * kg + k) * cg + c) * khw;  // (KH, KW)
          T* d = wf.data() + ((grp * cg + c) * kg + k) * khw;  // (KH, KW), flipped
          for (int64_t i = 0; i < khw; ++i) d[i] = src[khw - 1 - i];
        }
    ConvGeometry gt = g;
    gt.C = g.K, gt.H = g.OH, gt.W = g.OW;
    gt.K = g.C, gt.OH = g.H, gt.OW = g.W;
    gt.ph = g.dh * (g.KH - 1) - g.ph, gt.pw = g.dw * (g.KW - 1) - g.pw;
    conv2d_forward<T>(dy, wf.data(), nullptr, dx, gt);
    return;
  }
  // Strided: dcols (rows, OH*OW) = W[g]^T @ dy[n,g], then col2im.
  std::vector<T> dcols(std::size_t(rows * ohw));
  const bool tiles = g.tiles();
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* dyg = dy + (n * g.K + grp * kg) * ohw;           // (Kg, OH*OW)
      const T* wg = w + grp * kg * rows;                        // (Kg, rows)
      T* dxg = dx + (n * g.C + grp * cg) * g.H * g.W;           // (Cg, H, W)
      gemm<T>(rows, ohw, kg, T(1), wg, 1, rows, dyg, ohw, 1, T(0), dcols.data(), ohw, 1);
      if (!tiles) std::fill_n(dxg, cg * g.H * g.W, T(0));
      col2im(dcols.data(), g, dxg, !tiles);
    }
  }
}

// dw (K, Cg, KH, KW) = the gradient of conv2d with respect to its weight (assigned).
template <class T>
void conv2d_backward_weight(const T* dy, const T* x, T* dw, const ConvGeometry& g) {
  const int64_t rows = g.col_rows(), kg = g.Kg(), nq = g.N * g.col_cols();
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    // dW[g]^T (rows, Kg), column-major = dW[g] (Kg, rows) = (cols (rows, N*OHW) @ dy^T (N*OHW, Kg))
    detail::gemm_packed<T>(rows, kg, nq, T(1), detail::Im2colRowsOperand<T>{x, g, grp},
                           detail::ImagesTransposedOperand<T>{dy, g, grp}, T(0), dw + grp * kg * rows, 1, rows,
                           detail::gemm_threads(rows, kg, nq));
  }
}

// db (K) = sum of dy (N, K, OH, OW) over N, OH, OW (assigned).
template <class T>
void conv2d_backward_bias(const T* dy, T* db, const ConvGeometry& g) {
  const int64_t ohw = g.col_cols();
  detail::pool_for(g.K, detail::gemm_threads(g.K, g.N * ohw, 16), [&](int64_t k) {
    double acc = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      const T* row = dy + (n * g.K + k) * ohw;  // (OH*OW)
      for (int64_t i = 0; i < ohw; ++i) acc += double(row[i]);
    }
    db[k] = T(acc);
  });
}

}  // namespace packd::cpu
