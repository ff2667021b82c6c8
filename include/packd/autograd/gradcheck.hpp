#pragma once
// gradcheck: compares autograd's gradients with central finite differences, in double.
//
// For a function f of some tensors returning a tensor, and random projections v of the output
// (seeded, so a failure repeats), it checks for every element x_j of every input that requires
// grad:
//     (v . f(x + eps e_j) - v . f(x - eps e_j)) / (2 eps)   ~=   (v^T J)_j   from backward(v)
// within atol + rtol * |numeric|. Two independent projections make an error that cancels by
// chance practically impossible. Inputs may be non-contiguous views: elements are perturbed in
// place through their strides (and restored), with grad mode off.
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "packd/ops.hpp"

namespace packd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  int projections = 2;
  uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;   // the first mismatch, naming the input and element
  double max_error = 0;  // largest |analytic - numeric| seen
  explicit operator bool() const { return ok; }
};

template <class F>
GradcheckResult gradcheck(F&& f, const std::vector<Tensor<double>>& inputs, const GradcheckOptions& opt = {}) {
  GradcheckResult res;
  Generator gen(opt.seed);
  std::vector<Tensor<double>> probes;
  std::vector<std::vector<Tensor<double>>> analytic;  // [projection][input]

  // Element offsets of a strided tensor, row-major.
  auto offsets = [](const Tensor<double>& t) {
    std::vector<int64_t> offs;
    offs.reserve(t.numel());
    std::vector<int64_t> idx(t.dim(), 0);
    for (int64_t n = 0; n < t.numel(); ++n) {
      int64_t off = 0;
      for (int d = 0; d < t.dim(); ++d) off += idx[d] * t.strides()[d];
      offs.push_back(off);
      for (int d = t.dim() - 1; d >= 0; --d) {
        if (++idx[d] < t.shape()[d]) break;
        idx[d] = 0;
      }
    }
    return offs;
  };

  for (int p = 0; p < opt.projections; ++p) {
    for (const auto& x : inputs) x.zero_grad();
    Tensor<double> out = f(inputs);
    PACKD_CHECK(out.requires_grad(), "gradcheck: the output does not require grad; set requires_grad_() on an input");
    Tensor<double> v = randn<double>(out.shape(), gen);
    probes.push_back(v);
    out.backward(v);
    std::vector<Tensor<double>> grads;
    for (const auto& x : inputs) grads.push_back(x.requires_grad() && x.grad().defined() ? x.grad().clone() : zeros_like(x));
    analytic.push_back(std::move(grads));
  }

  NoGradGuard no_grad;
  auto project = [&](const Tensor<double>& out, int p) { return sum(mul(out, probes[p])).item(); };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor<double>& x = inputs[i];
    if (!x.requires_grad()) continue;
    double* base = x.data();
    const std::vector<int64_t> offs = offsets(x);
    for (std::size_t j = 0; j < offs.size(); ++j) {
      double& xj = base[offs[j]];
      const double orig = xj;
      xj = orig + opt.eps;
      Tensor<double> plus = f(inputs).clone();
      xj = orig - opt.eps;
      Tensor<double> minus = f(inputs).clone();
      xj = orig;
      for (int p = 0; p < opt.projections; ++p) {
        const double numeric = (project(plus, p) - project(minus, p)) / (2 * opt.eps);
        const double a = analytic[p][i].contiguous().data()[j];
        const double err = std::abs(a - numeric);
        res.max_error = std::max(res.max_error, err);
        if (res.ok && !(err <= opt.atol + opt.rtol * std::abs(numeric))) {
          std::ostringstream os;
          os << "gradcheck: input " << i << " (shape " << x.shape() << "), element " << j << ", projection " << p
             << ": analytic " << a << " vs numeric " << numeric << " (|diff| " << err << ")";
          res.ok = false;
          res.message = os.str();
        }
      }
    }
  }
  return res;
}

}  // namespace packd
