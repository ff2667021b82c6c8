#pragma once
// The elementwise functions of packd as named functors, shared by both backends: the CPU kernels
// call them in their loops, the CUDA kernels (cuda/packd/cuda/kernels/elementwise.cuh) on the
// device. One definition of each formula means the two backends cannot drift apart.
//
// PACKD_HOST_DEVICE marks them callable from device code when nvcc compiles them; for every other
// compiler it is empty, so this header needs no CUDA header. The CUDA backend instantiates its
// kernels for exactly the functors in the lists at the end (PACKD_*_FUNCTORS); an elementwise op
// added to packd adds its functor there.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define PACKD_HOST_DEVICE __host__ __device__
#else
#define PACKD_HOST_DEVICE
#endif

namespace packd::fn {

// ---- forward: y = f(a, b) ---------------------------------------------------------------------------
struct Add { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return T(x + y); } };
struct Sub { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return T(x - y); } };
struct Mul { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return T(x * y); } };
struct Div { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return T(x / y); } };
struct Pow { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return T(std::pow(x, y)); } };
// x + alpha * y (add_ with a scale)
struct AddScaled {
  double alpha;
  template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return T(x + T(alpha) * y); }
};
struct Eq { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return x == y ? T(1) : T(0); } };
struct Ne { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return x != y ? T(1) : T(0); } };
struct Lt { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return x < y ? T(1) : T(0); } };
struct Le { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return x <= y ? T(1) : T(0); } };
struct Gt { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return x > y ? T(1) : T(0); } };
struct Ge { template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return x >= y ? T(1) : T(0); } };

// ---- backward helpers of binary ops ---------------------------------------------------------------------
// d(a/b)/db given go = g * (a/b): -go / b
struct DivGradB { template <class T> PACKD_HOST_DEVICE T operator()(T go, T b) const { return T(-go / b); } };
// d(a^b)/da = b a^(b-1), 0 where b == 0 (as PyTorch)
struct PowGradBase {
  template <class T> PACKD_HOST_DEVICE T operator()(T x, T y) const { return y == T(0) ? T(0) : T(y * std::pow(x, y - T(1))); }
};
// d(a^b)/db = a^b log a given p = a^b, 0 where a == 0
struct PowGradExponent {
  template <class T> PACKD_HOST_DEVICE T operator()(T p, T x) const { return x == T(0) ? T(0) : T(p * std::log(x)); }
};

// ---- forward: y = f(x), and the gradient g -> dx as a function of (g, x, y) ------------------------------
struct Neg { template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return T(-v); } };
struct NegGrad { template <class T> PACKD_HOST_DEVICE T operator()(T g, T, T) const { return T(-g); } };
struct Exp { template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return std::exp(v); } };
struct ExpGrad { template <class T> PACKD_HOST_DEVICE T operator()(T g, T, T y) const { return T(g * y); } };
struct Log { template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return std::log(v); } };
struct LogGrad { template <class T> PACKD_HOST_DEVICE T operator()(T g, T v, T) const { return T(g / v); } };
struct Sqrt { template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return std::sqrt(v); } };
struct SqrtGrad { template <class T> PACKD_HOST_DEVICE T operator()(T g, T, T y) const { return T(g * T(0.5) / y); } };
struct Rsqrt { template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return T(1) / std::sqrt(v); } };
struct RsqrtGrad { template <class T> PACKD_HOST_DEVICE T operator()(T g, T, T y) const { return T(g * T(-0.5) * y * y * y); } };
struct Abs { template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return v < T(0) ? T(-v) : v; } };
// abs'(0) = 0, as PyTorch
struct AbsGrad {
  template <class T> PACKD_HOST_DEVICE T operator()(T g, T v, T) const { return v > T(0) ? g : v < T(0) ? T(-g) : T(0); }
};
struct Relu { template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return v > T(0) ? v : T(0); } };
// relu'(0) = 0, as PyTorch
struct ReluGrad { template <class T> PACKD_HOST_DEVICE T operator()(T g, T, T y) const { return y > T(0) ? g : T(0); } };
// Written so that neither branch overflows exp for large |v|.
struct Sigmoid {
  template <class T> PACKD_HOST_DEVICE T operator()(T v) const {
    if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
    const T e = std::exp(v);
    return e / (T(1) + e);
  }
};
struct SigmoidGrad { template <class T> PACKD_HOST_DEVICE T operator()(T g, T, T y) const { return T(g * y * (T(1) - y)); } };
struct Tanh { template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return std::tanh(v); } };
struct TanhGrad { template <class T> PACKD_HOST_DEVICE T operator()(T g, T, T y) const { return T(g * (T(1) - y * y)); } };
// x^e for a scalar exponent
struct PowScalar {
  double e;
  template <class T> PACKD_HOST_DEVICE T operator()(T v) const { return T(std::pow(v, T(e))); }
};
struct PowScalarGrad {
  double e;
  template <class T> PACKD_HOST_DEVICE T operator()(T g, T v, T) const {
    return e == 0.0 ? T(0) : T(g * T(e) * std::pow(v, T(e) - T(1)));
  }
};
// Bounds are doubles so that one functor serves every scalar type; int64 bounds beyond 2^53 would
// round, far outside any use in packd.
struct Clamp {
  double lo, hi;
  template <class T> PACKD_HOST_DEVICE T operator()(T v) const {
    return double(v) < lo ? T(lo) : double(v) > hi ? T(hi) : v;
  }
};
// the gradient passes where lo <= x <= hi, as PyTorch
struct ClampGrad {
  double lo, hi;
  template <class T> PACKD_HOST_DEVICE T operator()(T g, T v, T) const { return double(v) >= lo && double(v) <= hi ? g : T(0); }
};
// every element = value (fill_)
template <class T>
struct Fill {
  T value;
  PACKD_HOST_DEVICE T operator()(T) const { return value; }
};
template <class To>
struct Cast {
  template <class Ti> PACKD_HOST_DEVICE To operator()(Ti v) const { return static_cast<To>(v); }
};

