// The autograd engine: accumulation, reuse, retain_graph, no-grad, detach, version checks,
// deep graphs (no recursion), freeing, and the errors for misuse.
#include "testing.hpp"

using namespace packd;

TEST_CASE("gradients accumulate across backward calls and reused inputs", "[autograd]") {
  Tensor<double> x = from_vector<double>({1.0, 2.0, 3.0}).requires_grad_();
  // x is used three times; its gradient is the sum over all uses (micrograd's reuse bug)
  Tensor<double> y = sum(x * x + x);
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{3, 5, 7});
  sum(x).backward();  // accumulates into .grad()
  CHECK(x.grad().to_vector() == std::vector<double>{4, 6, 8});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a diamond-shaped graph runs each node once with summed gradients", "[autograd]") {
  Tensor<double> x = scalar_tensor(2.0).requires_grad_();
  Tensor<double> a = x * 3.0;
  Tensor<double> b = exp(a);
  Tensor<double> c = a * a;
  Tensor<double> out = b + c;  // d/dx = 3 e^{3x} + 18 x
  out.backward();
  CHECK(x.grad().item() == Approx(3 * std::exp(6.0) + 36.0));
}

TEST_CASE("retain_graph allows a second backward; otherwise it is an error", "[autograd]") {
  Tensor<double> x = scalar_tensor(3.0).requires_grad_();
  Tensor<double> y = exp(x) * x;
  y.backward({}, true);
  const double g1 = x.grad().item();
  y.backward();
  CHECK(x.grad().item() == Approx(2 * g1));
  CHECK_THROWS_PACKD(y.backward(), "trying to backward through the graph a second time");
}

TEST_CASE("no-grad mode records nothing; detach cuts the graph", "[autograd]") {
  Tensor<float> w = ones<float>({2}).requires_grad_();
  {
    NoGradGuard g;
    Tensor<float> y = w * 2.0f;
    CHECK_FALSE(y.requires_grad());
    {
      EnableGradGuard e;
      CHECK((w * 2.0f).requires_grad());
    }
  }
  CHECK(is_grad_enabled());
  Tensor<float> d = (w * 2.0f).detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  Tensor<float> y = sum(d * w);
  y.backward();
  CHECK(w.grad().to_vector() == std::vector<float>{2, 2});
}

TEST_CASE("modifying a saved tensor in place is detected at backward", "[autograd]") {
  Tensor<double> w = ones<double>({3}).requires_grad_();
  Tensor<double> x = full<double>({3}, 2.0);
  Tensor<double> y = sum(w * x);  // saves x for w's gradient
  mul_(x, 5.0);
  CHECK_THROWS_PACKD(y.backward(), "modified by an in-place operation");
  // through a view of the same storage as well
  Tensor<double> x2 = full<double>({2, 3}, 2.0);
  Tensor<double> y2 = sum(w * x2);
  x2.select(0, 1).fill_(0.0);
  CHECK_THROWS_PACKD(y2.backward(), "is at version");
  // outputs saved by their own op (exp saves its result)
  Tensor<double> e = exp(w * 1.0);
  Tensor<double> z = sum(e);
  {
    NoGradGuard g;
    e.fill_(0.0);
  }
  Tensor<double> e2 = exp(w);
  Tensor<double> z2 = sum(e2 * 2.0);
  CHECK_NOTHROW(z2.backward());
}

TEST_CASE("misuse gives clear errors", "[autograd]") {
  Tensor<float> x = ones<float>({2, 3}).requires_grad_();
  Tensor<float> y = x * 2.0f;
  CHECK_THROWS_PACKD(y.backward(), "backward: grad can be implicitly created only for one-element outputs; this output has shape (2, 3)");
  CHECK_THROWS_PACKD(y.backward(ones<float>({3})), "backward: gradient of shape (3,) for an output of shape (2, 3)");
  CHECK_THROWS_PACKD(ones<float>({1}).backward(), "does not require grad and has no grad_fn");
  CHECK_THROWS_PACKD(y.requires_grad_(), "requires_grad_: only leaf tensors can change requires_grad");
  y.backward(ones<float>({2, 3}));  // an explicit gradient works
  CHECK(x.grad().to_vector() == std::vector<float>(6, 2.0f));
}

TEST_CASE("a leaf used as the root receives its gradient", "[autograd]") {
  Tensor<double> x = scalar_tensor(1.5).requires_grad_();
  x.backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("gradients flow only to inputs that require them", "[autograd]") {
  Tensor<double> a = ones<double>({2}).requires_grad_();
  Tensor<double> b = ones<double>({2});
  sum(a * b).backward();
  CHECK(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("deep graphs backpropagate and are destroyed without recursion", "[autograd]") {
  // 200k nodes: a recursive topological sort or destructor would overflow the stack here.
  Tensor<double> x = scalar_tensor(1.0).requires_grad_();
  Tensor<double> y = x;
  for (int i = 0; i < 200000; ++i) y = y * 1.0;
  y.backward();
  CHECK(x.grad().item() == 1.0);
  y = Tensor<double>();  // drops the whole chain
  Tensor<double> z = x;
  for (int i = 0; i < 200000; ++i) z = z + 0.0;
  z = Tensor<double>();  // without backward (saved tensors still held)
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("saved tensors are freed after backward", "[autograd]") {
  Tensor<double> x = ones<double>({1000}).requires_grad_();
  Tensor<double> tmp = x * 2.0;
  Tensor<double> y = sum(tmp * tmp);  // the mul node saves tmp
  std::weak_ptr<Storage> storage = tmp.storage();
  tmp = Tensor<double>();
  CHECK_FALSE(storage.expired());  // held only by the graph's saved tensors now
  y.backward();
  CHECK(storage.expired());  // released as soon as the node ran
  CHECK(x.grad().at({0}) == 8.0);
}

TEST_CASE("gradcheck catches a wrong gradient", "[autograd][gradcheck]") {
  // A deliberately wrong backward: forward x^2, backward claims 3x.
  auto wrong = [](const std::vector<Tensor<double>>& in) {
    const Tensor<double>& x = in[0];
    Tensor<double> out = detail::map<double>(x, "square", [](double v) { return v * v; });
    record<double>("square", {&x}, out, [sx = save(x, "square")](const Tensor<double>& g, const Node<double>&) {
      return std::vector<Tensor<double>>{g * sx.unpack() * 3.0};
    });
    return out;
  };
  Tensor<double> x = from_vector<double>({0.5, -1.0, 2.0}).requires_grad_();
  GradcheckResult r = gradcheck(wrong, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("input 0") != std::string::npos);
  auto right = [](const std::vector<Tensor<double>>& in) { return in[0] * in[0]; };
  CHECK(gradcheck(right, {x}).ok);
}
