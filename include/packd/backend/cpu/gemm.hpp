#pragma once
// CPU GEMM: C = alpha * A * B + beta * C for float and double, any strides.
//
// Design (BLIS / GotoBLAS). Five loops around a register-tiled micro-kernel:
//
//   for jc in N step NC            B block  KC x NC  -> packed once, shared by all threads (L3)
//     for pc in K step KC
//       pack B(pc:pc+KC, jc:jc+NC) into NR-column panels          [threads split the panels]
//       for ic in M step MC        A block  MC x KC  -> packed per thread (L2), alpha folded in
//         pack A(ic:ic+MC, pc:pc+KC) into MR-row panels
//         for jr in NC step NR     B micro-panel KC x NR stays in L1 ...
//           for ir in MC step MR   ... while the A micro-panels stream from L2
//             micro-kernel: MR x NR tile of C += A panel * B panel (accumulators in registers)
//
// Packing copies each operand once per block into the exact order the micro-kernel reads it
// (contiguous, 64-byte aligned, zero-padded to whole panels). That is what makes any stride
// layout (row/column-major, transposed views, both strides != 1) run at the same speed: strides
// are only seen by the packing routines, which have fast paths for unit stride in either
// direction. beta is applied when the first KC block is stored (later blocks add), and beta == 0
// never reads C. Partial tiles at the M/N edges go through a small scratch tile.
//
// The driver sees A and B only through "operand" objects that pack a block (see "operands" below):
// StridedOperand wraps (ptr, rs, cs) for gemm() / gemm_batched(); conv.hpp passes operands that
// pack straight from NCHW images (implicit im2col) through detail::gemm_packed.
//
// The micro-kernel wants C tiles with unit row stride. When C is row-major (cs_c == 1) the
// driver computes C^T = B^T A^T instead, which is the same memory with A/B swapped: no copy.
//
// Micro-kernels (gemm_kernels.hpp), vectors along M, B broadcast, FMA:
//   AVX-512  fp32 32x12, fp64 16x12   (24 zmm accumulators)
//   AVX2     fp32 16x6,  fp64 8x6     (12 ymm accumulators)
//   generic  8x4 plain loops (any CPU, whatever the compiler vectorises)
// Blocking for fp32 AVX-512 was tuned on a Zen 5-class EPYC (L1d 48 KB, L2 1 MB per core, 32 MB
// L3): KC x NR x 4 B (B micro-panel) fits L1 next to the streamed A panel, MC x KC x 4 B (A block)
// stays in about half of L2, KC x NC x 4 B (B block) in L3.
//
// ISA selection: at run time (first call) from __builtin_cpu_supports: avx512f -> AVX-512,
// avx2 + fma -> AVX2, else generic. The SIMD code is compiled with __attribute__((target)),
// so consumers need no -m flags. Override at compile time with
//   -DPACKD_GEMM_ISA=avx512 | avx2 | generic
// (forcing an ISA the CPU lacks is the user's responsibility; 'generic' also compiles out all
// AVX code). Tests can switch at run time with detail::set_gemm_isa().
//
// Threads: max_threads() of them (omp_get_max_threads(), so OMP_NUM_THREADS / omp_set_num_threads()
// apply; 1 when called inside a pool job or an OpenMP parallel region, when built without OpenMP,
// or when M*N*K is too small to pay for waking threads). The caller is thread 0 and the others come
// from the CPU backend's one worker pool (parallel.hpp), not from an OpenMP parallel region:
// entering and leaving a region are rendezvous of the whole team that libgomp waits for by
// spinning, which costs milliseconds per call when another process holds a core. The work is
// shared out dynamically, so a thread the OS deschedules (or a worker that wakes late) does not
// hold up the others; a running thread simply takes more of the work:
//   - Each (jc, pc) iteration is a "step" s. Its B block is packed in a few chunks of NR panels
//     that the threads claim from a per-step atomic counter; a second counter counts packed chunks.
//   - The C block of a step is cut into work items, one per (MC row block, JP panels of NR
//     columns), numbered row block by row block. Each thread starts with a contiguous share of the
//     items and takes them from its front; once it is empty it steals from the back of the other
//     threads' shares (a claim is one compare-exchange on a [lo, hi) word). Front and back keep a
//     thread on the same row block, so it repacks its A block (per thread, alpha folded in) only
//     when the row block or the step changes. A third counter counts finished items.
//   - Packed B is double-buffered (step s uses buffer s % 2), so there is no barrier: before
//     packing step s a thread waits until step s-2's items are finished (their buffer is reused;
//     normally long done), and before computing it waits until step s's B is packed and, when
//     pc > 0, step s-1's items are finished (they update the same C elements). A thread that
//     finishes a step early packs B for the next one meanwhile.
//   - Every wait spins for a few microseconds, then sleeps (std::atomic::wait, a futex on Linux)
//     until the awaited count completes: a spinning waiter would take the core that the thread it
//     waits for needs. The counters of all steps are set up before the work starts, so no counter
//     is ever reset while a thread might still read it.
//   - The call returns once thread 0 has run out of work and every worker that joined has finished.
// Since each C element is always computed in the same order, results do not depend on the number
// of threads or on who did which item. Packing buffers and counters are thread_local and only
// grow, so a steady state allocates nothing.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "packd/backend/cpu/gemm_kernels.hpp"
#include "packd/backend/cpu/parallel.hpp"
#include "packd/core/error.hpp"

