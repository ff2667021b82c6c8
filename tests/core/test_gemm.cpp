// packd::cpu::gemm / gemm_batched against a naive triple loop, for every ISA path this CPU can run,
// with 1, 2 and 3 threads, and from concurrent callers. Tolerance: |C - ref| <= tol * (|alpha| sum_k |a||b| + |beta||c|) + tiny.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "packd/backend/cpu/gemm.hpp"

namespace {

using packd::cpu::detail::GemmIsa;

// Storage of one operand: rows x cols with element (i,j) at data[off + i*rs + j*cs].
enum class Layout { row, col, general };

template <class T>
struct Mat {
  int64_t rows, cols, rs, cs, off;
  std::vector<T> data;
  T at(int64_t i, int64_t j) const { return data[static_cast<size_t>(off + i * rs + j * cs)]; }
  const T* ptr() const { return data.data() + off; }
  T* ptr() { return data.data() + off; }
};

// Layout::col is what a transposed row-major view looks like; Layout::general has both strides != 1
// (an interleaved, padded view) and an offset. nan_fill fills the whole buffer with NaN.
template <class T>
Mat<T> make(int64_t rows, int64_t cols, Layout layout, std::mt19937& gen, bool nan_fill = false) {
  Mat<T> m{rows, cols, 0, 0, 0, {}};
  int64_t size = 0;
  switch (layout) {
    case Layout::row: m.rs = std::max<int64_t>(cols, 1), m.cs = 1, size = rows * cols; break;
    case Layout::col: m.rs = 1, m.cs = std::max<int64_t>(rows, 1), size = rows * cols; break;
    case Layout::general:  // column stride 2, row stride 2*cols+3: gaps everywhere
      m.cs = 2, m.rs = 2 * cols + 3, m.off = 1, size = m.off + rows * m.rs + 1;
      break;
  }
  m.data.assign(static_cast<size_t>(std::max<int64_t>(size, 1)), T(0));
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (auto& x : m.data) x = static_cast<T>(dist(gen));
  if (nan_fill)
    for (auto& x : m.data) x = std::numeric_limits<T>::quiet_NaN();
  return m;
}

template <class T>
T tol() {
  return std::is_same_v<T, float> ? T(2e-6) : T(1e-14);
}

template <class T>
void check_gemm(int64_t M, int64_t N, int64_t K, T alpha, T beta, Layout la, Layout lb, Layout lc, uint32_t seed) {
  std::mt19937 gen(seed);
  const Mat<T> A = make<T>(M, K, la, gen), B = make<T>(K, N, lb, gen);
  Mat<T> C = make<T>(M, N, lc, gen, beta == T(0));  // beta == 0: C is all NaN
  const Mat<T> C0 = C;
  packd::cpu::gemm<T>(M, N, K, alpha, A.ptr(), A.rs, A.cs, B.ptr(), B.rs, B.cs, beta, C.ptr(), C.rs, C.cs);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      long double s = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const long double p = static_cast<long double>(A.at(i, k)) * B.at(k, j);
        s += p;
        mag += std::fabs(p);
      }
      long double ref = static_cast<long double>(alpha) * s;
      long double bound = std::fabs(static_cast<long double>(alpha)) * mag;
      if (beta != T(0)) {
        ref += static_cast<long double>(beta) * C0.at(i, j);
        bound += std::fabs(static_cast<long double>(beta) * C0.at(i, j));
      }
      const long double err = std::fabs(static_cast<long double>(C.at(i, j)) - ref);
      const long double lim = tol<T>() * (bound + 1e-30L) * std::sqrt(static_cast<long double>(K + 1));
      if (!(err <= lim)) {  // also catches NaN
        INFO("M=" << M << " N=" << N << " K=" << K << " alpha=" << alpha << " beta=" << beta << " layouts "
                  << int(la) << int(lb) << int(lc) << " at (" << i << "," << j << ") got " << C.at(i, j)
                  << " want " << static_cast<double>(ref));
        REQUIRE(err <= lim);
      }
    }
  // Elements of C's buffer outside the matrix (gaps of a general-stride view) must be untouched.
  if (lc == Layout::general) {
    std::vector<char> inside(C.data.size(), 0);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) inside[static_cast<size_t>(C.off + i * C.rs + j * C.cs)] = 1;
    for (size_t e = 0; e < C.data.size(); ++e)
      if (!inside[e]) {
        const bool same = (C.data[e] == C0.data[e]) || (std::isnan(C.data[e]) && std::isnan(C0.data[e]));
        REQUIRE(same);
      }
  }
}

