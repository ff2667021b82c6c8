// A user's own CUDA kernel on packd tensors (docs/cuda.md, "Your own kernels"): this .cu file holds
// only device code and a plain host entry point; scale_shift.cpp, compiled by the C++ compiler, does
// the tensor work and calls it. It includes packd's kernel headers (packd/cuda/*.cuh, on the
// include path of packd::packd_cuda) and runs on packd's stream, so it is ordered with packd's ops.
#include "packd/cuda/kernels/elementwise.cuh"

// y = relu(a * x + b) for a contiguous float tensor of n elements, in place: a hand-written
// grid-stride lambda (for_each_index) ...
void scale_shift_relu(float* x, int64_t n, float a, float b) {
  packd::cuda::for_each_index(n, [=] __device__(int64_t i) {
    const float v = a * x[i] + b;
    x[i] = v > 0.0f ? v : 0.0f;
  });
}

// ... and packd's own broadcasting kernel with a functor of the user's: out = max(x, y) over any
// strides (here row-vector y broadcast over the rows of x).
struct Max {
  __host__ __device__ float operator()(float p, float q) const { return p > q ? p : q; }
};

void broadcast_max(float* out, const packd::Shape& shape, const packd::Shape& so, const float* x, const packd::Shape& sx,
                   const float* y, const packd::Shape& sy) {
  packd::cuda::kernels::binary(out, shape, so, x, sx, y, sy, Max{});
}
