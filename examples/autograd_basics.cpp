// Fits y = 2x - 1 with a 1x1 linear model by gradient descent: tensors, autograd, no-grad updates.
// This is the example in the README.
#include <packd/packd.hpp>

#include <iostream>

int main() {
  using namespace packd;
  Generator gen(0);
  Tensor<float> x = randn<float>({64, 1}, gen);
  Tensor<float> y = x * 2.0f - 1.0f;

  Tensor<float> w = zeros<float>({1, 1}).requires_grad_();
  Tensor<float> b = zeros<float>({1}).requires_grad_();
  for (int step = 0; step < 200; ++step) {
    Tensor<float> pred = addmm(b, x, w);                // (64, 1) = b + x @ w
    Tensor<float> loss = mean(pow(pred - y, 2.0f));     // mean squared error, a 0-d tensor
    loss.backward();
    {
      NoGradGuard no_grad;                              // the update is not part of the graph
      Tensor<float> gw = w.grad(), gb = b.grad();
      add_(w, gw, -0.1f);
      add_(b, gb, -0.1f);
    }
    w.zero_grad();
    b.zero_grad();
    if (step % 50 == 0) std::cout << "step " << step << "  loss " << loss.item() << "\n";
  }
  std::cout << "w = " << w.item() << ", b = " << b.item() << "  (expected 2 and -1)\n";
  return 0;
}