namespace packd::cpu {

namespace detail {

enum class GemmIsa : int { automatic = 0, generic = 1, avx2 = 2, avx512 = 3 };

inline const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::automatic: return "automatic";
    case GemmIsa::generic: return "generic";
    case GemmIsa::avx2: return "avx2";
    case GemmIsa::avx512: return "avx512";
  }
  return "?";
}

// Whether this CPU can run `isa` (generic always can).
inline bool gemm_isa_supported(GemmIsa isa) {
#if PACKD_GEMM_HAVE_X86
  switch (isa) {
    case GemmIsa::automatic:
    case GemmIsa::generic: return true;
    case GemmIsa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmIsa::avx512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == GemmIsa::automatic || isa == GemmIsa::generic;
#endif
}

inline GemmIsa detect_gemm_isa() {
#ifdef PACKD_GEMM_ISA
  return GemmIsa::PACKD_GEMM_ISA;  // compile-time override: avx512 | avx2 | generic
#else
  static const GemmIsa best = gemm_isa_supported(GemmIsa::avx512) ? GemmIsa::avx512
                              : gemm_isa_supported(GemmIsa::avx2) ? GemmIsa::avx2
                                                                  : GemmIsa::generic;
  return best;
#endif
}

inline std::atomic<int>& gemm_isa_override() {
  static std::atomic<int> v{static_cast<int>(GemmIsa::automatic)};
  return v;
}

// Test hook: force an ISA for all later calls (process-wide); automatic restores detection.
inline void set_gemm_isa(GemmIsa isa) {
  PACKD_CHECK(gemm_isa_supported(isa), "gemm: ISA ", gemm_isa_name(isa), " is not supported by this CPU");
  gemm_isa_override().store(static_cast<int>(isa), std::memory_order_relaxed);
}

// The ISA the next call will use.
inline GemmIsa active_gemm_isa() {
  const auto o = static_cast<GemmIsa>(gemm_isa_override().load(std::memory_order_relaxed));
  return o == GemmIsa::automatic ? detect_gemm_isa() : o;
}

// ---- blocking parameters + micro-kernel per (type, ISA) -------------------------------------------
template <class T, GemmIsa I>
struct GemmKernel;  // MR, NR, MC, KC, NC, ukr(k, a, b, c, ldc, beta)

template <class T>
struct GemmKernel<T, GemmIsa::generic> {
  static constexpr int64_t MR = 8, NR = 4, MC = 128, KC = 256, NC = 2048;
  static void ukr(int64_t k, const T* a, const T* b, T* c, int64_t ldc, T beta) {
    ukr_generic<T, int(MR), int(NR)>(k, a, b, c, ldc, beta);
  }
};

#if PACKD_GEMM_HAVE_X86
template <>
struct GemmKernel<float, GemmIsa::avx512> {
  static constexpr int64_t MR = 32, NR = 12, MC = 256, KC = 384, NC = 3072;
  static void ukr(int64_t k, const float* a, const float* b, float* c, int64_t ldc, float beta) {
    ukr_avx512_f32(k, a, b, c, ldc, beta);
  }
};
template <>
struct GemmKernel<double, GemmIsa::avx512> {
  static constexpr int64_t MR = 16, NR = 12, MC = 192, KC = 256, NC = 3072;
  static void ukr(int64_t k, const double* a, const double* b, double* c, int64_t ldc, double beta) {
    ukr_avx512_f64(k, a, b, c, ldc, beta);
  }
};
template <>
struct GemmKernel<float, GemmIsa::avx2> {
  static constexpr int64_t MR = 16, NR = 6, MC = 192, KC = 384, NC = 3072;
  static void ukr(int64_t k, const float* a, const float* b, float* c, int64_t ldc, float beta) {
    ukr_avx2_f32(k, a, b, c, ldc, beta);
  }
};
template <>
struct GemmKernel<double, GemmIsa::avx2> {
  static constexpr int64_t MR = 8, NR = 6, MC = 128, KC = 256, NC = 3072;
  static void ukr(int64_t k, const double* a, const double* b, double* c, int64_t ldc, double beta) {
    ukr_avx2_f64(k, a, b, c, ldc, beta);
  }
};
#endif

// ---- packing buffers ------------------------------------------------------------------------------
// A 64-byte aligned scratch area that only grows. One per thread per role (thread_local), so
// concurrent gemm calls from different threads never share one.
class PackBuffer {
 public:
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { release(); }
  void* get(std::size_t bytes) {
    if (bytes > size_) {
      release();
      bytes = (bytes + 4095) / 4096 * 4096;
      ptr_ = ::operator new(bytes, std::align_val_t{64});
      size_ = bytes;
    }
    return ptr_;
  }

 private:
  void release() {
    if (ptr_ != nullptr) ::operator delete(ptr_, std::align_val_t{64});
    ptr_ = nullptr;
    size_ = 0;
  }
  void* ptr_ = nullptr;
  std::size_t size_ = 0;
};

inline PackBuffer& pack_buffer_a() {
  static thread_local PackBuffer buf;
  return buf;
}
inline PackBuffer& pack_buffer_b() {
  static thread_local PackBuffer buf;
  return buf;
}
inline PackBuffer& pack_buffer_sync() {  // the per-step counters of a threaded call (see below)
  static thread_local PackBuffer buf;
  return buf;
}

// ---- packing ----------------------------------------------------------------------------------------
// dst[p*W + i] = alpha * src[i*ld + p] for i < n, p < kc; zero for n <= i < W. This is the packing
// of an operand whose panel direction is strided and whose k direction is contiguous, i.e. a small
// transpose. Done in 64-wide k chunks (source rows and destination both stay in L1), with SSE 4x4
// transposes for float: scalar stride-W stores were ~10% of the run time of NN row-major sgemm.
template <class T, int64_t W>
inline void pack_transpose(int64_t n, int64_t kc, const T* src, int64_t ld, T alpha, T* dst) {
  constexpr int64_t KB = 64;
  for (int64_t p0 = 0; p0 < kc; p0 += KB) {
    const int64_t kb = std::min(KB, kc - p0);
    int64_t i = 0;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float> && W % 4 == 0) {
      const __m128 va = _mm_set1_ps(alpha);
      for (; i + 4 <= n; i += 4) {
        const float* s0 = src + i * ld + p0;
        int64_t p = 0;
        for (; p + 4 <= kb; p += 4) {
          __m128 r0 = _mm_loadu_ps(s0 + p), r1 = _mm_loadu_ps(s0 + ld + p);
          __m128 r2 = _mm_loadu_ps(s0 + 2 * ld + p), r3 = _mm_loadu_ps(s0 + 3 * ld + p);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
          float* d = dst + (p0 + p) * W + i;
          _mm_storeu_ps(d, _mm_mul_ps(va, r0));
          _mm_storeu_ps(d + W, _mm_mul_ps(va, r1));
          _mm_storeu_ps(d + 2 * W, _mm_mul_ps(va, r2));
          _mm_storeu_ps(d + 3 * W, _mm_mul_ps(va, r3));
        }
        for (; p < kb; ++p)
          for (int64_t r = 0; r < 4; ++r) dst[(p0 + p) * W + i + r] = alpha * s0[r * ld + p];
      }
    }
#endif
    for (; i < n; ++i) {
      const T* s = src + i * ld + p0;
      for (int64_t p = 0; p < kb; ++p) dst[(p0 + p) * W + i] = alpha * s[p];
    }
    for (; i < W; ++i)
      for (int64_t p = 0; p < kb; ++p) dst[(p0 + p) * W + i] = T(0);
  }
}