// ISAs this CPU can run, to force one at a time.
std::vector<GemmIsa> isas() {
  std::vector<GemmIsa> v;
  for (GemmIsa i : {GemmIsa::generic, GemmIsa::avx2, GemmIsa::avx512})
    if (packd::cpu::detail::gemm_isa_supported(i)) v.push_back(i);
  return v;
}

struct IsaGuard {
  explicit IsaGuard(GemmIsa i) { packd::cpu::detail::set_gemm_isa(i); }
  ~IsaGuard() { packd::cpu::detail::set_gemm_isa(GemmIsa::automatic); }
  IsaGuard(const IsaGuard&) = delete;
  IsaGuard& operator=(const IsaGuard&) = delete;
};

struct ThreadGuard {
  explicit ThreadGuard([[maybe_unused]] int n) {
#ifdef _OPENMP
    saved = omp_get_max_threads();
    omp_set_num_threads(n);
#endif
  }
  ~ThreadGuard() {
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
  }
  ThreadGuard(const ThreadGuard&) = delete;
  ThreadGuard& operator=(const ThreadGuard&) = delete;
  int saved = 1;
};

const Layout kLayouts[] = {Layout::row, Layout::col, Layout::general};

}  // namespace

TEMPLATE_TEST_CASE("gemm: every size 1 to 70 in each dimension (row-major)", "[gemm]", float, double) {
  for (GemmIsa isa : isas()) {
    IsaGuard g(isa);
    INFO("isa " << packd::cpu::detail::gemm_isa_name(isa));
    // Sweep each dimension over 1..70 with the others at awkward values: covers every edge-tile
    // remainder for MR in {8,16,32} and NR in {4,6,12}.
    for (int64_t d = 1; d <= 70; ++d) {
      check_gemm<TestType>(d, 13, 29, TestType(1), TestType(0), Layout::row, Layout::row, Layout::row, 1u + uint32_t(d));
      check_gemm<TestType>(7, d, 33, TestType(1), TestType(1), Layout::row, Layout::row, Layout::row, 2u + uint32_t(d));
      check_gemm<TestType>(35, 17, d, TestType(2), TestType(-0.5), Layout::row, Layout::row, Layout::row, 3u + uint32_t(d));
    }
  }
}

TEMPLATE_TEST_CASE("gemm: transposes and general strides and alpha/beta", "[gemm]", float, double) {
  const TestType scalars[] = {TestType(0), TestType(1), TestType(-0.5), TestType(2)};
  for (GemmIsa isa : isas()) {
    IsaGuard g(isa);
    INFO("isa " << packd::cpu::detail::gemm_isa_name(isa));
    uint32_t seed = 100;
    for (Layout la : kLayouts)
      for (Layout lb : kLayouts)
        for (Layout lc : kLayouts)
          for (TestType alpha : scalars)
            for (TestType beta : scalars) {
              // Sizes straddling MR/NR multiples (31..33, 11..13) and one partial KC step.
              check_gemm<TestType>(33, 13, 45, alpha, beta, la, lb, lc, ++seed);
              check_gemm<TestType>(5, 49, 3, alpha, beta, la, lb, lc, ++seed);
            }
  }
}

TEMPLATE_TEST_CASE("gemm: larger than one cache block with 1 and 2 threads", "[gemm][large]", float, double) {
  for (int threads : {1, 2}) {
    ThreadGuard tg(threads);
    for (GemmIsa isa : isas()) {
      IsaGuard g(isa);
      INFO("isa " << packd::cpu::detail::gemm_isa_name(isa) << " threads " << threads);
      check_gemm<TestType>(300, 517, 1100, TestType(1), TestType(0), Layout::row, Layout::row, Layout::row, 7);
      check_gemm<TestType>(300, 517, 1100, TestType(-0.5), TestType(2), Layout::col, Layout::row, Layout::col, 8);
      // Around the MC/KC/NC boundaries of the AVX-512 float blocking (256 / 384 / 3072).
      check_gemm<TestType>(257, 3085, 385, TestType(2), TestType(1), Layout::row, Layout::col, Layout::row, 9);
      check_gemm<TestType>(513, 40, 769, TestType(1), TestType(-0.5), Layout::general, Layout::general,
                           Layout::general, 10);
      // Thin shapes: one thread gets no rows or columns.
      check_gemm<TestType>(1, 2000, 300, TestType(1), TestType(0), Layout::row, Layout::row, Layout::row, 11);
      check_gemm<TestType>(2000, 1, 300, TestType(1), TestType(1), Layout::row, Layout::col, Layout::row, 12);
    }
  }
}

