// Matrix products: PyTorch parity and float64 gradcheck, torch.matmul's shape rules, errors.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kFamily = "core_linalg";
}

TEST_CASE("mm, bmm and addmm match PyTorch", "[linalg]") {
  check_op(kFamily, "mm", [](const auto& in) { return mm(in[0], in[1]); });
  check_op(kFamily, "mm_transposed", [](const auto& in) { return mm(in[0].t(), in[1].t()); });
  check_op(kFamily, "bmm", [](const auto& in) { return bmm(in[0], in[1]); });
  check_op(kFamily, "addmm", [](const auto& in) { return addmm(in[0], in[1], in[2], 2.0, 0.5); });
}

TEST_CASE("matmul follows torch.matmul's shape rules", "[linalg]") {
  check_op(kFamily, "matmul_batched_bcast", [](const auto& in) { return matmul(in[0], in[1]); });
  check_op(kFamily, "matmul_vec_mat", [](const auto& in) { return matmul(in[0], in[1]); });
  check_op(kFamily, "matmul_mat_vec", [](const auto& in) { return matmul(in[0], in[1]); });
  check_op(kFamily, "matmul_dot", [](const auto& in) { return matmul(in[0], in[1]); });
  check_op(kFamily, "matmul_batch_vec", [](const auto& in) { return matmul(in[0], in[1]); });
}

TEST_CASE("matrix products reject mismatched shapes", "[linalg]") {
  CHECK_THROWS_PACKD(mm(ones<float>({2, 3}), ones<float>({4, 2})), "mm: shapes (2, 3) and (4, 2) cannot be multiplied");
  CHECK_THROWS_PACKD(mm(ones<float>({2, 3, 1}), ones<float>({1, 2})), "mm: expects two 2-D tensors");
  CHECK_THROWS_PACKD(bmm(ones<float>({2, 3, 4}), ones<float>({3, 4, 5})), "bmm");
  CHECK_THROWS_PACKD(matmul(ones<float>({2, 3, 4}), ones<float>({5, 6})), "matmul: shapes (2, 3, 4) and (5, 6)");
  CHECK_THROWS_PACKD(matmul(ones<float>({2, 3, 4}), ones<float>({3, 4, 5})), "matmul: the batch dimensions (2,) and (3,) of shapes (2, 3, 4) and (3, 4, 5) cannot be broadcast");
  CHECK_THROWS_PACKD(addmm(ones<float>({5}), ones<float>({2, 3}), ones<float>({3, 4})), "addmm");
}

TEST_CASE("addmm with beta 0 ignores the bias, NaN included", "[linalg]") {
  Tensor<float> bias = full<float>({2, 2}, NAN);
  Tensor<float> out = addmm(bias, ones<float>({2, 3}), ones<float>({3, 2}), 0.0f, 1.0f);
  CHECK(out.to_vector() == std::vector<float>{3, 3, 3, 3});
}

TEST_CASE("large products agree with a double-precision reference", "[linalg]") {
  Generator gen(11);
  Tensor<float> a = randn<float>({67, 301}, gen), b = randn<float>({301, 45}, gen);
  Tensor<double> ref = mm(a.to<double>(), b.to<double>());
  CHECK_CLOSE(mm(a, b), ref, 1e-4, 1e-4);
  CHECK_CLOSE(mm(b.t(), a.t()), ref.t(), 1e-4, 1e-4);  // transposed operands, row-major output
}
