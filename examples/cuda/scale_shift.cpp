// The host side of the custom-kernel example (scale_shift.cu): packd tensors on cuda:0, the user's
// kernels called on their device pointers, the result checked against the same work on the CPU.
// Without a CUDA device it says so and exits 0.
#include <cstdio>

#include "packd/packd.hpp"

void scale_shift_relu(float* x, int64_t n, float a, float b);
void broadcast_max(float* out, const packd::Shape& shape, const packd::Shape& so, const float* x, const packd::Shape& sx,
                   const float* y, const packd::Shape& sy);

int main() {
  using namespace packd;
  if (!cuda::cuda_available()) {
    std::puts("scale_shift: no CUDA device visible; nothing to run");
    return 0;
  }
  Generator gen(0);
  Tensor<float> x = randn<float>({4, 8}, gen);  // (4, 8)
  Tensor<float> y = randn<float>({1, 8}, gen);  // (1, 8), broadcast over the rows

  Tensor<float> xd = x.to(Device::cuda(0)).contiguous();
  scale_shift_relu(xd.data(), xd.numel(), 2.0f, 0.5f);
  Tensor<float> expect = relu(add(mul(x, 2.0f), 0.5f));

  Tensor<float> yd = y.to(Device::cuda(0));
  Tensor<float> out = empty<float>({4, 8}, Device::cuda(0));
  const Shape y_strides{0, 1};  // broadcast strides of (1, 8) over (4, 8)
  broadcast_max(out.data(), out.shape(), out.strides(), xd.data(), xd.strides(), yd.data(), y_strides);
  Tensor<float> expect_max = where(gt(expect, y), expect, y.expand({4, 8}));

  const double err1 = amax(abs(sub(xd.to(Device::cpu()), expect))).item();
  const double err2 = amax(abs(sub(out.to(Device::cpu()), expect_max))).item();
  std::printf("scale_shift_relu max error %g, broadcast_max max error %g\n", err1, err2);
  return err1 < 1e-6 && err2 < 1e-6 ? 0 : 1;
}