TEMPLATE_TEST_CASE("gemm: more threads than cores (work stealing between shares)", "[gemm][large]", float, double) {
  ThreadGuard tg(3);
  check_gemm<TestType>(700, 389, 1000, TestType(1), TestType(0.5), Layout::row, Layout::col, Layout::row, 21);
  check_gemm<TestType>(65, 3100, 800, TestType(-1), TestType(0), Layout::col, Layout::row, Layout::general, 22);
}

// Each C element is computed the same way whichever thread does it, so any team size and any
// interleaving of callers must reproduce the single-threaded result bit for bit.
TEMPLATE_TEST_CASE("gemm: concurrent callers and callers inside a parallel region", "[gemm][large]", float, double) {
  using T = TestType;
  const int64_t M = 300, N = 700, K = 900;
  std::mt19937 gen(31);
  const Mat<T> A = make<T>(M, K, Layout::row, gen), B = make<T>(K, N, Layout::row, gen);
  std::vector<T> ref(size_t(M * N));
  {
    ThreadGuard tg(1);
    packd::cpu::gemm<T>(M, N, K, T(1), A.ptr(), A.rs, A.cs, B.ptr(), B.rs, B.cs, T(0), ref.data(), N, 1);
  }
  ThreadGuard tg(2);
  constexpr int kCallers = 3, kCalls = 4;
  std::vector<std::vector<T>> out(kCallers, std::vector<T>(size_t(M * N)));
  std::vector<int> same(kCallers, 1);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t)
    callers.emplace_back([&, t] {
      for (int r = 0; r < kCalls; ++r) {
        std::fill(out[size_t(t)].begin(), out[size_t(t)].end(), T(-7));
        packd::cpu::gemm<T>(M, N, K, T(1), A.ptr(), A.rs, A.cs, B.ptr(), B.rs, B.cs, T(0), out[size_t(t)].data(), N,
                            1);
        if (out[size_t(t)] != ref) same[size_t(t)] = 0;
      }
    });
  for (auto& th : callers) th.join();
  for (int t = 0; t < kCallers; ++t) REQUIRE(same[size_t(t)] == 1);
#ifdef _OPENMP
  std::vector<int> same_omp(2, 1);
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num();
    std::vector<T> c(size_t(M * N), T(-7));
    packd::cpu::gemm<T>(M, N, K, T(1), A.ptr(), A.rs, A.cs, B.ptr(), B.rs, B.cs, T(0), c.data(), N, 1);
    if (c != ref) same_omp[size_t(t)] = 0;
  }
  REQUIRE(same_omp[0] == 1);
  REQUIRE(same_omp[1] == 1);
#endif
}

TEMPLATE_TEST_CASE("gemm: K == 0 and empty sizes", "[gemm]", float, double) {
  using T = TestType;
  std::vector<T> c(12, T(3));
  const T* none = nullptr;
  packd::cpu::gemm<T>(3, 4, 0, T(1), none, 0, 1, none, 4, 1, T(2), c.data(), 4, 1);  // C = 2C
  for (T x : c) REQUIRE(x == T(6));
  std::vector<T> nan(12, std::numeric_limits<T>::quiet_NaN());
  packd::cpu::gemm<T>(3, 4, 0, T(1), none, 0, 1, none, 4, 1, T(0), nan.data(), 4, 1);  // C = 0, not NaN
  for (T x : nan) REQUIRE(x == T(0));
  // alpha == 0: A and B not referenced (NaN in them must not leak).
  std::vector<T> an(6, std::numeric_limits<T>::quiet_NaN());
  std::vector<T> c2(4, T(1));
  packd::cpu::gemm<T>(2, 2, 3, T(0), an.data(), 3, 1, an.data(), 2, 1, T(-0.5), c2.data(), 2, 1);
  for (T x : c2) REQUIRE(x == T(-0.5));
  packd::cpu::gemm<T>(0, 4, 5, T(1), none, 5, 1, none, 4, 1, T(0), c.data(), 4, 1);
  packd::cpu::gemm<T>(3, 0, 5, T(1), none, 5, 1, none, 0, 1, T(0), c.data(), 0, 1);
  REQUIRE_THROWS_AS(packd::cpu::gemm<T>(-1, 4, 5, T(1), none, 5, 1, none, 4, 1, T(0), c.data(), 4, 1), packd::Error);
  REQUIRE_THROWS_AS(packd::cpu::gemm_batched<T>(-1, 1, 1, 1, T(1), none, 1, 1, 1, none, 1, 1, 1, T(0), c.data(), 1, 1, 1),
                    packd::Error);
}

