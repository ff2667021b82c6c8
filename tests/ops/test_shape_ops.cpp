// Shape ops (cat, stack, split, chunk, pad, flip, rot90, index_select, gather): PyTorch parity
// (float32) and float64 gradcheck, non-contiguous inputs, int64 use, and errors naming the bad
// index and the size.
#include "testing.hpp"

using namespace packd;
using packd::testing::check_op;

namespace {
const char* kFamily = "shape_ops";

template <class V>
auto list(const V& in) {
  return std::vector<typename V::value_type>(in.begin(), in.end());
}
template <class V>
auto weighted_cat(const V& parts, int64_t dim) {
  V w;
  for (std::size_t i = 0; i < parts.size(); ++i) w.push_back(mul(parts[i], double(i + 1)));
  return cat(w, dim);
}
template <class T>
Tensor<int64_t> as_index(const Tensor<T>& t) {
  return t.detach().template to<int64_t>();
}
}  // namespace

TEST_CASE("cat and stack match PyTorch", "[shape_ops]") {
  check_op(kFamily, "cat_dim1", [](const auto& in) { return cat(list(in), 1); });
  check_op(kFamily, "cat_last_noncontig", [](const auto& in) { return cat(std::vector{in[0].t(), in[1].t()}, -1); });
  check_op(kFamily, "cat_legacy_empty", [](const auto& in) { return cat(list(in), 0); });
  check_op(kFamily, "stack_dim1", [](const auto& in) { return stack(list(in), 1); });
  check_op(kFamily, "stack_last", [](const auto& in) { return stack(list(in), -1); });
}

TEST_CASE("split and chunk match PyTorch", "[shape_ops]") {
  check_op(kFamily, "split_size", [](const auto& in) { return weighted_cat(split(in[0], 2, 1), 1); });
  check_op(kFamily, "split_sizes", [](const auto& in) { return weighted_cat(split(in[0], {1, 0, 3, 2}, -1), -1); });
  check_op(kFamily, "chunk", [](const auto& in) { return weighted_cat(chunk(in[0], 3, 0), 0); });
  check_op(kFamily, "chunk_fewer", [](const auto& in) { return weighted_cat(chunk(in[0], 4, 0), 0); });
  Tensor<float> x = ones<float>({6, 2});
  CHECK(chunk(x, 4).size() == 3);
  CHECK(split(x, 4)[1].shape() == Shape{2, 2});
  CHECK(split(x, 4)[1].storage() == x.storage());  // views
}

TEST_CASE("pad matches PyTorch", "[shape_ops]") {
  check_op(kFamily, "pad_constant", [](const auto& in) { return pad(in[0], {1, 2, 0, 3}, PadMode::constant, 0.5); });
  check_op(kFamily, "pad_constant_negative", [](const auto& in) { return pad(in[0], {-1, 2, 1, -2}); });
  check_op(kFamily, "pad_constant_3dims", [](const auto& in) { return pad(in[0], {1, 0, 0, 2, 1, 1}); });
  check_op(kFamily, "pad_reflect", [](const auto& in) { return pad(in[0], {2, 1, 1, 3}, PadMode::reflect); });
  check_op(kFamily, "pad_reflect_1d", [](const auto& in) { return pad(in[0], {3, 2}, PadMode::reflect); });
  check_op(kFamily, "pad_replicate", [](const auto& in) { return pad(in[0], {1, 3, 2, 0}, PadMode::replicate); });
  check_op(kFamily, "pad_reflect_noncontig", [](const auto& in) { return pad(in[0].transpose(2, 3), {1, 1, 2, 2}, PadMode::reflect); });
}

TEST_CASE("flip and rot90 match PyTorch", "[shape_ops]") {
  check_op(kFamily, "flip_02", [](const auto& in) { return flip(in[0], {0, 2}); });
  check_op(kFamily, "flip_last_noncontig", [](const auto& in) { return flip(in[0].t().slice(1, 1, 4), {-1}); });
  check_op(kFamily, "rot90_k1", [](const auto& in) { return rot90(in[0], 1); });
  check_op(kFamily, "rot90_k2", [](const auto& in) { return rot90(in[0], 2); });
  check_op(kFamily, "rot90_k3", [](const auto& in) { return rot90(in[0], 3); });
  check_op(kFamily, "rot90_km1", [](const auto& in) { return rot90(in[0], -1); });
  check_op(kFamily, "rot90_k5", [](const auto& in) { return rot90(in[0], 5); });
  check_op(kFamily, "rot90_k0", [](const auto& in) { return rot90(in[0], 0); });
  check_op(kFamily, "rot90_dims10", [](const auto& in) { return rot90(in[0], 1, {1, 0}); });
  // four quarter turns are the identity, exactly
  Generator gen(9);
  Tensor<float> x = randn<float>({2, 3, 4, 5}, gen);
  CHECK(rot90(rot90(rot90(rot90(x)))).to_vector() == x.to_vector());
  CHECK(rot90(x, -3).to_vector() == rot90(x, 1).to_vector());
}

