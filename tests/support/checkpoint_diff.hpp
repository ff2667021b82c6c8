#pragma once
// Distance between two training checkpoints, for the data-parallel tests: the largest |a - b| per
// group (parameters and buffers; Adam's exp_avg; Adam's exp_avg_sq), relative to the group's
// largest |b|. A float32 step's round-off is judged against the scale of what it updates, not
// against gradients that are 0 by construction (the prototype convs' biases feed a spatial softmax).
#include <algorithm>
#include <array>
#include <string>

#include "packd/io/checkpoint.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/reduce.hpp"

namespace packd::testing {

inline double checkpoint_distance(const std::string& file_a, const std::string& file_b, bool weights_only = false) {
  const io::Checkpoint ca = io::load_checkpoint(file_a), cb = io::load_checkpoint(file_b);
  PACKD_CHECK(ca.tensors.size() == cb.tensors.size(), file_a, " and ", file_b, " hold different numbers of tensors");
  std::array<double, 3> scale{}, diff{};
  for (const auto& [name, ta] : ca.tensors) {
    PACKD_CHECK(cb.tensors.count(name) == 1, file_b, " has no tensor ", name);
    if (ta.dtype != DType::float32) continue;  // num_batches_tracked, step counts
    const Tensor<float> x = ta.to_tensor<float>(), y = cb.tensors.at(name).to_tensor<float>();
    const std::size_t g = name.ends_with(".exp_avg") ? 1 : name.ends_with(".exp_avg_sq") ? 2 : 0;
    scale[g] = std::max(scale[g], double(amax(abs(y)).item()));
    diff[g] = std::max(diff[g], double(amax(abs(sub(x, y))).item()));
  }
  double worst = 0;
  for (std::size_t g = 0; g < (weights_only ? 1 : 3); ++g) worst = std::max(worst, diff[g] / std::max(scale[g], 1e-30));
  return worst;
}

}  // namespace packd::testing
