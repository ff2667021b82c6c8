#pragma once
// Registration shared by both GEMM benchmark binaries: each binary supplies run(case, A, B, C).
#include <benchmark/benchmark.h>

#include <functional>
#include <random>
#include <vector>

#include "gemm_cases.hpp"

namespace packd_bench {

using GemmFn = std::function<void(const GemmCase&, const float*, const float*, float*)>;

inline void register_gemm_benchmarks(const GemmFn& fn) {
  for (const GemmCase& gc : gemm_cases()) {
    benchmark::RegisterBenchmark(gc.name.c_str(), [gc, fn](benchmark::State& state) {
      std::vector<float> a(static_cast<size_t>(gc.M * gc.K)), b(static_cast<size_t>(gc.K * gc.N)),
          c(static_cast<size_t>(gc.M * gc.N));
      std::mt19937 gen(42);
      std::uniform_real_distribution<float> dist(-1.f, 1.f);
      for (float& x : a) x = dist(gen);
      for (float& x : b) x = dist(gen);
      fn(gc, a.data(), b.data(), c.data());  // warm-up: page faults, packing buffers, thread pool
      for (auto _ : state) {
        fn(gc, a.data(), b.data(), c.data());
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
      }
      const double flops = 2.0 * double(gc.M) * double(gc.N) * double(gc.K);
      state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    })->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace packd_bench
