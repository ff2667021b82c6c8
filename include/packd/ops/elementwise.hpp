#pragma once
// Elementwise ops with NumPy broadcasting, each with its checks, forward and backward together.
//
//   binary (broadcast):  add sub mul div pow   and operators + - * /
//   unary:               neg exp log sqrt rsqrt abs relu sigmoid tanh clamp pow(x, scalar)
//   comparisons:         eq ne lt le gt ge -> a Tensor<T> mask of 0 and 1 (not differentiable)
//   selection:           where(cond, a, b): a where cond != 0, else b (differentiable in a and b)
//   in place:            add_ sub_ mul_ div_ (bump the version counter; refused on tensors that
//                        require grad while grad mode is on)
//
// Gradients of broadcast inputs are summed back to the input's shape (sum_to). At kinks
// (relu and abs at 0, clamp at its bounds) the gradient follows PyTorch: relu'(0) = 0,
// abs'(0) = 0, clamp passes the gradient where min <= x <= max.
#include <cmath>
#include <type_traits>

#include "packd/autograd/node.hpp"
#include "packd/backend/cpu/elementwise.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/ops/factory.hpp"
#include "packd/ops/fwd.hpp"

namespace packd {

namespace detail {

template <Scalar T>
void check_same_device(const Tensor<T>& a, const Tensor<T>& b, const char* op) {
  PACKD_CHECK(a.device() == b.device(), op, ": expected both tensors on one device, got ", a.device(), " (shape ",
              a.shape(), ") and ", b.device(), " (shape ", b.shape(), ")");
}

// out = f(x) over a new contiguous tensor.
template <Scalar To, Scalar T, class F>
Tensor<To> map(const Tensor<T>& x, const char* op, F f) {
  Tensor<To> out = Tensor<To>::empty(x.shape(), x.device());
  backend::dispatch(op, x.device(), [&] { cpu::unary_kernel(out.data(), out.shape(), out.strides(), x.data(), x.strides(), f); },
                    backend::no_cuda_kernel{op});
  return out;
}

// out = f(a, b) over the broadcast shape.
template <Scalar To, Scalar T, class F>
Tensor<To> map(const Tensor<T>& a, const Tensor<T>& b, const char* op, F f) {
  check_same_device(a, b, op);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor<To> out = Tensor<To>::empty(shape, a.device());
  backend::dispatch(op, a.device(), [&] {
    cpu::binary_kernel(out.data(), shape, out.strides(), a.data(), broadcast_strides(a, shape), b.data(), broadcast_strides(b, shape), f);
  }, backend::no_cuda_kernel{op});
  return out;
}

// self = f(self, other), other broadcast to self's shape.
template <Scalar T, class F>
Tensor<T>& map_inplace(Tensor<T>& self, const Tensor<T>& other, const char* op, F f) {
  check_inplace_allowed(self, op);
  check_same_device(self, other, op);
  PACKD_CHECK(other.dim() <= self.dim() && broadcast_shapes(self.shape(), other.shape(), op) == self.shape(), op,
              ": the result of broadcasting ", other.shape(), " to ", self.shape(), " would not fit in place");
  backend::dispatch(op, self.device(), [&] {
    cpu::binary_kernel(self.data(), self.shape(), self.strides(), self.data(), self.strides(), other.data(),
                       broadcast_strides(other, self.shape()), f);
  }, backend::no_cuda_kernel{op});
  self.bump_version();
  return self;
}

template <FloatScalar T>
using Grads = std::vector<Tensor<T>>;

}  // namespace detail

// ---- binary, broadcasting -----------------------------------------------------------------------

template <Scalar T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map<T>(a, b, "add", [](T x, T y) { return T(x + y); });
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(a, b))
      record<T>("add", {&a, &b}, out, [sa = a.shape(), sb = b.shape()](const Tensor<T>& g, const Node<T>& n) {
        return detail::Grads<T>{n.needs_input_grad(0) ? sum_to(g, sa) : Tensor<T>(),
                                n.needs_input_grad(1) ? sum_to(g, sb) : Tensor<T>()};
      });
  }
  return out;
}

template <Scalar T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map<T>(a, b, "sub", [](T x, T y) { return T(x - y); });
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(a, b))
      record<T>("sub", {&a, &b}, out, [sa = a.shape(), sb = b.shape()](const Tensor<T>& g, const Node<T>& n) {
        return detail::Grads<T>{n.needs_input_grad(0) ? sum_to(g, sa) : Tensor<T>(),
                                n.needs_input_grad(1) ? sum_to(neg(g), sb) : Tensor<T>()};
      });
  }
  return out;
}

