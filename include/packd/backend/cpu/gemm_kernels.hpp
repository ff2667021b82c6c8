#pragma once
// Private header of packd/backend/cpu/gemm.hpp: the register-tiled micro-kernels.
//
// Every micro-kernel computes one MR x NR tile of C from packed operands:
//   acc = sum_{p<k} a[p*MR + i] * b[p*NR + j]        (a: MR-row panel, b: NR-column panel, both packed)
//   C(i,j) = acc (beta == 0, C is not read) | C(i,j) + acc (beta == 1) | beta*C(i,j) + acc (otherwise)
// with C column-major inside the tile: C(i,j) at c[i + j*ldc]. alpha is folded into the packed A.
// The packed panels are zero-padded to full MR / NR, so a kernel always computes a full tile; the
// driver routes partial tiles through a scratch tile.
//
// The SIMD kernels use GCC's __attribute__((target(...))) so this header compiles without any -m
// flags; the driver only calls them after a run-time CPU check. Vectors run along M (the packed A
// panel is MR contiguous values per k), B values are broadcast, so each k step costs MR/W vector
// loads + NR broadcasts for (MR/W)*NR FMAs.
#include <cstdint>

// -DPACKD_GEMM_ISA=generic compiles no AVX code at all (see gemm.hpp).
#define PACKD_GEMM_ISA_ID_generic 1
#define PACKD_GEMM_ISA_ID_avx2 2
#define PACKD_GEMM_ISA_ID_avx512 3
#define PACKD_GEMM_ISA_CAT_(a, b) a##b
#define PACKD_GEMM_ISA_CAT(a, b) PACKD_GEMM_ISA_CAT_(a, b)
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>  // SSE2 (baseline) is used by the packing routines even in the generic path
#if defined(PACKD_GEMM_ISA) && PACKD_GEMM_ISA_CAT(PACKD_GEMM_ISA_ID_, PACKD_GEMM_ISA) == 1
#define PACKD_GEMM_HAVE_X86 0
#else
#define PACKD_GEMM_HAVE_X86 1
#endif
#else
#define PACKD_GEMM_HAVE_X86 0
#endif

