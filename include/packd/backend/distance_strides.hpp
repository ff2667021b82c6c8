#pragma once
// The (O, C, I) view of an operand of the distance kernels (cosine_similarity, normalize), shared
// by the CPU kernels (backend/cpu/distance.hpp) and the CUDA ones (backend/cuda/distance.hpp).
// Plain C++: nvcc includes it.
#include <cstdint>

namespace packd::backend {

// Strides (in elements) of an operand viewed as (O, C, I).
struct Strides3 {
  int64_t o = 0, c = 0, i = 0;
};

}  // namespace packd::backend
