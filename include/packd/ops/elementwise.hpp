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
#include "packd/backend/cuda/elementwise.hpp"
#include "packd/backend/dispatch.hpp"
#include "packd/backend/functors.hpp"
#include "packd/ops/factory.hpp"
#include "packd/ops/fwd.hpp"

namespace packd {

namespace detail {

template <Scalar T>
void check_same_device(const Tensor<T>& a, const Tensor<T>& b, const char* op) {
  PACKD_CHECK(a.device() == b.device(), op, ": expected both tensors on one device, got ", a.device(), " (shape ",
              a.shape(), ") and ", b.device(), " (shape ", b.shape(), ")");
}

// Elementwise ops run on CUDA when the backend instantiates their functor (fn::has_cuda_kernel: every
// functor of packd/backend/functors.hpp); an op built here on a lambda of its own is CPU-only, and
// a CUDA tensor then stops with an error naming the op.

// out = f(x) over a new contiguous tensor.
template <Scalar To, Scalar T, class F>
Tensor<To> map(const Tensor<T>& x, const char* op, F f) {
  Tensor<To> out = Tensor<To>::empty(x.shape(), x.device());
  const Shape &shape = out.shape(), &so = out.strides(), &sx = x.strides();
  backend::dispatch(op, x.device(), [&] { cpu::unary_kernel(out.data(), shape, so, x.data(), sx, f); }, [&] {
    if constexpr (fn::has_cuda_kernel<F>) cuda::unary_kernel(out.data(), shape, so, x.data(), sx, f);
    else backend::no_cuda_kernel{op}();
  });
  return out;
}

// out = f(a, b) over the broadcast shape.
template <Scalar To, Scalar T, class F>
Tensor<To> map(const Tensor<T>& a, const Tensor<T>& b, const char* op, F f) {
  check_same_device(a, b, op);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor<To> out = Tensor<To>::empty(shape, a.device());
  const Shape &so = out.strides(), sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  backend::dispatch(op, a.device(), [&] { cpu::binary_kernel(out.data(), shape, so, a.data(), sa, b.data(), sb, f); }, [&] {
    if constexpr (fn::has_cuda_kernel<F>) cuda::binary_kernel(out.data(), shape, so, a.data(), sa, b.data(), sb, f);
    else backend::no_cuda_kernel{op}();
  });
  return out;
}

// self = f(self, other), other broadcast to self's shape.
template <Scalar T, class F>
Tensor<T>& map_inplace(Tensor<T>& self, const Tensor<T>& other, const char* op, F f) {
  check_inplace_allowed(self, op);
  check_same_device(self, other, op);
  PACKD_CHECK(other.dim() <= self.dim() && broadcast_shapes(self.shape(), other.shape(), op) == self.shape(), op,
              ": the result of broadcasting ", other.shape(), " to ", self.shape(), " would not fit in place");
  const Shape &shape = self.shape(), &ss = self.strides(), so = broadcast_strides(other, self.shape());
  T* p = self.data();
  backend::dispatch(op, self.device(), [&] { cpu::binary_kernel(p, shape, ss, p, ss, other.data(), so, f); }, [&] {
    if constexpr (fn::has_cuda_kernel<F>) cuda::binary_kernel(p, shape, ss, p, ss, other.data(), so, f);
    else backend::no_cuda_kernel{op}();
  });
  self.bump_version();
  return self;
}

template <FloatScalar T>
using Grads = std::vector<Tensor<T>>;

}  // namespace detail

// ---- binary, broadcasting -----------------------------------------------------------------------

template <Scalar T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map<T>(a, b, "add", fn::Add{});
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
  Tensor<T> out = detail::map<T>(a, b, "sub", fn::Sub{});
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
  Tensor<T> out = detail::map<T>(a, b, "mul", fn::Mul{});
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
  Tensor<T> out = detail::map<T>(a, b, "div", fn::Div{});
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
          gb = sum_to(detail::map<T>(mul(g, so.unpack()), bv, "div_backward", fn::DivGradB{}), shb);
        return detail::Grads<T>{ga, gb};
      });
    }
  }
  return out;
}

template <FloatScalar T>
Tensor<T> pow(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map<T>(a, b, "pow", fn::Pow{});
  if (any_requires_grad(a, b)) {
    record<T>("pow", {&a, &b}, out,
              [sa = save(a, "pow"), sb = save(b, "pow"), so = save(out, "pow")](const Tensor<T>& g, const Node<T>& n) {
                const Tensor<T>&av = sa.unpack(), &bv = sb.unpack();
                Tensor<T> ga, gb;
                // d(a^b)/da = b a^(b-1) (0 where b == 0, as PyTorch); d(a^b)/db = a^b log a (0 where a == 0)
                if (n.needs_input_grad(0))
                  ga = sum_to(mul(g, detail::map<T>(av, bv, "pow_backward", fn::PowGradBase{})),
                              av.shape());
                if (n.needs_input_grad(1))
                  gb = sum_to(mul(g, detail::map<T>(so.unpack(), av, "pow_backward", fn::PowGradExponent{})),
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
        }, [&] {
          if constexpr (fn::has_cuda_kernel<Grad>)
            cuda::ternary_kernel(gx.data(), g.shape(), gx.strides(), g.data(), g.strides(), xv.data(), xv.strides(),
                                 yv.data(), yv.strides(), grad);
          else backend::no_cuda_kernel{op}();
        });
        return Grads<T>{gx};
      });
  }
  return out;
}
}  // namespace detail