template <Scalar T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map<T>(a, b, "mul", [](T x, T y) { return T(x * y); });
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(a, b)) {
      // each input's gradient needs only the other input
      SavedTensor<T> sa = b.requires_grad() ? save(a, "mul") : SavedTensor<T>();
      SavedTensor<T> sb = a.requires_grad() ? save(b, "mul") : SavedTensor<T>();
      record<T>("mul", {&a, &b}, out, [sa, sb, sha = a.shape(), shb = b.shape()](const Tensor<T>& g, const Node<T>& n) {
        return detail::Grads<T>{n.needs_input_grad(0) ? sum_to(mul(g, sb.unpack()), sha) : Tensor<T>(),
                                n.needs_input_grad(1) ? sum_to(mul(g, sa.unpack()), shb) : Tensor<T>()};
      });
    }
  }
  return out;
}

template <Scalar T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map<T>(a, b, "div", [](T x, T y) { return T(x / y); });
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(a, b)) {
      SavedTensor<T> sb = save(b, "div");
      SavedTensor<T> so = b.requires_grad() ? save(out, "div") : SavedTensor<T>();
      record<T>("div", {&a, &b}, out, [sb, so, sha = a.shape(), shb = b.shape()](const Tensor<T>& g, const Node<T>& n) {
        // d(a/b)/da = 1/b ; d(a/b)/db = -(a/b)/b
        const Tensor<T>& bv = sb.unpack();
        Tensor<T> ga, gb;
        if (n.needs_input_grad(0)) ga = sum_to(div(g, bv), sha);
        if (n.needs_input_grad(1))
          gb = sum_to(detail::map<T>(mul(g, so.unpack()), bv, "div_backward", [](T go, T y) { return T(-go / y); }), shb);
        return detail::Grads<T>{ga, gb};
      });
    }
  }
  return out;
}

template <FloatScalar T>
Tensor<T> pow(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map<T>(a, b, "pow", [](T x, T y) { return T(std::pow(x, y)); });
  if (any_requires_grad(a, b)) {
    record<T>("pow", {&a, &b}, out,
              [sa = save(a, "pow"), sb = save(b, "pow"), so = save(out, "pow")](const Tensor<T>& g, const Node<T>& n) {
                const Tensor<T>&av = sa.unpack(), &bv = sb.unpack();
                Tensor<T> ga, gb;
                // d(a^b)/da = b a^(b-1) (0 where b == 0, as PyTorch); d(a^b)/db = a^b log a (0 where a == 0)
                if (n.needs_input_grad(0))
                  ga = sum_to(mul(g, detail::map<T>(av, bv, "pow_backward",
                                                    [](T x, T y) { return y == T(0) ? T(0) : T(y * std::pow(x, y - 1)); })),
                              av.shape());
                if (n.needs_input_grad(1))
                  gb = sum_to(mul(g, detail::map<T>(so.unpack(), av, "pow_backward",
                                                    [](T p, T x) { return x == T(0) ? T(0) : T(p * std::log(x)); })),
                              bv.shape());
                return detail::Grads<T>{ga, gb};
              });
  }
  return out;
}

// Scalar right-hand sides: the scalar becomes a 0-dimensional tensor and broadcasts.
template <Scalar T> Tensor<T> add(const Tensor<T>& a, scalar_of<T> s) { return add(a, scalar_tensor<T>(s, a.device())); }
template <Scalar T> Tensor<T> sub(const Tensor<T>& a, scalar_of<T> s) { return sub(a, scalar_tensor<T>(s, a.device())); }
template <Scalar T> Tensor<T> mul(const Tensor<T>& a, scalar_of<T> s) { return mul(a, scalar_tensor<T>(s, a.device())); }
template <Scalar T> Tensor<T> div(const Tensor<T>& a, scalar_of<T> s) { return div(a, scalar_tensor<T>(s, a.device())); }

template <Scalar T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <Scalar T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <Scalar T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <Scalar T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <Scalar T> Tensor<T> operator+(const Tensor<T>& a, scalar_of<T> s) { return add(a, s); }
template <Scalar T> Tensor<T> operator-(const Tensor<T>& a, scalar_of<T> s) { return sub(a, s); }
template <Scalar T> Tensor<T> operator*(const Tensor<T>& a, scalar_of<T> s) { return mul(a, s); }
template <Scalar T> Tensor<T> operator/(const Tensor<T>& a, scalar_of<T> s) { return div(a, s); }
template <Scalar T> Tensor<T> operator+(scalar_of<T> s, const Tensor<T>& a) { return add(a, s); }
template <Scalar T> Tensor<T> operator-(scalar_of<T> s, const Tensor<T>& a) { return sub(scalar_tensor<T>(s, a.device()), a); }
template <Scalar T> Tensor<T> operator*(scalar_of<T> s, const Tensor<T>& a) { return mul(a, s); }
template <Scalar T> Tensor<T> operator/(scalar_of<T> s, const Tensor<T>& a) { return div(scalar_tensor<T>(s, a.device()), a); }
template <Scalar T> Tensor<T> operator-(const Tensor<T>& a) { return neg(a); }