// Pack the mc x kc block of A at `a` (element (i,p) at a[i*rs + p*cs]) into MR-row panels:
// panel r holds rows r*MR.., as kc groups of MR values, scaled by alpha, zero-padded to MR rows.
template <class T, int64_t MR>
inline void pack_a(int64_t mc, int64_t kc, const T* a, int64_t rs, int64_t cs, T alpha, T* dst) {
  if (rs == 1) {
    // Columns are contiguous: walk each column once, front to back, dealing MR-long pieces out to
    // the panels. (Panel by panel would touch kc pages per panel, defeating the prefetchers when A
    // comes from DRAM.)
    const int64_t full = mc / MR * MR;
    for (int64_t p = 0; p < kc; ++p) {
      const T* s = a + p * cs;
      T* d = dst + p * MR;
      for (int64_t i0 = 0; i0 < full; i0 += MR, d += MR * kc)
        for (int64_t i = 0; i < MR; ++i) d[i] = alpha * s[i0 + i];
      if (full < mc) {
        int64_t i = 0;
        for (; i < mc - full; ++i) d[i] = alpha * s[full + i];
        for (; i < MR; ++i) d[i] = T(0);
      }
    }
    return;
  }
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t mr = std::min(MR, mc - i0);
    const T* src = a + i0 * rs;
    if (cs == 1) {
      pack_transpose<T, MR>(mr, kc, src, rs, alpha, dst);  // rows contiguous along k
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        int64_t i = 0;
        for (; i < mr; ++i) dst[p * MR + i] = alpha * src[i * rs + p * cs];
        for (; i < MR; ++i) dst[p * MR + i] = T(0);
      }
    }
    dst += MR * kc;
  }
}