template <Scalar T>
Tensor<T> neg(const Tensor<T>& x) {
  return detail::unary_op(x, "neg", fn::Neg{}, fn::NegGrad{});
}
template <FloatScalar T>
Tensor<T> exp(const Tensor<T>& x) {
  return detail::unary_op(x, "exp", fn::Exp{}, fn::ExpGrad{});
}
template <FloatScalar T>
Tensor<T> log(const Tensor<T>& x) {
  return detail::unary_op(x, "log", fn::Log{}, fn::LogGrad{});
}
template <FloatScalar T>
Tensor<T> sqrt(const Tensor<T>& x) {
  return detail::unary_op(x, "sqrt", fn::Sqrt{}, fn::SqrtGrad{});
}
template <FloatScalar T>
Tensor<T> rsqrt(const Tensor<T>& x) {
  return detail::unary_op(x, "rsqrt", fn::Rsqrt{}, fn::RsqrtGrad{});
}
template <Scalar T>
Tensor<T> abs(const Tensor<T>& x) {
  return detail::unary_op(x, "abs", fn::Abs{}, fn::AbsGrad{});
}
template <Scalar T>
Tensor<T> relu(const Tensor<T>& x) {
  return detail::unary_op(x, "relu", fn::Relu{}, fn::ReluGrad{});
}
template <FloatScalar T>
Tensor<T> sigmoid(const Tensor<T>& x) {
  return detail::unary_op(x, "sigmoid", fn::Sigmoid{}, fn::SigmoidGrad{});
}
template <FloatScalar T>
Tensor<T> tanh(const Tensor<T>& x) {
  return detail::unary_op(x, "tanh", fn::Tanh{}, fn::TanhGrad{});
}
template <FloatScalar T>
Tensor<T> pow(const Tensor<T>& x, scalar_of<T> e) {
  return detail::unary_op(x, "pow", fn::PowScalar{double(e)}, fn::PowScalarGrad{double(e)});
}
// Clamps into [lo, hi]. Use -inf / +inf (or the one-sided helpers) for a single bound.
template <Scalar T>
Tensor<T> clamp(const Tensor<T>& x, scalar_of<T> lo, scalar_of<T> hi) {
  PACKD_CHECK(!(lo > hi), "clamp: min ", lo, " is greater than max ", hi);
  return detail::unary_op(x, "clamp", fn::Clamp{double(lo), double(hi)}, fn::ClampGrad{double(lo), double(hi)});
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

#define PACKD_COMPARISON(name, functor)                                                              \
  template <Scalar T>                                                                               \
  Tensor<T> name(const Tensor<T>& a, const Tensor<T>& b) {                                          \
    return detail::map<T>(a, b, #name, fn::functor{});                                              \
  }                                                                                                 \
  template <Scalar T>                                                                               \
  Tensor<T> name(const Tensor<T>& a, scalar_of<T> s) {                                              \
    return name(a, scalar_tensor<T>(s, a.device()));                                                \
  }
PACKD_COMPARISON(eq, Eq)
PACKD_COMPARISON(ne, Ne)
PACKD_COMPARISON(lt, Lt)
PACKD_COMPARISON(le, Le)
PACKD_COMPARISON(gt, Gt)
PACKD_COMPARISON(ge, Ge)
#undef PACKD_COMPARISON

// a where cond != 0, b elsewhere; all three broadcast together.
template <Scalar T>
Tensor<T> where(const Tensor<T>& cond, const Tensor<T>& a, const Tensor<T>& b) {
  detail::check_same_device(cond, a, "where");
  detail::check_same_device(a, b, "where");
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor<T> out = Tensor<T>::empty(shape, a.device());
  const Shape sc = detail::broadcast_strides(cond, shape), sa = detail::broadcast_strides(a, shape),
              sb = detail::broadcast_strides(b, shape);
  T* o = out.data();
  const Shape& so = out.strides();
  backend::dispatch("where", a.device(),
                    [&] { cpu::ternary_kernel(o, shape, so, cond.data(), sc, a.data(), sa, b.data(), sb, fn::Where{}); },
                    [&] { cuda::ternary_kernel(o, shape, so, cond.data(), sc, a.data(), sa, b.data(), sb, fn::Where{}); });
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
  if (alpha == T(1)) return detail::map_inplace(self, other, "add_", fn::Add{});
  return detail::map_inplace(self, other, "add_", fn::AddScaled{double(alpha)});
}
template <Scalar T>
Tensor<T>& add_(Tensor<T>& self, const Tensor<T>& other) {
  return add_(self, other, T(1));
}
template <Scalar T>
Tensor<T>& sub_(Tensor<T>& self, const Tensor<T>& other) {
  return detail::map_inplace(self, other, "sub_", fn::Sub{});
}
template <Scalar T>
Tensor<T>& mul_(Tensor<T>& self, const Tensor<T>& other) {
  return detail::map_inplace(self, other, "mul_", fn::Mul{});
}
template <Scalar T>
Tensor<T>& mul_(Tensor<T>& self, scalar_of<T> s) {
  return mul_(self, scalar_tensor<T>(s, self.device()));
}
template <Scalar T>
Tensor<T>& div_(Tensor<T>& self, const Tensor<T>& other) {
  return detail::map_inplace(self, other, "div_", fn::Div{});
}

}  // namespace packd

// Completes the Tensor class (autograd methods, the other core ops) for a TU that includes only
// this header: see packd/tensor.hpp.
#include "packd/tensor.hpp"
