#pragma once
// Matrix products on the packed GEMM (backend/cpu/gemm.hpp) or cuBLAS (backend/cuda/linalg.hpp),
// which both take any strides, so the ops never copy transposed or sliced operands (the CUDA
// backend copies only an operand that is neither row- nor column-major).
//   mm(a (M,K), b (K,N)) -> (M,N)
//   bmm(a (B,M,K), b (B,K,N)) -> (B,M,N)
//   addmm(bias, a, b, beta, alpha) = beta * bias + alpha * (a @ b), bias broadcast to (M,N)
//   matmul: torch.matmul's rules (1-D operands are promoted and the added dim removed; batch
//           dimensions broadcast)
// Backward: dA = dC @ B^T, dB = A^T @ dC (transposes are views).
#include "packd/backend/cpu/gemm.hpp"
#include "packd/backend/cuda/elementwise.hpp"
#include "packd/backend/cuda/linalg.hpp"
#include "packd/ops/reduce.hpp"

namespace packd {

namespace detail {

// C (M,N) = alpha * A @ B + beta * C, for 2-D views of any strides on one device.
template <FloatScalar T>
void gemm_into(const Tensor<T>& c, const Tensor<T>& a, const Tensor<T>& b, T alpha, T beta, const char* op) {
  backend::dispatch(op, c.device(), [&] {
    cpu::gemm<T>(a.size(0), b.size(1), a.size(1), alpha, a.data(), a.stride(0), a.stride(1), b.data(), b.stride(0),
                 b.stride(1), beta, c.data(), c.stride(0), c.stride(1));
  }, [&] {
    cuda::gemm<T>(a.size(0), b.size(1), a.size(1), alpha, a.data(), a.stride(0), a.stride(1), b.data(), b.stride(0),
                  b.stride(1), beta, c.data(), c.stride(0), c.stride(1));
  });
}

}  // namespace detail

template <FloatScalar T>
Tensor<T> mm(const Tensor<T>& a, const Tensor<T>& b) {
  PACKD_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expects two 2-D tensors, got shapes ", a.shape(), " and ", b.shape());
  PACKD_CHECK(a.size(1) == b.size(0), "mm: shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (",
              a.size(1), " != ", b.size(0), ")");
  detail::check_same_device(a, b, "mm");
  Tensor<T> out = Tensor<T>::empty({a.size(0), b.size(1)}, a.device());
  detail::gemm_into(out, a, b, T(1), T(0), "mm");
  if (any_requires_grad(a, b)) {
    SavedTensor<T> sa = b.requires_grad() ? save(a, "mm") : SavedTensor<T>();
    SavedTensor<T> sb = a.requires_grad() ? save(b, "mm") : SavedTensor<T>();
    record<T>("mm", {&a, &b}, out, [sa, sb](const Tensor<T>& g, const Node<T>& n) {
      return std::vector<Tensor<T>>{n.needs_input_grad(0) ? mm(g, sb.unpack().t()) : Tensor<T>(),
                                    n.needs_input_grad(1) ? mm(sa.unpack().t(), g) : Tensor<T>()};
    });
  }
  return out;
}

template <FloatScalar T>
Tensor<T> bmm(const Tensor<T>& a, const Tensor<T>& b) {
  PACKD_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expects two 3-D tensors, got shapes ", a.shape(), " and ", b.shape());
  PACKD_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(1), "bmm: shapes ", a.shape(), " and ", b.shape(),
              " cannot be multiplied batch by batch");
  detail::check_same_device(a, b, "bmm");
  const int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  Tensor<T> out = Tensor<T>::empty({B, M, N}, a.device());
  backend::dispatch("bmm", a.device(), [&] {
    cpu::gemm_batched<T>(B, M, N, K, T(1), a.data(), a.stride(1), a.stride(2), a.stride(0), b.data(), b.stride(1),
                         b.stride(2), b.stride(0), T(0), out.data(), out.stride(1), out.stride(2), out.stride(0));
  }, [&] {
    cuda::gemm_batched<T>(B, M, N, K, T(1), a.data(), a.stride(1), a.stride(2), a.stride(0), b.data(), b.stride(1),
                          b.stride(2), b.stride(0), T(0), out.data(), out.stride(1), out.stride(2), out.stride(0));
  });
  if (any_requires_grad(a, b)) {
    SavedTensor<T> sa = b.requires_grad() ? save(a, "bmm") : SavedTensor<T>();
    SavedTensor<T> sb = a.requires_grad() ? save(b, "bmm") : SavedTensor<T>();
    record<T>("bmm", {&a, &b}, out, [sa, sb](const Tensor<T>& g, const Node<T>& n) {
      return std::vector<Tensor<T>>{n.needs_input_grad(0) ? bmm(g, sb.unpack().transpose(1, 2)) : Tensor<T>(),
                                    n.needs_input_grad(1) ? bmm(sa.unpack().transpose(1, 2), g) : Tensor<T>()};
    });
  }
  return out;
}

