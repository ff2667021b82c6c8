// Uses packd as an outside project would, and checks one gradient: d/dx sum(x * x) = 2x.
#include <packd/packd.hpp>

#include <cstdio>

int main() {
  packd::Generator gen(7);
  auto x = packd::randn<float>({3, 4}, gen).requires_grad_();
  packd::sum(x * x).backward();
  const float err = packd::amax(packd::abs(x.grad() - x.detach() * 2.0f)).item();
  std::printf("consumer: max |grad - 2x| = %g\n", double(err));
  return err < 1e-6f ? 0 : 1;
}