// Pack panels [q0, q1) (NR columns each) of the kc x nc block of B at `b` (element (p,j) at
// b[p*rs + j*cs]) into dst; panel q starts at dst + q*NR*kc, kc groups of NR values, zero-padded.
template <class T, int64_t NR>
inline void pack_b(int64_t kc, int64_t nc, int64_t q0, int64_t q1, const T* b, int64_t rs, int64_t cs, T* dst) {
  if (cs == 1) {
    // Rows are contiguous: walk each row once (see pack_a), dealing NR-long pieces to the panels.
    const int64_t q_full = std::min(q1, nc / NR);
    for (int64_t p = 0; p < kc; ++p) {
      const T* s = b + p * rs;
      for (int64_t q = q0; q < q_full; ++q) std::memcpy(dst + q * NR * kc + p * NR, s + q * NR, sizeof(T) * NR);
      if (q_full < q1) {  // the last, partial panel
        T* d = dst + q_full * NR * kc + p * NR;
        int64_t j = 0;
        for (; j < nc - q_full * NR; ++j) d[j] = s[q_full * NR + j];
        for (; j < NR; ++j) d[j] = T(0);
      }
    }
    return;
  }
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t j0 = q * NR;
    const int64_t nr = std::min(NR, nc - j0);
    const T* src = b + j0 * cs;
    T* d = dst + q * NR * kc;
    if (rs == 1) {
      pack_transpose<T, NR>(nr, kc, src, cs, T(1), d);  // columns contiguous along k
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        int64_t j = 0;
        for (; j < nr; ++j) d[p * NR + j] = src[p * rs + j * cs];
        for (; j < NR; ++j) d[p * NR + j] = T(0);
      }
    }
  }
}