template <FloatScalar T>
Tensor<T> addmm(const Tensor<T>& bias, const Tensor<T>& a, const Tensor<T>& b, scalar_of<T> beta = T(1),
                scalar_of<T> alpha = T(1)) {
  PACKD_CHECK(a.dim() == 2 && b.dim() == 2, "addmm: expects 2-D matrices, got shapes ", a.shape(), " and ", b.shape());
  PACKD_CHECK(a.size(1) == b.size(0), "addmm: shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (",
              a.size(1), " != ", b.size(0), ")");
  detail::check_same_device(a, b, "addmm");
  detail::check_same_device(bias, a, "addmm");
  const Shape shape{a.size(0), b.size(1)};
  PACKD_CHECK(bias.dim() <= 2 && broadcast_shapes(bias.shape(), shape, "addmm") == shape, "addmm: bias of shape ",
              bias.shape(), " does not broadcast to the product's shape ", shape);
  Tensor<T> out = Tensor<T>::empty(shape, a.device());
  // beta == 0 ignores bias, NaN included, as BLAS: the GEMM then never reads out.
  T gemm_beta = T(0);
  if (beta != T(0)) {
    // CPU: out = beta * bias, then the GEMM adds alpha * a @ b. CUDA: out = bias, and the GEMM
    // computes alpha * a @ b + beta * out (no scaling functor needed on the device).
    const Shape sbias = detail::broadcast_strides(bias, shape);
    backend::dispatch("addmm", a.device(), [&] {
      cpu::unary_kernel(out.data(), shape, out.strides(), bias.data(), sbias, [beta](T v) { return T(beta * v); });
      gemm_beta = T(1);
    }, [&] {
      cuda::copy_kernel(out.data(), shape, out.strides(), bias.data(), sbias);
      gemm_beta = T(beta);
    });
  }
  detail::gemm_into(out, a, b, T(alpha), gemm_beta, "addmm");
  if (any_requires_grad(bias, a, b)) {
    SavedTensor<T> sa = b.requires_grad() ? save(a, "addmm") : SavedTensor<T>();
    SavedTensor<T> sb = a.requires_grad() ? save(b, "addmm") : SavedTensor<T>();
    record<T>("addmm", {&bias, &a, &b}, out,
              [sa, sb, bshape = bias.shape(), beta = T(beta), alpha = T(alpha)](const Tensor<T>& g, const Node<T>& n) {
                Tensor<T> gbias, ga, gb;
                if (n.needs_input_grad(0)) gbias = sum_to(beta == T(1) ? g : mul(g, beta), bshape);
                if (n.needs_input_grad(1)) {
                  ga = Tensor<T>::empty({g.size(0), sb.unpack().size(0)}, g.device());
                  detail::gemm_into(ga, g, sb.unpack().t(), alpha, T(0), "addmm_backward");
                }
                if (n.needs_input_grad(2)) {
                  gb = Tensor<T>::empty({sa.unpack().size(1), g.size(1)}, g.device());
                  detail::gemm_into(gb, sa.unpack().t(), g, alpha, T(0), "addmm_backward");
                }
                return std::vector<Tensor<T>>{gbias, ga, gb};
              });
  }
  return out;
}

template <FloatScalar T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
  PACKD_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least one dimension, got shapes ", a.shape(),
              " and ", b.shape());
  if (a.dim() <= 2 && b.dim() <= 2) {
    if (a.dim() == 2 && b.dim() == 2) return mm(a, b);
    if (a.dim() == 1 && b.dim() == 1) {
      PACKD_CHECK(a.size(0) == b.size(0), "matmul: vectors of lengths ", a.size(0), " and ", b.size(0), " differ");
      return mm(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
    }
    if (a.dim() == 1) return mm(a.unsqueeze(0), b).squeeze(0);
    return mm(a, b.unsqueeze(1)).squeeze(1);
  }
  // Batched: promote vectors, broadcast the batch dims, multiply as one bmm, then drop the promoted dims.
  Tensor<T> a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor<T> b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  PACKD_CHECK(a2.size(-1) == b2.size(-2), "matmul: shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (",
              a2.size(-1), " != ", b2.size(-2), ")");
  Shape abatch(std::span<const int64_t>(a2.shape().begin(), a2.dim() - 2));
  Shape bbatch(std::span<const int64_t>(b2.shape().begin(), b2.dim() - 2));
  Shape batch;
  try {
    batch = broadcast_shapes(abatch, bbatch, "matmul");
  } catch (const Error&) {
    PACKD_CHECK(false, "matmul: the batch dimensions ", abatch, " and ", bbatch, " of shapes ", a.shape(), " and ",
                b.shape(), " cannot be broadcast together");
  }
  const int64_t M = a2.size(-2), K = a2.size(-1), N = b2.size(-1), B = batch.numel();
  Shape ashape = batch, bshape = batch, oshape = batch;
  ashape.push_back(M), ashape.push_back(K);
  bshape.push_back(K), bshape.push_back(N);
  oshape.push_back(M), oshape.push_back(N);
  Tensor<T> out = bmm(a2.expand(ashape).reshape({B, M, K}), b2.expand(bshape).reshape({B, K, N})).reshape(oshape);
  if (a.dim() == 1) out = out.squeeze(-2);
  if (b.dim() == 1) out = out.squeeze(-1);
  return out;
}

}  // namespace packd
