#pragma once
// Printing tensors the way PyTorch does: nested brackets, a common width, 4 decimals for floats
// (scientific when the magnitudes call for it), and "..." summaries for tensors over 1000 elements.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "packd/ops/view.hpp"

namespace packd {

namespace detail {
struct PrintFormat {
  bool sci = false;
  int width = 1;
};

template <Scalar T>
std::string format_value(T v, const PrintFormat& f) {
  std::ostringstream os;
  if constexpr (std::is_integral_v<T>) {
    os << v;
  } else if (std::isnan(v) || std::isinf(v)) {
    os << (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
  } else if (f.sci) {
    os << std::scientific << std::setprecision(4) << double(v);
  } else {
    os << std::fixed << std::setprecision(4) << double(v);
  }
  return os.str();
}

template <Scalar T>
void print_rec(std::ostream& os, const Tensor<T>& t, int d, std::vector<int64_t>& idx, const PrintFormat& f, bool summarise,
               int indent) {
  const int64_t n = t.shape()[d];
  const int64_t edge = 3;
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * edge && i == edge) {
      os << (d + 1 == t.dim() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - edge - 1;
      continue;
    }
    idx[d] = i;
    if (d + 1 == t.dim()) {
      int64_t off = 0;
      for (int k = 0; k < t.dim(); ++k) off += idx[k] * t.strides()[k];
      std::string s = format_value(t.data()[off], f);
      os << std::string(std::max<int>(0, f.width - int(s.size())), ' ') << s;
    } else {
      print_rec(os, t, d + 1, idx, f, summarise, indent + 1);
    }
    // blocks of rank r > 1 are separated by r - 1 blank lines, as PyTorch prints them
    if (i + 1 < n) os << (d + 1 == t.dim() ? ", " : ",\n" + std::string(t.dim() - d - 2, '\n') + std::string(indent + 1, ' '));
  }
  os << ']';
}
}  // namespace detail

template <Scalar T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  Tensor<T> c = t.to(Device::cpu());
  detail::PrintFormat f;
  if constexpr (FloatScalar<T>) {
    double lo = INFINITY, hi = 0;
    for (T v : c.to_vector())
      if (std::isfinite(v) && v != T(0)) lo = std::min(lo, std::abs(double(v))), hi = std::max(hi, std::abs(double(v)));
    f.sci = hi > 0 && (hi >= 1e8 || lo < 1e-4 || hi / lo > 1e6);
  }
  for (T v : c.to_vector()) f.width = std::max<int>(f.width, int(detail::format_value(v, f).size()));
  os << "tensor(";
  if (c.dim() == 0) {
    os << detail::format_value(c.item(), f);
  } else if (c.numel() == 0) {
    os << "[]";
  } else {
    std::vector<int64_t> idx(c.dim(), 0);
    detail::print_rec(os, c, 0, idx, f, c.numel() > 1000, 7);
  }
  os << ", shape=" << c.shape() << ", dtype=" << dtype_name(t.dtype());
  if (!t.device().is_cpu()) os << ", device=" << t.device();
  if (t.requires_grad()) os << (t.is_leaf() ? ", requires_grad=true" : ", grad_fn=") << (t.is_leaf() ? "" : t.grad_fn()->name());
  return os << ')';
}

}  // namespace packd