// C = beta*C (beta == 0 writes zeros without reading C).
template <class T>
inline void scale_c(int64_t M, int64_t N, T beta, T* c, int64_t rs_c, int64_t cs_c) {
  if (beta == T(1)) return;
  for (int64_t j = 0; j < N; ++j)
    for (int64_t i = 0; i < M; ++i) {
      T& x = c[i * rs_c + j * cs_c];
      x = beta == T(0) ? T(0) : beta * x;
    }
}

// Threads for an M x N x K problem: one unless there is enough work per thread to amortise waking
// the workers and the synchronisation (~tens of microseconds), never more than max_threads().
inline int gemm_threads(int64_t M, int64_t N, int64_t K) {
  if (in_parallel()) return 1;
  const int max_t = max_threads();
  if (max_t <= 1) return 1;
  const double work = double(M) * double(N) * double(K);
  constexpr double per_thread = 64.0 * 64.0 * 256.0;  // ~2 MFLOP per thread at least
  const int by_work = static_cast<int>(std::min<double>(max_t, work / per_thread));
  return std::max(1, by_work);
}

// ---- work sharing between the threads of one call (see "Threads" at the top) ----------------------
// The counters of one (jc, pc) step, on their own cache line. Targets are set before the parallel
// region; per-step item and chunk counts are far below 2^31 (items <= M/MC * NC/NR).
struct alignas(64) GemmStepSync {
  std::atomic<int32_t> b_next{0};      // next B chunk to claim
  std::atomic<int32_t> b_done{0};      // B chunks packed
  std::atomic<int32_t> items_done{0};  // C work items finished
  int32_t n_bchunks = 0, n_items = 0;
};

// One thread's share [lo, hi) of a step's work items in one word: the owner takes from the front,
// thieves from the back, each with one compare-exchange. Claims only decide who does an item
// (the CAS makes that exclusive); the data an item reads and writes is ordered by the counters.
class GemmWorkRange {
 public:
  GemmWorkRange(uint32_t lo, uint32_t hi) : w_(uint64_t(hi) << 32 | lo) {}
  bool take_front(int64_t& item) {
    uint64_t w = w_.load(std::memory_order_relaxed);
    while (static_cast<uint32_t>(w) < static_cast<uint32_t>(w >> 32))
      if (w_.compare_exchange_weak(w, w + 1, std::memory_order_relaxed)) {
        item = static_cast<uint32_t>(w);
        return true;
      }
    return false;
  }
  bool take_back(int64_t& item) {
    uint64_t w = w_.load(std::memory_order_relaxed);
    while (static_cast<uint32_t>(w) < static_cast<uint32_t>(w >> 32))
      if (w_.compare_exchange_weak(w, w - (uint64_t(1) << 32), std::memory_order_relaxed)) {
        item = static_cast<uint32_t>(w >> 32) - 1;
        return true;
      }
    return false;
  }

 private:
  std::atomic<uint64_t> w_;
};