// ---- unary ---------------------------------------------------------------------------------------

namespace detail {
// A unary op y = f(x) whose input gradient is grad(g, x, y) elementwise.
template <Scalar T, class F, class Grad>
Tensor<T> unary_op(const Tensor<T>& x, const char* op, F f, Grad grad) {
  Tensor<T> out = map<T>(x, op, f);
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(x))
      record<T>(op, {&x}, out, [sx = save(x, op), so = save(out, op), op, grad](const Tensor<T>& g, const Node<T>&) {
        const Tensor<T>&xv = sx.unpack(), &yv = so.unpack();
        Tensor<T> gx = Tensor<T>::empty(g.shape(), g.device());
        backend::dispatch(op, g.device(), [&] {
          cpu::ternary_kernel(gx.data(), g.shape(), gx.strides(), g.data(), g.strides(), xv.data(), xv.strides(),
                              yv.data(), yv.strides(), grad);
        }, backend::no_cuda_kernel{op});
        return Grads<T>{gx};
      });
  }
  return out;
}
}  // namespace detail

template <Scalar T>
Tensor<T> neg(const Tensor<T>& x) {
  return detail::unary_op(x, "neg", [](T v) { return T(-v); }, [](T g, T, T) { return T(-g); });
}
template <FloatScalar T>
Tensor<T> exp(const Tensor<T>& x) {
  return detail::unary_op(x, "exp", [](T v) { return std::exp(v); }, [](T g, T, T y) { return T(g * y); });
}
template <FloatScalar T>
Tensor<T> log(const Tensor<T>& x) {
  return detail::unary_op(x, "log", [](T v) { return std::log(v); }, [](T g, T v, T) { return T(g / v); });
}
template <FloatScalar T>
Tensor<T> sqrt(const Tensor<T>& x) {
  return detail::unary_op(x, "sqrt", [](T v) { return std::sqrt(v); }, [](T g, T, T y) { return T(g * T(0.5) / y); });
}
template <FloatScalar T>
Tensor<T> rsqrt(const Tensor<T>& x) {
  return detail::unary_op(x, "rsqrt", [](T v) { return T(1) / std::sqrt(v); }, [](T g, T, T y) { return T(g * T(-0.5) * y * y * y); });
}
template <Scalar T>
Tensor<T> abs(const Tensor<T>& x) {
  return detail::unary_op(x, "abs", [](T v) { return v < T(0) ? T(-v) : v; },
                          [](T g, T v, T) { return v > T(0) ? g : v < T(0) ? T(-g) : T(0); });
}
template <Scalar T>
Tensor<T> relu(const Tensor<T>& x) {
  return detail::unary_op(x, "relu", [](T v) { return v > T(0) ? v : T(0); }, [](T g, T, T y) { return y > T(0) ? g : T(0); });
}
template <FloatScalar T>
Tensor<T> sigmoid(const Tensor<T>& x) {
  // Written so that neither branch overflows exp for large |v|.
  return detail::unary_op(
      x, "sigmoid",
      [](T v) {
        if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
        const T e = std::exp(v);
        return e / (T(1) + e);
      },
      [](T g, T, T y) { return T(g * y * (T(1) - y)); });
}
template <FloatScalar T>
Tensor<T> tanh(const Tensor<T>& x) {
  return detail::unary_op(x, "tanh", [](T v) { return std::tanh(v); }, [](T g, T, T y) { return T(g * (T(1) - y * y)); });
}
template <FloatScalar T>
Tensor<T> pow(const Tensor<T>& x, scalar_of<T> e) {
  return detail::unary_op(x, "pow", [e](T v) { return T(std::pow(v, e)); },
                          [e](T g, T v, T) { return e == T(0) ? T(0) : T(g * e * std::pow(v, e - T(1))); });
}
// Clamps into [lo, hi]. Use -inf / +inf (or the one-sided helpers) for a single bound.
template <Scalar T>
Tensor<T> clamp(const Tensor<T>& x, scalar_of<T> lo, scalar_of<T> hi) {
  PACKD_CHECK(!(lo > hi), "clamp: min ", lo, " is greater than max ", hi);
  return detail::unary_op(x, "clamp", [lo, hi](T v) { return v < lo ? lo : v > hi ? hi : v; },
                          [lo, hi](T g, T v, T) { return v >= lo && v <= hi ? g : T(0); });
}
template <Scalar T>
Tensor<T> clamp_min(const Tensor<T>& x, scalar_of<T> lo) {
  return clamp(x, lo, std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max());
}
template <Scalar T>
Tensor<T> clamp_max(const Tensor<T>& x, scalar_of<T> hi) {
  return clamp(x, std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest(), hi);
}

