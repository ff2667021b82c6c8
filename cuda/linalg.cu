// Matrix products on cuBLAS; the only TU that calls it (packd/cuda/cublas.cuh).
//
// cuBLAS is column-major, packd row-major with any strides. A matrix stored row-major with row
// stride ld is, read by cuBLAS, the column-major transpose with leading dimension ld, so each
// operand is classified (blas_layout): row-major (unit column stride), column-major (unit row
// stride), or neither (a broadcast or doubly strided view), which is copied to a contiguous
// buffer first. A row-major C (the usual case: every product packd makes writes a fresh tensor)
// is computed as C^T = B^T A^T, a column-major C as C = A B; each operand enters as stored
// (CUBLAS_OP_N) or transposed (CUBLAS_OP_T) to match. A C of neither layout is computed in a
// contiguous buffer and copied back.
#include <climits>
#include <optional>
#include <type_traits>

#include "packd/backend/cuda/elementwise.hpp"
#include "packd/backend/cuda/linalg.hpp"
#include "packd/cuda/cublas.cuh"

namespace packd::cuda {

namespace {

// How cuBLAS reads a (rows, cols) matrix in place.
struct Layout {
  bool row_major = true;  // else column-major
  int64_t ld = 1;         // the leading dimension: the stride between rows (row-major) or columns
};

// The in-place layout of a (rows, cols) matrix with strides (rs, cs), if any: one stride 1 and the
// other a valid leading dimension (at least the extent of the unit-stride dimension). The stride
// of a size-1 dimension is never used, so it may be anything. rows, cols >= 1.
std::optional<Layout> blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) return Layout{true, rows == 1 ? cols : rs};
  if ((rows == 1 || rs == 1) && (cols == 1 || cs >= rows)) return Layout{false, cols == 1 ? rows : cs};
  return std::nullopt;
}

// An operand as cuBLAS reads it.
template <class T>
struct BlasOperand {
  const T* p;
  Layout layout;
  int64_t bs;  // batch stride
};

// x (batch, rows, cols) with strides (bs, rs, cs) in place when its layout allows, else copied
// into `scratch` as contiguous row-major matrices.
template <class T>
BlasOperand<T> blas_operand(int64_t batch, int64_t rows, int64_t cols, const T* x, int64_t rs, int64_t cs, int64_t bs,
                            std::optional<DeviceBuffer<T>>& scratch) {
  if (const std::optional<Layout> l = blas_layout(rows, cols, rs, cs)) return {x, *l, batch == 1 ? 0 : bs};
  scratch.emplace(std::size_t(batch * rows * cols));
  T* dense = scratch->get();  // (batch, rows, cols)
  copy_kernel<T, T>(dense, Shape{batch, rows, cols}, Shape{rows * cols, cols, 1}, x, Shape{bs, rs, cs});
  return {dense, Layout{true, cols}, rows * cols};
}

cublasOperation_t blas_op(bool as_stored) { return as_stored ? CUBLAS_OP_N : CUBLAS_OP_T; }

// One (strided-batched) cuBLAS GEMM, column-major: C (m, n) = alpha op(A) op(B) + beta C.
template <class T>
void blas_gemm(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
               int64_t lda, int64_t sa, const T* b, int64_t ldb, int64_t sb, T beta, T* c, int64_t ldc, int64_t sc,
               int64_t batch) {
  for (const int64_t v : {m, n, k, lda, ldb, ldc, batch})
    PACKD_CHECK(v <= INT_MAX, "gemm: a size or leading dimension of ", v, " exceeds cuBLAS's 32-bit limit (m=", m,
                " n=", n, " k=", k, " batch=", batch, ")");
  cublasHandle_t h = cublas_handle();
  const int im = int(m), in = int(n), ik = int(k), ilda = int(lda), ildb = int(ldb), ildc = int(ldc);
  if constexpr (std::is_same_v<T, float>) {
    if (batch == 1)
      PACKD_CUBLAS_CHECK(cublasSgemm(h, ta, tb, im, in, ik, &alpha, a, ilda, b, ildb, &beta, c, ildc));
    else
      PACKD_CUBLAS_CHECK(cublasSgemmStridedBatched(h, ta, tb, im, in, ik, &alpha, a, ilda, sa, b, ildb, sb, &beta, c,
                                                   ildc, sc, int(batch)));
  } else {
    if (batch == 1)
      PACKD_CUBLAS_CHECK(cublasDgemm(h, ta, tb, im, in, ik, &alpha, a, ilda, b, ildb, &beta, c, ildc));
    else
      PACKD_CUBLAS_CHECK(cublasDgemmStridedBatched(h, ta, tb, im, in, ik, &alpha, a, ilda, sa, b, ildb, sb, &beta, c,
                                                   ildc, sc, int(batch)));
  }
}

}  // namespace

