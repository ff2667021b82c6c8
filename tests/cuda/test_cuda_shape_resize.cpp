// CUDA shape ops (cat, pad, flip, rot90, index_select, gather), interpolate, gaussian_blur2d,
// grid_sample and the optimiser steps: CPU-vs-CUDA parity of outputs and input gradients on larger,
// odd-sized and non-contiguous inputs; every case skips with a message without a GPU.
#include "cuda_parity.hpp"
#include "packd/optim/adam.hpp"
#include "packd/optim/sgd.hpp"

using namespace packd;
using packd::testing::check_cuda_parity;
using packd::testing::random_input;

namespace {
const Device kCuda = Device::cuda(0);
using Ins = std::vector<Tensor<float>>;
using Arr2 = std::array<int64_t, 2>;
}  // namespace

TEST_CASE("CUDA cat matches the CPU along every dimension, with non-contiguous parts", "[cuda][shape_ops]") {
  PACKD_SKIP_WITHOUT_CUDA();
  check_cuda_parity([](const Ins& in) { return cat(in, 0); }, Ins{random_input({2, 3, 5, 7}, 1), random_input({3, 3, 5, 7}, 2)});
  check_cuda_parity([](const Ins& in) { return cat(in, 1); }, Ins{random_input({2, 3, 5, 7}, 3), random_input({2, 4, 5, 7}, 4)});
  check_cuda_parity([](const Ins& in) { return cat(std::vector{in[0], in[1].transpose(2, 3)}, 3); },
                    Ins{random_input({2, 3, 5, 7}, 5), random_input({2, 3, 9, 5}, 6)});
}

