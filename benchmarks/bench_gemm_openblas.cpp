// The peer: OpenBLAS cblas_sgemm on the same cases as bench_gemm. Threads: OPENBLAS_NUM_THREADS
// (compare.sh sets it, and removes OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE so OpenBLAS picks its
// best kernel for this CPU; the core it picked is printed and stored in the JSON context).
#include <cblas.h>

#include <cstdio>
#include <string>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  packd_bench::register_gemm_benchmarks([](const packd_bench::GemmCase& gc, const float* a, const float* b, float* c) {
    cblas_sgemm(CblasRowMajor, gc.trans_a ? CblasTrans : CblasNoTrans, gc.trans_b ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(gc.M), static_cast<blasint>(gc.N), static_cast<blasint>(gc.K), 1.f, a,
                static_cast<blasint>(packd_bench::lda(gc)), b, static_cast<blasint>(packd_bench::ldb(gc)), 0.f, c,
                static_cast<blasint>(gc.N));
  });
  benchmark::Initialize(&argc, argv);
  std::fprintf(stderr, "openblas: core=%s threads=%d config=%s\n", openblas_get_corename(), openblas_get_num_threads(),
               openblas_get_config());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("threads", std::to_string(openblas_get_num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