template <class T>
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t rs_a, int64_t cs_a,
                  int64_t bs_a, const T* b, int64_t rs_b, int64_t cs_b, int64_t bs_b, T beta, T* c, int64_t rs_c,
                  int64_t cs_c, int64_t bs_c) {
  if constexpr (!std::is_same_v<T, float> && !std::is_same_v<T, double>) {
    PACKD_CHECK(false, "gemm: no CUDA kernel for integer matrix products (", M, "x", K, " @ ", K, "x", N,
                "); use float or double, or move the tensors to the CPU");
  } else {
    PACKD_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
    PACKD_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
    if (batch == 0 || M == 0 || N == 0) return;
    if (K == 0) {  // an empty sum: C = beta * C (beta == 0 writes zeros without reading C, as BLAS)
      const int64_t mn = M * N;
      for_each_index(batch * mn, [=] __device__(int64_t i) {
        const int64_t p = i / mn, r = i % mn / N, col = i % N;
        T& x = c[p * bs_c + r * rs_c + col * cs_c];
        x = beta == T(0) ? T(0) : T(beta * x);
      });
      return;
    }
    std::optional<DeviceBuffer<T>> scratch_a, scratch_b, scratch_c;
    const BlasOperand<T> A = blas_operand(batch, M, K, a, rs_a, cs_a, bs_a, scratch_a);  // (batch, M, K)
    const BlasOperand<T> B = blas_operand(batch, K, N, b, rs_b, cs_b, bs_b, scratch_b);  // (batch, K, N)
    T* cp = c;  // (batch, M, N), where cuBLAS writes
    int64_t bsc = batch == 1 ? 0 : bs_c;
    Layout lc;
    if (const std::optional<Layout> l = blas_layout(M, N, rs_c, cs_c)) {
      lc = *l;
    } else {
      scratch_c.emplace(std::size_t(batch * M * N));
      cp = scratch_c->get();
      lc = Layout{true, N};
      bsc = M * N;
      if (beta != T(0)) copy_kernel<T, T>(cp, Shape{batch, M, N}, Shape{M * N, N, 1}, c, Shape{bs_c, rs_c, cs_c});
    }
    if (lc.row_major)  // C^T (N, M) = B^T (N, K) A^T (K, M): a row-major operand is its transpose as stored
      blas_gemm<T>(blas_op(B.layout.row_major), blas_op(A.layout.row_major), N, M, K, alpha, B.p, B.layout.ld, B.bs, A.p,
                   A.layout.ld, A.bs, beta, cp, lc.ld, bsc, batch);
    else  // C (M, N) = A (M, K) B (K, N): a column-major operand is itself as stored
      blas_gemm<T>(blas_op(!A.layout.row_major), blas_op(!B.layout.row_major), M, N, K, alpha, A.p, A.layout.ld, A.bs,
                   B.p, B.layout.ld, B.bs, beta, cp, lc.ld, bsc, batch);
    if (scratch_c) copy_kernel<T, T>(c, Shape{batch, M, N}, Shape{bs_c, rs_c, cs_c}, cp, Shape{M * N, N, 1});
  }
}

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t rs_a, int64_t cs_a, const T* b, int64_t rs_b,
          int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c) {
  gemm_batched<T>(1, M, N, K, alpha, a, rs_a, cs_a, 0, b, rs_b, cs_b, 0, beta, c, rs_c, cs_c, 0);
}

#define PACKD_INSTANTIATE(T)                                                                                          \
  template void gemm<T>(int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t, const T*, int64_t, int64_t, T, T*, \
                        int64_t, int64_t);                                                                            \
  template void gemm_batched<T>(int64_t, int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t, int64_t, const T*, \
                                int64_t, int64_t, int64_t, T, T*, int64_t, int64_t, int64_t);
PACKD_INSTANTIATE(float)
PACKD_INSTANTIATE(double)
PACKD_INSTANTIATE(int64_t)

}  // namespace packd::cuda