// ---- comparisons and where ------------------------------------------------------------------------

#define PACKD_COMPARISON(name, expr)                                                                 \
  template <Scalar T>                                                                               \
  Tensor<T> name(const Tensor<T>& a, const Tensor<T>& b) {                                          \
    return detail::map<T>(a, b, #name, [](T x, T y) { return (expr) ? T(1) : T(0); });              \
  }                                                                                                 \
  template <Scalar T>                                                                               \
  Tensor<T> name(const Tensor<T>& a, scalar_of<T> s) {                                              \
    return name(a, scalar_tensor<T>(s, a.device()));                                                \
  }
PACKD_COMPARISON(eq, x == y)
PACKD_COMPARISON(ne, x != y)
PACKD_COMPARISON(lt, x < y)
PACKD_COMPARISON(le, x <= y)
PACKD_COMPARISON(gt, x > y)
PACKD_COMPARISON(ge, x >= y)
#undef PACKD_COMPARISON

// a where cond != 0, b elsewhere; all three broadcast together.
template <Scalar T>
Tensor<T> where(const Tensor<T>& cond, const Tensor<T>& a, const Tensor<T>& b) {
  detail::check_same_device(cond, a, "where");
  detail::check_same_device(a, b, "where");
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor<T> out = Tensor<T>::empty(shape, a.device());
  backend::dispatch("where", a.device(), [&] {
    cpu::ternary_kernel(out.data(), shape, out.strides(), cond.data(), detail::broadcast_strides(cond, shape), a.data(),
                        detail::broadcast_strides(a, shape), b.data(), detail::broadcast_strides(b, shape),
                        [](T c, T x, T y) { return c != T(0) ? x : y; });
  }, backend::no_cuda_kernel{"where"});
  if constexpr (FloatScalar<T>) {
    if (any_requires_grad(a, b)) {
      record<T>("where", {&a, &b}, out, [sc = save(cond, "where"), sa = a.shape(), sb = b.shape()](const Tensor<T>& g, const Node<T>& n) {
        const Tensor<T>& c = sc.unpack();
        Tensor<T> zero = scalar_tensor<T>(T(0), g.device());
        return detail::Grads<T>{n.needs_input_grad(0) ? sum_to(where(c, g, zero), sa) : Tensor<T>(),
                                n.needs_input_grad(1) ? sum_to(where(c, zero, g), sb) : Tensor<T>()};
      });
    }
  }
  return out;
}

// ---- in place ---------------------------------------------------------------------------------------

template <Scalar T>
Tensor<T>& add_(Tensor<T>& self, const Tensor<T>& other, T alpha) {
  if (alpha == T(1)) return detail::map_inplace(self, other, "add_", [](T x, T y) { return T(x + y); });
  return detail::map_inplace(self, other, "add_", [alpha](T x, T y) { return T(x + alpha * y); });
}
template <Scalar T>
Tensor<T>& add_(Tensor<T>& self, const Tensor<T>& other) {
  return add_(self, other, T(1));
}
template <Scalar T>
Tensor<T>& sub_(Tensor<T>& self, const Tensor<T>& other) {
  return detail::map_inplace(self, other, "sub_", [](T x, T y) { return T(x - y); });
}
template <Scalar T>
Tensor<T>& mul_(Tensor<T>& self, const Tensor<T>& other) {
  return detail::map_inplace(self, other, "mul_", [](T x, T y) { return T(x * y); });
}
template <Scalar T>
Tensor<T>& mul_(Tensor<T>& self, scalar_of<T> s) {
  return mul_(self, scalar_tensor<T>(s, self.device()));
}
template <Scalar T>
Tensor<T>& div_(Tensor<T>& self, const Tensor<T>& other) {
  return detail::map_inplace(self, other, "div_", [](T x, T y) { return T(x / y); });
}

}  // namespace packd

// Completes the Tensor class (autograd methods, the other core ops) for a TU that includes only
// this header: see packd/tensor.hpp.
#include "packd/tensor.hpp"
