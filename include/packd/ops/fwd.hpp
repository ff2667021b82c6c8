#pragma once
// Declarations of the ops that other op families' backward functions call, so that each family
// header can be read (and included) on its own. Definitions: ops/<family>.hpp.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "packd/core/tensor.hpp"

namespace packd {

using Dims = std::vector<int64_t>;
template <class T>
using scalar_of = std::type_identity_t<T>;  // keeps a scalar argument out of template deduction

template <Scalar T> Tensor<T> zeros(const Shape& shape, Device device);
template <Scalar T> Tensor<T> ones(const Shape& shape, Device device);
template <Scalar T> Tensor<T> full(const Shape& shape, T value, Device device);
template <Scalar T> Tensor<T> zeros_like(const Tensor<T>& t);
template <Scalar T> Tensor<T> ones_like(const Tensor<T>& t);

template <Scalar T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T> neg(const Tensor<T>& a);
template <Scalar T> Tensor<T> mul(const Tensor<T>& a, scalar_of<T> s);
template <Scalar T> Tensor<T> add(const Tensor<T>& a, scalar_of<T> s);
template <Scalar T> Tensor<T> eq(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T>& add_(Tensor<T>& self, const Tensor<T>& other, T alpha);

template <Scalar T> Tensor<T> sum(const Tensor<T>& x, const Dims& dims, bool keepdim = false);
// Sums a broadcast gradient back to `shape` (the backward of broadcasting and of expand).
template <Scalar T> Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape);

template <FloatScalar T> Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b);

}  // namespace packd