// ---- (cond, a, b) -> a where cond != 0, else b -----------------------------------------------------------
struct Where { template <class T> PACKD_HOST_DEVICE T operator()(T c, T x, T y) const { return c != T(0) ? x : y; } };

}  // namespace packd::fn

// The functors the CUDA backend instantiates, by the scalar types they serve (X(functor)).
// Any type: float, double, int64.
#define PACKD_BINARY_FUNCTORS_ANY(X) X(Add) X(Sub) X(Mul) X(Div) X(AddScaled) X(Eq) X(Ne) X(Lt) X(Le) X(Gt) X(Ge)
#define PACKD_UNARY_FUNCTORS_ANY(X) X(Neg) X(Abs) X(Relu) X(Clamp)
#define PACKD_TERNARY_FUNCTORS_ANY(X) X(Where)
// Floating point only: float, double.
#define PACKD_BINARY_FUNCTORS_FLOAT(X) X(Pow) X(DivGradB) X(PowGradBase) X(PowGradExponent)
#define PACKD_UNARY_FUNCTORS_FLOAT(X) X(Exp) X(Log) X(Sqrt) X(Rsqrt) X(Sigmoid) X(Tanh) X(PowScalar)
#define PACKD_TERNARY_FUNCTORS_FLOAT(X) \
  X(NegGrad) X(ExpGrad) X(LogGrad) X(SqrtGrad) X(RsqrtGrad) X(AbsGrad) X(ReluGrad) X(SigmoidGrad) X(TanhGrad) X(PowScalarGrad) X(ClampGrad)

namespace packd::fn {
// Whether the CUDA backend has elementwise kernels for functor F (the lists above, Fill, Cast). An
// op built on detail::map with a functor of its own (a lambda) runs on the CPU, and on a CUDA
// tensor stops with an error naming the op instead of failing to link.
template <class F>
inline constexpr bool has_cuda_kernel = false;
#define PACKD_FN_HAS_CUDA_KERNEL(F) \
  template <>                       \
  inline constexpr bool has_cuda_kernel<F> = true;
PACKD_BINARY_FUNCTORS_ANY(PACKD_FN_HAS_CUDA_KERNEL)
PACKD_UNARY_FUNCTORS_ANY(PACKD_FN_HAS_CUDA_KERNEL)
PACKD_TERNARY_FUNCTORS_ANY(PACKD_FN_HAS_CUDA_KERNEL)
PACKD_BINARY_FUNCTORS_FLOAT(PACKD_FN_HAS_CUDA_KERNEL)
PACKD_UNARY_FUNCTORS_FLOAT(PACKD_FN_HAS_CUDA_KERNEL)
PACKD_TERNARY_FUNCTORS_FLOAT(PACKD_FN_HAS_CUDA_KERNEL)
#undef PACKD_FN_HAS_CUDA_KERNEL
template <class T>
inline constexpr bool has_cuda_kernel<Fill<T>> = true;
template <class To>
inline constexpr bool has_cuda_kernel<Cast<To>> = true;
}  // namespace packd::fn
