#pragma once
// linear(x (..., in), weight (out, in), bias (out,) | {}) -> (..., out) = x @ weight^T + bias,
// as torch.nn.functional.linear. The leading dims of x are flattened into the GEMM's rows (a view
// whenever x's strides allow it, so no copy), and weight^T is a transposed view read in place by
// the packed GEMM (backend/cpu/gemm.hpp) through addmm / mm, whose backward gives the gradients
// (dx = g @ weight, dweight = g^T @ x, dbias = sum of g over the rows).
#include "packd/ops/linalg.hpp"
#include "packd/ops/view.hpp"

namespace packd {

template <FloatScalar T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>()) {
  PACKD_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got shape ", weight.shape());
  PACKD_CHECK(x.dim() >= 1, "linear: input must have at least one dimension, got shape ", x.shape());
  const int64_t in = weight.size(1), outf = weight.size(0);
  PACKD_CHECK(x.size(-1) == in, "linear: input of shape ", x.shape(), " does not end in in_features = ", in,
              " of the weight of shape ", weight.shape());
  if (bias.defined())
    PACKD_CHECK(bias.dim() == 1 && bias.size(0) == outf, "linear: bias of shape ", bias.shape(), " does not match the ",
                outf, " out_features of the weight of shape ", weight.shape());
  Shape oshape = x.shape();
  oshape[oshape.size() - 1] = outf;
  Tensor<T> x2 = x.dim() == 2 ? x : x.reshape({-1, in});  // (M, in)
  Tensor<T> y = bias.defined() ? addmm(bias, x2, weight.t()) : mm(x2, weight.t());  // (M, out)
  return x.dim() == 2 ? y : y.reshape(oshape);
}

}  // namespace packd