TEST_CASE("index_select and gather match PyTorch", "[shape_ops]") {
  check_op(kFamily, "index_select_dim1", [](const auto& in) { return index_select(in[0], 1, as_index(in[1])); });
  check_op(kFamily, "index_select_dim0_noncontig", [](const auto& in) { return index_select(in[0].t(), 0, as_index(in[1])); });
  check_op(kFamily, "gather_dim1", [](const auto& in) { return gather(in[0], 1, as_index(in[1])); });
  check_op(kFamily, "gather_dim0_smaller", [](const auto& in) { return gather(in[0], 0, as_index(in[1])); });
  check_op(kFamily, "gather_last_noncontig", [](const auto& in) { return gather(in[0].t(), -1, as_index(in[1])); });
}

TEST_CASE("shape ops work on int64 tensors", "[shape_ops]") {
  Tensor<int64_t> a = arange<int64_t>(0, 6).reshape({2, 3});
  CHECK(cat(std::vector{a, a}, 0).shape() == Shape{4, 3});
  CHECK(flip(a, {1}).to_vector() == std::vector<int64_t>{2, 1, 0, 5, 4, 3});
  CHECK(rot90(a).to_vector() == std::vector<int64_t>{2, 5, 1, 4, 0, 3});
  CHECK(index_select(a, 1, from_vector<int64_t>({2, 2})).to_vector() == std::vector<int64_t>{2, 2, 5, 5});
  CHECK(pad(a, {1, 0}, PadMode::constant, 9).to_vector() == std::vector<int64_t>{9, 0, 1, 2, 9, 3, 4, 5});
}

TEST_CASE("shape ops refuse bad arguments", "[shape_ops]") {
  Tensor<float> x = ones<float>({2, 3});
  CHECK_THROWS_PACKD(cat(std::vector<Tensor<float>>{}), "cat: expected a non-empty list");
  CHECK_THROWS_PACKD(cat(std::vector{x, ones<float>({2, 4})}, 0), "cat: sizes of tensors must match except in dimension 0: tensor 1 has shape (2, 4)");
  CHECK_THROWS_PACKD(cat(std::vector{x, ones<float>({2, 3, 1})}, 0), "cat: tensors must have the same rank");
  CHECK_THROWS_PACKD(cat(std::vector{x, x}, 2), "cat: dimension 2 is out of range");
  CHECK_THROWS_PACKD(stack(std::vector{x, ones<float>({3, 2})}), "stack: expects each tensor to be equal size, but got (2, 3) at entry 0 and (3, 2) at entry 1");
  CHECK_THROWS_PACKD(split(x, {1, 1}, 1), "split: split sizes sum to 2 but dimension 1 of shape (2, 3) has size 3");
  CHECK_THROWS_PACKD(split(x, 0, 1), "split: split_size must be positive");
  CHECK_THROWS_PACKD(chunk(x, 0), "chunk: chunks must be positive");
  CHECK_THROWS_PACKD(pad(x, {1}), "pad: padding length 1 must be even");
  CHECK_THROWS_PACKD(pad(x, {1, 1, 1, 1, 1, 1}), "pad: padding length 6");
  CHECK_THROWS_PACKD(pad(x, {3, 0}, PadMode::reflect), "pad: reflect padding (3, 0) must be less than the size 3 of dimension 1 of shape (2, 3)");
  CHECK_THROWS_PACKD(pad(x, {-1, 0}, PadMode::replicate), "pad: replicate padding must be non-negative");
  CHECK_THROWS_PACKD(pad(x, {-2, -2}), "pad: padding (-2, -2) of dimension 1 of shape (2, 3) gives a negative size");
  CHECK_THROWS_PACKD(flip(x, {0, -2}), "flip: dim 0 appears multiple times");
  CHECK_THROWS_PACKD(rot90(x, 1, {0}), "rot90: expected total rotation dims == 2");
  CHECK_THROWS_PACKD(rot90(x, 1, {1, -1}), "rot90: expected rotation dims to be different");
  CHECK_THROWS_PACKD(rot90(ones<float>({3}), 1, {0, 0}), "rot90: expected total dims >= 2");
  CHECK_THROWS_PACKD(index_select(x, 1, from_vector<int64_t>({0, 3})),
                     "index_select: index 3 is out of bounds for dimension 1 with size 3 (input shape (2, 3), index shape (2,))");
  CHECK_THROWS_PACKD(index_select(x, 0, from_vector<int64_t>({-1})), "index_select: index -1 is out of bounds for dimension 0 with size 2");
  CHECK_THROWS_PACKD(index_select(x, 0, zeros<int64_t>({1, 1})), "index_select: index must be 0-D or 1-D");
  CHECK_THROWS_PACKD(gather(x, 1, from_vector<int64_t>({0, 7}, {1, 2})),
                     "gather: index 7 is out of bounds for dimension 1 with size 3 (input shape (2, 3), index shape (1, 2))");
  CHECK_THROWS_PACKD(gather(x, 1, zeros<int64_t>({3, 1})), "gather: size of dimension 0 of the index (shape (3, 1)) must not exceed");
  CHECK_THROWS_PACKD(gather(x, 0, zeros<int64_t>({2})), "gather: index tensor must have the same number of dimensions");
}
