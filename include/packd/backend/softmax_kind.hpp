#pragma once
// Which member of the softmax family a kernel computes; shared by the CPU kernels
// (backend/cpu/softmax.hpp) and the CUDA ones (backend/cuda/softmax.hpp). Plain C++: nvcc includes it.

namespace packd::backend {

enum class SoftmaxKind { softmax, log_softmax, logsumexp };

}  // namespace packd::backend