TEST_CASE("CUDA pad, flip and rot90 match the CPU, gradients included", "[cuda][shape_ops]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const Tensor<float> x = random_input({3, 4, 17, 23}, 7);
  check_cuda_parity([](const Ins& in) { return pad(in[0], {2, 3, 1, 4}, PadMode::constant, 0.5); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return pad(in[0], {-1, 2, 3, -2}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return pad(in[0], {3, 2, 4, 1}, PadMode::reflect); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return pad(in[0], {5, 0, 2, 7}, PadMode::replicate); }, Ins{x});
  // every dimension padded (dimension 0 too: its gradient scatters with atomics), on a view
  check_cuda_parity([](const Ins& in) { return pad(in[0].transpose(1, 3), {1, 1, 2, 2, 1, 2, 2, 1}, PadMode::reflect); },
                    Ins{x});
  check_cuda_parity([](const Ins& in) { return flip(in[0], {0, 2, 3}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return flip(in[0].transpose(0, 2), {-1}); }, Ins{x});
  for (int k = 1; k <= 3; ++k) {
    INFO("rot90 k = " << k);
    check_cuda_parity([k](const Ins& in) { return rot90(in[0], k); }, Ins{x});
  }
  // int64 takes the same gather kernel
  Tensor<int64_t> i = arange<int64_t>(0, 60).reshape({3, 4, 5});
  CHECK_CLOSE(flip(i.to(kCuda), {0, 2}).to(Device::cpu()), flip(i, {0, 2}), 0, 0);
  CHECK_CLOSE(pad(i.to(kCuda), {1, 2}, PadMode::reflect).to(Device::cpu()), pad(i, {1, 2}, PadMode::reflect), 0, 0);
}

TEST_CASE("CUDA index_select and gather match the CPU, repeated indices included", "[cuda][shape_ops]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const Tensor<float> x = random_input({6, 5, 9}, 8);
  const std::vector<int64_t> idx{4, 0, 4, 2, 5, 5, 1};
  for (int d = 0; d < 3; ++d) {
    INFO("index_select dim " << d);
    check_cuda_parity([&](const Ins& in) {
      std::vector<int64_t> v;
      for (int64_t k : idx) v.push_back(k % in[0].size(d));
      return index_select(in[0], d, from_vector<int64_t>(v, Shape{int64_t(v.size())}, in[0].device()));
    }, Ins{x});
  }
  check_cuda_parity([](const Ins& in) { return index_select(in[0].transpose(0, 2), 0, from_vector<int64_t>({3, 3, 0}, {3}, in[0].device())); },
                    Ins{x});
  Generator gen(9);
  for (int d = 0; d < 3; ++d) {
    INFO("gather dim " << d);
    Shape ishape{4, 5, 7};
    ishape[d] = 11;
    std::vector<int64_t> v(std::size_t(ishape.numel()));
    for (auto& k : v) k = int64_t(gen.next_u64() % uint64_t(x.size(d)));
    check_cuda_parity([&](const Ins& in) { return gather(in[0], d, from_vector<int64_t>(v, ishape, in[0].device())); }, Ins{x});
  }
  Tensor<int64_t> xi = arange<int64_t>(0, 20).reshape({4, 5});
  Tensor<int64_t> gi = from_vector<int64_t>({1, 0, 3, 3, 2, 2}, {2, 3});
  CHECK_CLOSE(gather(xi.to(kCuda), 0, gi.to(kCuda)).to(Device::cpu()), gather(xi, 0, gi), 0, 0);
}

TEST_CASE("CUDA interpolate matches the CPU, forward and backward", "[cuda][resize]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const Tensor<float> x = random_input({2, 3, 13, 17}, 10);
  for (bool ac : {true, false}) {
    INFO("align_corners " << ac);
    check_cuda_parity([ac](const Ins& in) { return interpolate(in[0], Arr2{29, 40}, InterpMode::bilinear, ac); }, Ins{x});
    check_cuda_parity([ac](const Ins& in) { return interpolate(in[0], Arr2{6, 5}, InterpMode::bilinear, ac); }, Ins{x});
    check_cuda_parity([ac](const Ins& in) { return interpolate(in[0], 1.7, InterpMode::bilinear, ac); }, Ins{x});
  }
  check_cuda_parity([](const Ins& in) { return interpolate(in[0].permute({0, 1, 3, 2}), Arr2{8, 8}, InterpMode::bilinear, false); },
                    Ins{x});
  check_cuda_parity([](const Ins& in) { return interpolate(in[0], Arr2{30, 31}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return interpolate(in[0], Arr2{5, 7}); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return interpolate(in[0], 2.0); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return interpolate(in[0], 1.7); }, Ins{x});
}

TEST_CASE("CUDA gaussian_blur2d matches the CPU in both padding modes", "[cuda][filter]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const Tensor<float> x = random_input({2, 1, 64, 64}, 11);
  check_cuda_parity([](const Ins& in) { return gaussian_blur2d(in[0], 4.0); }, Ins{x});
  check_cuda_parity([](const Ins& in) { return gaussian_blur2d(in[0], 4.0, 4.0, BlurPadding::torch_reflect); }, Ins{x});
  // small planes (the radius wraps several times in scipy mode) and a non-contiguous view
  check_cuda_parity([](const Ins& in) { return gaussian_blur2d(in[0], 4.0); }, Ins{random_input({3, 2, 7, 12}, 12)});
  check_cuda_parity([](const Ins& in) { return gaussian_blur2d(in[0].transpose(2, 3), 1.5, 3.0, BlurPadding::torch_reflect); },
                    Ins{random_input({2, 3, 21, 19}, 13)});
}

TEST_CASE("CUDA grid_sample matches the CPU in every mode", "[cuda][grid_sample]") {
  PACKD_SKIP_WITHOUT_CUDA();
  const Tensor<float> x = random_input({2, 3, 11, 14}, 14, false);
  const Tensor<float> grid = mul(random_input({2, 9, 10, 2}, 15, false), 0.7f);  // some points outside [-1, 1]
  for (bool ac : {true, false})
    for (GridPadding pad : {GridPadding::zeros, GridPadding::border, GridPadding::reflection})
      for (GridMode mode : {GridMode::bilinear, GridMode::nearest}) {
        INFO("align_corners " << ac << ", padding " << int(pad) << ", mode " << int(mode));
        check_cuda_parity([=](const Ins& in) { return grid_sample(in[0], in[1], mode, pad, ac); }, Ins{x, grid});
      }
  check_cuda_parity([](const Ins& in) {
    return grid_sample(in[0].permute({0, 1, 3, 2}), in[1].transpose(1, 2), GridMode::bilinear, GridPadding::reflection, false);
  }, Ins{random_input({2, 3, 14, 11}, 16, false), grid});
}

namespace {
// Three steps of an optimiser on CPU and on CUDA copies of the same parameters (one above the
// CUDA kernel's chunk size, one tiny, one without a gradient), with the same gradients each step.
template <class MakeOptimizer>
void check_optimizer_parity(MakeOptimizer make) {
  const std::vector<Shape> shapes{{130, 97}, {3}, {5, 4}};
  const char* names[] = {"p0", "p1", "p2"};
  optim::NamedParameters<float> cpu_params, cuda_params;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    Tensor<float> p = random_input(shapes[i], 20 + i, false);
    cpu_params.push_back({names[i], p.clone().requires_grad_()});
    cuda_params.push_back({names[i], p.to(kCuda).requires_grad_()});
  }
  auto cpu_opt = make(cpu_params);
  auto cuda_opt = make(cuda_params);
  for (int step = 0; step < 3; ++step) {
    for (std::size_t i = 0; i + 1 < shapes.size(); ++i) {  // the last parameter never gets a gradient
      Tensor<float> g = random_input(shapes[i], 100 + 10 * step + i, false);
      cpu_params[i].second.set_grad(g);
      cuda_params[i].second.set_grad(g.to(kCuda));
    }
    cpu_opt.step();
    cuda_opt.step();
  }
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    INFO("parameter " << i);
    CHECK_CLOSE(cuda_params[i].second.detach().to(Device::cpu()), cpu_params[i].second.detach(), 1e-6, 1e-6);
    CHECK(cuda_opt.has_state(cuda_params[i].first) == cpu_opt.has_state(cpu_params[i].first));
  }
  CHECK_FALSE(cuda_opt.has_state("p2"));
  CHECK(cuda_opt.step_count("p0") == 3);
}
}  // namespace

TEST_CASE("CUDA Adam and SGD steps match the CPU", "[cuda][optim]") {
  PACKD_SKIP_WITHOUT_CUDA();
  for (bool amsgrad : {false, true})
    for (double wd : {0.0, 0.01}) {
      INFO("Adam amsgrad " << amsgrad << ", weight_decay " << wd);
      check_optimizer_parity([&](const optim::NamedParameters<float>& p) {
        return optim::Adam<float>(p, {.lr = 0.05, .weight_decay = wd, .amsgrad = amsgrad});
      });
    }
  for (double momentum : {0.0, 0.9})
    for (bool nesterov : {false, true}) {
      if (nesterov && momentum == 0) continue;
      INFO("SGD momentum " << momentum << ", nesterov " << nesterov);
      check_optimizer_parity([&](const optim::NamedParameters<float>& p) {
        return optim::SGD<float>(p, {.lr = 0.1, .momentum = momentum, .dampening = 0, .weight_decay = 0.01, .nesterov = nesterov});
      });
    }
}