// ---- operands ------------------------------------------------------------------------------------------
// The driver never reads A or B itself: it asks an operand object to pack a block, in the panel
// layout the micro-kernel reads. Any type with these two members works (conv.hpp packs straight
// from an NCHW image, an implicit im2col):
//   pack_a_block<MR>(i0, p0, mc, kc, alpha, dst): rows [i0, i0+mc) x k [p0, p0+kc) of A, scaled by
//       alpha, as MR-row panels (panel r at dst + r*MR*kc: kc groups of MR values, zero-padded);
//   pack_b_panels<NR>(p0, j0, kc, nc, q0, q1, dst): panels [q0, q1) of the kc x nc block of B at
//       (p0, j0), panel q at dst + q*NR*kc (kc groups of NR values, zero-padded).
// StridedOperand is the ordinary matrix, element (i, j) at ptr[i*rs + j*cs].
template <class T>
struct StridedOperand {
  const T* ptr;
  int64_t rs, cs;
  template <int64_t MR>
  void pack_a_block(int64_t i0, int64_t p0, int64_t mc, int64_t kc, T alpha, T* dst) const {
    pack_a<T, MR>(mc, kc, ptr + i0 * rs + p0 * cs, rs, cs, alpha, dst);
  }
  template <int64_t NR>
  void pack_b_panels(int64_t p0, int64_t j0, int64_t kc, int64_t nc, int64_t q0, int64_t q1, T* dst) const {
    pack_b<T, NR>(kc, nc, q0, q1, ptr + p0 * rs + j0 * cs, rs, cs, dst);
  }
};