namespace packd::cpu::detail {

// ---- portable kernel: plain loops the compiler can vectorise for the baseline ISA ----------------
template <class T, int MR, int NR>
inline void ukr_generic(int64_t k, const T* a, const T* b, T* c, int64_t ldc, T beta) {
  T acc[NR][MR] = {};
  for (int64_t p = 0; p < k; ++p) {
    for (int j = 0; j < NR; ++j) {
      const T bj = b[j];
      for (int i = 0; i < MR; ++i) acc[j][i] += a[i] * bj;
    }
    a += MR;
    b += NR;
  }
  for (int j = 0; j < NR; ++j) {
    T* cj = c + j * ldc;
    if (beta == T(0)) {
      for (int i = 0; i < MR; ++i) cj[i] = acc[j][i];
    } else if (beta == T(1)) {
      for (int i = 0; i < MR; ++i) cj[i] += acc[j][i];
    } else {
      for (int i = 0; i < MR; ++i) cj[i] = beta * cj[i] + acc[j][i];
    }
  }
}

#if PACKD_GEMM_HAVE_X86

// The kernels below are written once as a macro over the vector type, so float/double and
// AVX-512/AVX2 share one design. Accumulators live in acc[NR][MR/W]; '#pragma GCC unroll' fully
// unrolls the tiny loops so GCC keeps all of them in registers (checked: no spills at -O2).
#define PACKD_GEMM_UKR_BODY(VEC, W, LOADU, STOREU, SET1, FMADD, MUL, ZERO, PREFETCH_C)        \
  constexpr int MV = MR / W;                                                                   \
  VEC acc[NR][MV];                                                                             \
  _Pragma("GCC unroll 16") for (int j = 0; j < NR; ++j) {                                      \
    _Pragma("GCC unroll 4") for (int v = 0; v < MV; ++v) acc[j][v] = ZERO();                   \
  }                                                                                            \
  /* Pull the C tile towards L1 while the k loop runs; it is needed only at the end. */        \
  if (PREFETCH_C) {                                                                            \
    const char* pc_ = reinterpret_cast<const char*>(c);                                        \
    _Pragma("GCC unroll 16") for (int j = 0; j < NR; ++j) {                                    \
      _mm_prefetch(pc_, _MM_HINT_T0);                                                          \
      _mm_prefetch(pc_ + sizeof(*c) * (MR - 1), _MM_HINT_T0);                                  \
      pc_ += sizeof(*c) * ldc;                                                                 \
    }                                                                                          \
  }                                                                                            \
  /* Opaque copies: stop GCC keeping 12 column addresses live across the k loop (it spilled */ \
  /* the A vectors to make room). */                                                           \
  __asm__ volatile("" : "+r"(c), "+r"(ldc));                                                   \
  for (int64_t p = 0; p < k; ++p) {                                                            \
    VEC av[MV];                                                                                \
    _Pragma("GCC unroll 4") for (int v = 0; v < MV; ++v) av[v] = LOADU(a + v * W);             \
    _Pragma("GCC unroll 16") for (int j = 0; j < NR; ++j) {                                    \
      const VEC bj = SET1(b[j]);                                                               \
      _Pragma("GCC unroll 4") for (int v = 0; v < MV; ++v) acc[j][v] = FMADD(av[v], bj, acc[j][v]); \
    }                                                                                          \
    a += MR;                                                                                   \
    b += NR;                                                                                   \
  }                                                                                            \
  __asm__ volatile("" : "+r"(c), "+r"(ldc));                                                   \
  if (beta == decltype(beta)(0)) {                                                             \
    _Pragma("GCC unroll 16") for (int j = 0; j < NR; ++j) {                                    \
      _Pragma("GCC unroll 4") for (int v = 0; v < MV; ++v) STOREU(c + j * ldc + v * W, acc[j][v]); \
    }                                                                                          \
  } else {                                                                                     \
    const VEC bv = SET1(beta);                                                                 \
    const bool one = beta == decltype(beta)(1);                                                \
    _Pragma("GCC unroll 16") for (int j = 0; j < NR; ++j) {                                    \
      _Pragma("GCC unroll 4") for (int v = 0; v < MV; ++v) {                                   \
        decltype(c) cp = c + j * ldc + v * W;                                                  \
        const VEC old = LOADU(cp);                                                             \
        STOREU(cp, one ? vadd(old, acc[j][v]) : FMADD(bv, old, acc[j][v]));         \
      }                                                                                        \
    }                                                                                          \
  }

// ---- AVX-512: fp32 32x12 (24 zmm accumulators), fp64 16x12 ---------------------------------------
// 32x12 is the shape BLIS uses for Skylake-X sgemm: 24 independent FMA chains cover FMA latency x
// 2 pipes with room to spare, and a k step needs 2 loads + 12 broadcasts for 24 FMAs, well within
// two load ports. 24 + 2 + a few broadcast registers fit the 32 zmm registers.

__attribute__((target("avx512f,fma"))) inline __m512 vadd(__m512 x, __m512 y) { return _mm512_add_ps(x, y); }
__attribute__((target("avx512f,fma"))) inline __m512d vadd(__m512d x, __m512d y) { return _mm512_add_pd(x, y); }
__attribute__((target("avx2,fma"))) inline __m256 vadd(__m256 x, __m256 y) { return _mm256_add_ps(x, y); }
__attribute__((target("avx2,fma"))) inline __m256d vadd(__m256d x, __m256d y) { return _mm256_add_pd(x, y); }

__attribute__((target("avx512f,fma"))) inline void ukr_avx512_f32(int64_t k, const float* a, const float* b,
                                                                   float* c, int64_t ldc, float beta) {
  constexpr int MR = 32, NR = 12;
  PACKD_GEMM_UKR_BODY(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps,
                      _mm512_mul_ps, _mm512_setzero_ps, true)
}

__attribute__((target("avx512f,fma"))) inline void ukr_avx512_f64(int64_t k, const double* a, const double* b,
                                                                   double* c, int64_t ldc, double beta) {
  constexpr int MR = 16, NR = 12;
  PACKD_GEMM_UKR_BODY(__m512d, 8, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd,
                      _mm512_mul_pd, _mm512_setzero_pd, true)
}

// ---- AVX2 + FMA: fp32 16x6, fp64 8x6 (12 ymm accumulators of 16) -----------------------------------
__attribute__((target("avx2,fma"))) inline void ukr_avx2_f32(int64_t k, const float* a, const float* b, float* c,
                                                             int64_t ldc, float beta) {
  constexpr int MR = 16, NR = 6;
  PACKD_GEMM_UKR_BODY(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps,
                      _mm256_mul_ps, _mm256_setzero_ps, true)
}

__attribute__((target("avx2,fma"))) inline void ukr_avx2_f64(int64_t k, const double* a, const double* b, double* c,
                                                             int64_t ldc, double beta) {
  constexpr int MR = 8, NR = 6;
  PACKD_GEMM_UKR_BODY(__m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd,
                      _mm256_mul_pd, _mm256_setzero_pd, true)
}

#undef PACKD_GEMM_UKR_BODY

#endif  // PACKD_GEMM_HAVE_X86

}  // namespace packd::cpu::detail
