#pragma once
// The GEMM benchmark cases, shared by bench_gemm (packd) and bench_gemm_openblas (the peer) so both
// binaries run exactly the same shapes under the same names. All matrices are row-major fp32,
// alpha = 1, beta = 0.
//
// sqN:   C(NxN) = A(NxN) B(NxN).
// wrn_*: WideResNet-50 convolutions at 256x256 input, lowered with im2col:
//   fwd    C(M x N) = W(M x K) cols(K x N)        M = out channels, K = in channels*3*3, N = H*W
//   dA_T   grad-input  dcols = W^T dOut: (K x M)(M x N), A stored as W (M x K) and read transposed
//   dB_T   grad-weight dW = dOut cols^T: (M x N)(N x K), B stored as cols (K x N) and read transposed
// The case name carries the M, N, K of the product actually computed.
#include <cstdint>
#include <string>
#include <vector>

namespace packd_bench {

struct GemmCase {
  std::string name;
  int64_t M, N, K;
  bool trans_a, trans_b;  // op(A) = A^T: A is stored K x M row-major; op(B) = B^T: B stored N x K
};

inline std::vector<GemmCase> gemm_cases() {
  return {
      {"sq1024", 1024, 1024, 1024, false, false},
      {"sq2048", 2048, 2048, 2048, false, false},
      {"sq4096", 4096, 4096, 4096, false, false},
      // layer3 3x3 conv: M = 256 output channels, K = 256*3*3, N = 64x64 output
      {"wrn_l3_fwd_M256N4096K2304", 256, 4096, 2304, false, false},
      {"wrn_l3_dA_T_M2304N4096K256", 2304, 4096, 256, true, false},
      {"wrn_l3_dB_T_M256N2304K4096", 256, 2304, 4096, false, true},
      // layer4-sized 3x3 conv: M = 1024 output channels, K = 512*3*3, N = 16x16 output
      {"wrn_l4_fwd_M1024N256K4608", 1024, 256, 4608, false, false},
      {"wrn_l4_dA_T_M4608N256K1024", 4608, 256, 1024, true, false},
      {"wrn_l4_dB_T_M1024N4608K256", 1024, 4608, 256, false, true},
  };
}

// Leading dimensions of the row-major operands as stored.
inline int64_t lda(const GemmCase& c) { return c.trans_a ? c.M : c.K; }
inline int64_t ldb(const GemmCase& c) { return c.trans_b ? c.K : c.N; }

}  // namespace packd_bench