// ---- the blocked driver -------------------------------------------------------------------------------
// Runs the five loops for one (type, ISA). C must already be oriented so that its unit-stride
// direction (if any) is rs_c. alpha != 0 and K > 0 here.
template <class T, class Ker, class OpA, class OpB>
void gemm_blocked(int64_t M, int64_t N, int64_t K, T alpha, const OpA& a, const OpB& b, T beta, T* c, int64_t rs_c,
                  int64_t cs_c, int nthreads) {
  constexpr int64_t MR = Ker::MR, NR = Ker::NR;
  constexpr int64_t JP = std::max<int64_t>(1, 96 / NR);  // panels per work item: ~96 columns of C
  const int64_t KC = std::min(Ker::KC, K);
  const int64_t NC = std::min(Ker::NC, (N + NR - 1) / NR * NR);
  const int64_t MC = Ker::MC;
  const int64_t n_ic = (M + MC - 1) / MC, n_pc = (K + KC - 1) / KC, n_jc = (N + NC - 1) / NC;
  const int64_t steps = n_jc * n_pc;
  const int P = std::max(1, nthreads);  // planned team size (the shares); the team may get fewer
  const int64_t nbuf = P > 1 && steps > 1 ? 2 : 1;

  // The shared B buffers and the step counters belong to the calling thread; the team only uses them.
  T* bpack = static_cast<T*>(pack_buffer_b().get(sizeof(T) * static_cast<std::size_t>(nbuf * KC * NC)));
  const std::size_t sync_bytes = sizeof(GemmStepSync) * static_cast<std::size_t>(steps) +
                                 sizeof(GemmWorkRange) * static_cast<std::size_t>(steps * P);
  auto* sync = static_cast<GemmStepSync*>(pack_buffer_sync().get(sync_bytes));
  auto* ranges = reinterpret_cast<GemmWorkRange*>(sync + steps);
  for (int64_t jc = 0, s = 0; jc < N; jc += NC) {
    const int64_t npan = (std::min(NC, N - jc) + NR - 1) / NR;
    const int64_t n_items = n_ic * ((npan + JP - 1) / JP);
    for (int64_t pc = 0; pc < K; pc += KC, ++s) {
      auto* st = new (sync + s) GemmStepSync;
      st->n_bchunks = static_cast<int32_t>(std::min<int64_t>(npan, 4 * P));
      st->n_items = static_cast<int32_t>(n_items);
      for (int t = 0; t < P; ++t)
        new (ranges + s * P + t) GemmWorkRange(static_cast<uint32_t>(n_items * t / P),
                                               static_cast<uint32_t>(n_items * (t + 1) / P));
    }
  }

  auto body = [&](int tid) {
    const std::size_t abytes = sizeof(T) * static_cast<std::size_t>(std::min(MC, (M + MR - 1) / MR * MR) * KC);
    T* apack = static_cast<T*>(pack_buffer_a().get(abytes));
    int64_t a_step = -1, a_ic = -1;  // the A block apack holds
    alignas(64) T tile[MR * NR];

    for (int64_t jc = 0, s = 0; jc < N; jc += NC) {
      const int64_t nc = std::min(NC, N - jc);
      const int64_t npan = (nc + NR - 1) / NR;
      const int64_t n_chunks = (npan + JP - 1) / JP;  // work items per row block
      for (int64_t pc = 0; pc < K; pc += KC, ++s) {
        const int64_t kc = std::min(KC, K - pc);
        GemmStepSync& st = sync[s];
        T* bp_s = bpack + (s % nbuf) * KC * NC;

        // Pack this step's B block, chunk by chunk, into the buffer step s-2 read.
        if (s >= 2 && nbuf == 2) wait_for_count(sync[s - 2].items_done, sync[s - 2].n_items);
        for (int64_t i; (i = st.b_next.fetch_add(1, std::memory_order_relaxed)) < st.n_bchunks;) {
          b.template pack_b_panels<NR>(pc, jc, kc, nc, npan * i / st.n_bchunks, npan * (i + 1) / st.n_bchunks, bp_s);
          count_done(st.b_done, st.n_bchunks);
        }
        wait_for_count(st.b_done, st.n_bchunks);
        if (pc > 0) wait_for_count(sync[s - 1].items_done, sync[s - 1].n_items);  // same C elements

        const T beta_eff = pc == 0 ? beta : T(1);
        auto run_item = [&](int64_t item) {
          const int64_t ic = item / n_chunks * MC, mc = std::min(MC, M - ic);
          const int64_t j_lo = item % n_chunks * JP * NR, j_hi = std::min(nc, j_lo + JP * NR);
          if (a_step != s || a_ic != ic) {
            a.template pack_a_block<MR>(ic, pc, mc, kc, alpha, apack);
            a_step = s, a_ic = ic;
          }
          for (int64_t jr = j_lo; jr < j_hi; jr += NR) {
            const int64_t nr = std::min(NR, nc - jr);
            const T* bp = bp_s + (jr / NR) * NR * kc;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int64_t mr = std::min(MR, mc - ir);
              const T* ap = apack + (ir / MR) * MR * kc;
              T* cp = c + (ic + ir) * rs_c + (jc + jr) * cs_c;
              if (mr == MR && nr == NR && rs_c == 1) {
                Ker::ukr(kc, ap, bp, cp, cs_c, beta_eff);
              } else {
                Ker::ukr(kc, ap, bp, tile, MR, T(0));
                for (int64_t j = 0; j < nr; ++j)
                  for (int64_t i = 0; i < mr; ++i) {
                    T& x = cp[i * rs_c + j * cs_c];
                    x = beta_eff == T(0) ? tile[i + j * MR] : beta_eff * x + tile[i + j * MR];
                  }
              }
            }
          }
          count_done(st.items_done, st.n_items);
        };
        GemmWorkRange* share = ranges + s * P;
        int64_t item = 0;
        if (tid < P)
          while (share[tid].take_front(item)) run_item(item);
        for (int v = 1; v < P; ++v)  // then help the others, from the back of their shares
          while (share[(tid + v) % P].take_back(item)) run_item(item);
      }
    }
  };

  if (P > 1 && WorkerPool::instance().run(P, body)) return;
  body(0);  // one thread, or the pool is busy (another caller's job): thread 0 takes every share
}