TEMPLATE_TEST_CASE("gemm_batched: batch strides with small and large matrices and 1 or 2 threads", "[gemm]", float, double) {
  using T = TestType;
  for (int threads : {1, 2}) {
    ThreadGuard tg(threads);
    // (batch, M, N, K): many small matrices (parallel over the batch) and a few large ones.
    const int64_t shapes[][4] = {{9, 5, 7, 3}, {64, 33, 13, 17}, {3, 150, 140, 130}, {1, 20, 20, 20}};
    for (const auto& sh : shapes) {
      const int64_t batch = sh[0], M = sh[1], N = sh[2], K = sh[3];
      std::mt19937 gen(uint32_t(batch * 7 + M));
      std::uniform_real_distribution<double> dist(-1, 1);
      // A: row-major with padding between matrices; B: column-major; C: row-major, NaN-filled.
      const int64_t bs_a = M * K + 5, bs_b = K * N + 3, bs_c = M * N + 1;
      std::vector<T> a(size_t(batch * bs_a)), b(size_t(batch * bs_b));
      std::vector<T> c(size_t(batch * bs_c), std::numeric_limits<T>::quiet_NaN());
      for (auto& x : a) x = T(dist(gen));
      for (auto& x : b) x = T(dist(gen));
      packd::cpu::gemm_batched<T>(batch, M, N, K, T(2), a.data(), K, 1, bs_a, b.data(), 1, K, bs_b, T(0), c.data(), N,
                                  1, bs_c);
      for (int64_t p = 0; p < batch; ++p)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            long double s = 0, mag = 0;
            for (int64_t k = 0; k < K; ++k) {
              const long double v = static_cast<long double>(a[size_t(p * bs_a + i * K + k)]) * b[size_t(p * bs_b + j * K + k)];
              s += v;
              mag += std::fabs(v);
            }
            const long double got = c[size_t(p * bs_c + i * N + j)];
            REQUIRE(std::fabs(got - 2 * s) <= tol<T>() * 2 * (mag + 1e-30L) * std::sqrt(K + 1.0L));
          }
      // The padding element after each C matrix is never written.
      for (int64_t p = 0; p < batch; ++p) REQUIRE(std::isnan(c[size_t(p * bs_c + M * N)]));
    }
  }
}

TEST_CASE("gemm: ISA hook", "[gemm]") {
  REQUIRE(packd::cpu::detail::gemm_isa_supported(GemmIsa::generic));
  packd::cpu::detail::set_gemm_isa(GemmIsa::generic);
  REQUIRE(packd::cpu::detail::active_gemm_isa() == GemmIsa::generic);
  packd::cpu::detail::set_gemm_isa(GemmIsa::automatic);
  REQUIRE(packd::cpu::detail::active_gemm_isa() != GemmIsa::automatic);
}

TEST_CASE("pool_for: every index runs exactly once, with 1, 2 and more threads than cores", "[gemm]") {
  for (int threads : {1, 2, 5}) {
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(7), int64_t(1000)}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      packd::cpu::detail::pool_for(n, threads, [&](int64_t i) { hits[static_cast<std::size_t>(i)].fetch_add(1); });
      for (int64_t i = 0; i < n; ++i) REQUIRE(hits[static_cast<std::size_t>(i)].load() == 1);
    }
  }
}
