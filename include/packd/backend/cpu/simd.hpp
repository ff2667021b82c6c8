#pragma once
// Helpers shared by the CPU kernels that are plain loops vectorised by the compiler.
//
// ISA dispatch: packd is compiled for baseline x86-64, so hot loops are written as plain loops
// and run through simd_run(f), which calls f inside a copy compiled for AVX-512 or AVX2 (GCC's
// target + flatten attributes inline f and everything it calls into that copy, where the
// auto-vectoriser uses the wide registers). Thread-pool bodies stay outside f: the threads run
// the body, not the target copy; simd_run goes inside each chunk.
//
// parallel_chunks: parallel_for (parallel.hpp) under the name the kernels use: threads claim
// chunks from a shared counter, so a thread the OS preempts holds up at most one chunk.
#include <algorithm>
#include <cstdint>

#include "packd/backend/cpu/parallel.hpp"

namespace packd::cpu {

enum class SimdIsa { generic, avx2, avx512 };

inline SimdIsa detect_simd_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
    return SimdIsa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdIsa::avx2;
#endif
  return SimdIsa::generic;
}

// The ISA simd_run uses: detected on first use; tests may lower it (never raise it above
// detect_simd_isa()) to exercise the narrower code paths.
inline SimdIsa& simd_isa() {
  static SimdIsa isa = detect_simd_isa();
  return isa;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
template <class F>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512"), flatten)) inline void
simd_run_avx512(const F& f) {
  f();
}
template <class F>
__attribute__((target("avx2,fma"), flatten)) inline void simd_run_avx2(const F& f) {
  f();
}
#endif

// Runs f() compiled for the widest vector ISA the CPU has.
template <class F>
inline void simd_run(const F& f) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  switch (simd_isa()) {
    case SimdIsa::avx512: simd_run_avx512(f); return;
    case SimdIsa::avx2: simd_run_avx2(f); return;
    case SimdIsa::generic: break;
  }
#endif
  f();
}

// Runs body(a, b) over [0, items) with up to nt threads of the pool that claim chunks from a
// shared counter, so a thread the OS preempts (a loaded machine) holds up at most one chunk.
template <class Body>
void parallel_chunks(int64_t items, int nt, Body body) {
  parallel_for(0, items, nt, body);
}

// Calls body(o, i0, n) for every block [i0, i0 + n) of `block` inner positions of each of O outer
// slices, vectorised by simd_run and spread over nt threads with parallel_chunks. The layout of
// the kernels that reduce over a strided middle dimension (softmax, cosine): (O, N, I) viewed as
// O slices of I positions, each block walking N with contiguous inner runs.
template <class Body>
void for_inner_blocks(int64_t O, int64_t I, int64_t block, int nt, Body body) {
  const int64_t nb = (I + block - 1) / block, items = O * nb;
  if (items == 0) return;
  auto run = [&](int64_t a, int64_t b) {
    simd_run([&] {
      for (int64_t it = a; it < b; ++it) {
        const int64_t o = it / nb, i0 = (it % nb) * block;
        body(o, i0, std::min(block, I - i0));
      }
    });
  };
  parallel_chunks(items, int(std::min<int64_t>(nt, items)), run);
}

}  // namespace packd::cpu