// C = alpha * A * B + beta * C with A, B given as operand objects (see "operands" above), in the
// driver's orientation: no C^T swap here, so C should have rs_c == 1 for the fast store path.
template <class T, class OpA, class OpB>
void gemm_packed(int64_t M, int64_t N, int64_t K, T alpha, const OpA& a, const OpB& b, T beta, T* c, int64_t rs_c,
                 int64_t cs_c, int nthreads) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {
    scale_c(M, N, beta, c, rs_c, cs_c);
    return;
  }
  switch (active_gemm_isa()) {
#if PACKD_GEMM_HAVE_X86
    case GemmIsa::avx512:
      gemm_blocked<T, GemmKernel<T, GemmIsa::avx512>>(M, N, K, alpha, a, b, beta, c, rs_c, cs_c, nthreads);
      return;
    case GemmIsa::avx2:
      gemm_blocked<T, GemmKernel<T, GemmIsa::avx2>>(M, N, K, alpha, a, b, beta, c, rs_c, cs_c, nthreads);
      return;
#endif
    default:
      gemm_blocked<T, GemmKernel<T, GemmIsa::generic>>(M, N, K, alpha, a, b, beta, c, rs_c, cs_c, nthreads);
      return;
  }
}

template <class T>
void gemm_impl(int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
               int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c, int nthreads) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {  // A and B are not referenced (BLAS semantics)
    scale_c(M, N, beta, c, rs_c, cs_c);
    return;
  }
  // The micro-kernel stores along M; if C is contiguous along N instead, compute C^T = B^T A^T.
  const auto abs64 = [](int64_t v) { return v < 0 ? -v : v; };
  if (rs_c != 1 && (cs_c == 1 || abs64(cs_c) < abs64(rs_c))) {
    std::swap(M, N);
    std::swap(a, b);
    const int64_t ra = cs_b, ca = rs_b, rb = cs_a, cb = rs_a;  // B^T is (N x K), A^T is (K x M)
    rs_a = ra, cs_a = ca, rs_b = rb, cs_b = cb;
    std::swap(rs_c, cs_c);
  }
  gemm_packed<T>(M, N, K, alpha, StridedOperand<T>{a, rs_a, cs_a}, StridedOperand<T>{b, rs_b, cs_b}, beta, c, rs_c,
                 cs_c, nthreads);
}

template <class T>
inline void gemm_check_args(int64_t M, int64_t N, int64_t K) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "packd::cpu::gemm: T must be float or double");
  PACKD_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
}

}  // namespace detail

// C = alpha * A * B + beta * C, general strides (see the top of this file).
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
          int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c) {
  detail::gemm_check_args<T>(M, N, K);
  detail::gemm_impl<T>(M, N, K, alpha, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c,
                       detail::gemm_threads(M, N, K));
}

// Strided batch: matrix p of each operand starts at base + p*batch_stride. Many small matrices
// run one per thread; large ones run one after another, each using all threads.
template <class T>
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t rs_a, int64_t cs_a,
                  int64_t bs_a, const T* b, int64_t rs_b, int64_t cs_b, int64_t bs_b, T beta, T* c, int64_t rs_c,
                  int64_t cs_c, int64_t bs_c) {
  detail::gemm_check_args<T>(M, N, K);
  PACKD_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
  if (batch == 0 || M == 0 || N == 0) return;
  const int per_matrix = detail::gemm_threads(M, N, K);
  if (per_matrix == 1 && batch > 1 && max_threads() > 1 && !in_parallel() &&
      double(batch) * double(M) * double(N) * double(K) >= 64.0 * 64.0 * 256.0) {
    pool_for(batch, static_cast<int>(std::min<int64_t>(batch, max_threads())), [&](int64_t p) {
      detail::gemm_impl<T>(M, N, K, alpha, a + p * bs_a, rs_a, cs_a, b + p * bs_b, rs_b, cs_b, beta, c + p * bs_c,
                           rs_c, cs_c, 1);
    });
    return;
  }
  for (int64_t p = 0; p < batch; ++p)
    detail::gemm_impl<T>(M, N, K, alpha, a + p * bs_a, rs_a, cs_a, b + p * bs_b, rs_b, cs_b, beta, c + p * bs_c, rs_c,
                         cs_c, per_matrix);
}

}  // namespace packd::cpu
