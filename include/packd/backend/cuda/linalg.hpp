#pragma once
// CUDA matrix products on cuBLAS (cuda/linalg.cu): the declarations ops/linalg.hpp calls through
// backend::dispatch, with the arguments of cpu::gemm / cpu::gemm_batched (backend/cpu/gemm.hpp).
// Operands may have any strides (transposed views included); a row- or column-major operand is
// handed to cuBLAS in place, any other layout is first copied to a contiguous buffer.
// Instantiated for float and double; int64_t throws packd::Error (no integer GEMM on CUDA).
#include <cstdint>

namespace packd::cuda {

// C (M, N) = alpha * A (M, K) @ B (K, N) + beta * C; element (i, j) of X at x[i * rs_x + j * cs_x].
// beta == 0 never reads C (NaN in C is ignored, as BLAS).
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t rs_a, int64_t cs_a, const T* b, int64_t rs_b,
          int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c);

// gemm for each of `batch` matrix triples, operand n at x + n * bs_x (bs_x may be 0: one operand
// shared by every product).
template <class T>
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t rs_a, int64_t cs_a,
                  int64_t bs_a, const T* b, int64_t rs_b, int64_t cs_b, int64_t bs_b, T beta, T* c, int64_t rs_c,
                  int64_t cs_c, int64_t bs_c);

}  // namespace packd::cuda
