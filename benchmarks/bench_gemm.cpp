// packd sgemm on the shared GEMM cases (see gemm_cases.hpp). Threads: OMP_NUM_THREADS.
#include <omp.h>

#include <cstdio>

#include "bench_common.hpp"
#include "packd/backend/cpu/gemm.hpp"

int main(int argc, char** argv) {
  packd_bench::register_gemm_benchmarks([](const packd_bench::GemmCase& gc, const float* a, const float* b, float* c) {
    // Row-major storage expressed as (row stride, column stride); a transposed operand swaps them.
    const int64_t lda = packd_bench::lda(gc), ldb = packd_bench::ldb(gc);
    const int64_t rs_a = gc.trans_a ? 1 : lda, cs_a = gc.trans_a ? lda : 1;
    const int64_t rs_b = gc.trans_b ? 1 : ldb, cs_b = gc.trans_b ? ldb : 1;
    packd::cpu::gemm<float>(gc.M, gc.N, gc.K, 1.f, a, rs_a, cs_a, b, rs_b, cs_b, 0.f, c, gc.N, 1);
  });
  benchmark::Initialize(&argc, argv);
  std::fprintf(stderr, "packd gemm: isa=%s threads=%d\n",
               packd::cpu::detail::gemm_isa_name(packd::cpu::detail::active_gemm_isa()), omp_get_max_threads());
  benchmark::AddCustomContext("packd_isa", packd::cpu::detail::gemm_isa_name(packd::cpu::detail::active_gemm_isa()));
  benchmark::AddCustomContext("threads", std::to_string(omp_get_max_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
