// The data-parallel pieces that need no MPI (the 2-rank cases are in mpi_test_dist.cpp, run under
// mpirun): the single-process communicator, the differentiable collectives and synchronised batch
// norm on one rank, the distributed evaluation's task table and run serialisation, and the NCCL
// communicator's one-rank smoke test on a GPU ([cuda]; skipped without one).
#include <catch2/catch.hpp>

#include <cmath>

#include "packd/backend/cuda_api.hpp"
#include "packd/dist/autograd.hpp"
#include "packd/dist/nccl.hpp"
#include "packd/dist/sync_batchnorm.hpp"
#include "packd/eval/distributed.hpp"
#include "testing.hpp"

using namespace packd;

TEST_CASE("the single-process communicator: rank 0 of 1, collectives are copies", "[dist]") {
  dist::SingleProcess one;
  CHECK(one.rank() == 0);
  CHECK(one.size() == 1);
  float v[3] = {1, 2, 3};
  one.all_reduce(v, 3, DType::float32, dist::ReduceOp::avg, Device::cpu());
  CHECK((v[0] == 1 && v[2] == 3));
  float got[3] = {};
  one.all_gather(v, got, sizeof v, Device::cpu());
  CHECK((got[0] == 1 && got[1] == 2 && got[2] == 3));
  CHECK_THROWS_PACKD(one.broadcast(v, sizeof v, 1, Device::cpu()), "root rank 1 does not exist");
  CHECK(dist::all_gather_strings(one, "abc") == std::vector<std::string>{"abc"});
  CHECK_NOTHROW(dist::check_same_everywhere(one, "x", {{"a", 1}}));
}

TEST_CASE("on one rank, the differentiable collectives are identities", "[dist]") {
  dist::SingleProcess one;
  Generator g(1);
  Tensor<double> x = randn<double>({3, 4}, g).requires_grad_();
  Tensor<double> w = randn<double>({3, 4}, g);
  sum(mul(dist::all_gather(x, one), w)).backward();
  CHECK_CLOSE(x.grad(), w, 0.0, 0.0);
  Tensor<double> y = randn<double>({5}, g).requires_grad_();
  Tensor<double> s = dist::all_reduce_sum(y, one);
  CHECK_CLOSE(s, y, 0.0, 0.0);
  sum(mul(s, s)).backward();
  CHECK_CLOSE(y.grad(), mul(y, 2.0), 0.0, 1e-15);
}

TEST_CASE("sync_batch_norm2d on one rank is batch_norm2d (values, gradients, running statistics)", "[dist]") {
  dist::SingleProcess one;
  Generator g(2);
  const Tensor<double> x0 = randn<double>({3, 4, 5, 6}, g), gy = randn<double>({3, 4, 5, 6}, g);
  const Tensor<double> w0 = randn<double>({4}, g), b0 = randn<double>({4}, g);
  Tensor<double> xa = x0.clone().requires_grad_(), wa = w0.clone().requires_grad_(), ba = b0.clone().requires_grad_();
  Tensor<double> xb = x0.clone().requires_grad_(), wb = w0.clone().requires_grad_(), bb = b0.clone().requires_grad_();
  Tensor<double> rma = zeros<double>({4}), rva = ones<double>({4}), rmb = zeros<double>({4}), rvb = ones<double>({4});
  Tensor<double> ya = batch_norm2d(xa, wa, ba, rma, rva, true, 0.1, 1e-5);
  Tensor<double> yb = dist::sync_batch_norm2d(xb, wb, bb, rmb, rvb, 0.1, 1e-5, one);
  sum(mul(ya, gy)).backward();
  sum(mul(yb, gy)).backward();
  CHECK_CLOSE(yb, ya, 0.0, 1e-12);
  CHECK_CLOSE(xb.grad(), xa.grad(), 0.0, 1e-12);
  CHECK_CLOSE(wb.grad(), wa.grad(), 0.0, 1e-12);
  CHECK_CLOSE(bb.grad(), ba.grad(), 0.0, 1e-12);
  CHECK_CLOSE(rmb, rma, 0.0, 1e-14);
  CHECK_CLOSE(rvb, rva, 0.0, 1e-14);
}

TEST_CASE("distributed evaluation: run 0s stay on rank 0, the rest balance the test images", "[dist][eval]") {
  const std::vector<int64_t> sizes{100, 40, 10};
  const auto owner = eval::assign_runs(sizes, 3, 10, 4);  // 3 categories, k in 3 values, 10 runs
  std::vector<int64_t> load(4, 0);
  for (std::size_t c = 0; c < sizes.size(); ++c) {
    REQUIRE(owner[c].size() == 30);
    for (std::size_t t = 0; t < owner[c].size(); ++t) {
      if (t % 10 == 0) CHECK(owner[c][t] == 0);
      load[std::size_t(owner[c][t])] += sizes[c];
    }
  }
  const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
  CHECK(*hi - *lo <= 100);  // within one run of the largest category
  CHECK(eval::assign_runs(sizes, 3, 10, 1) == std::vector<std::vector<int>>(3, std::vector<int>(30, 0)));
}

TEST_CASE("a run survives the JSON round trip exactly, NaN included", "[dist][eval]") {
  eval::RunResult run;
  run.run = 7;
  run.seed = (uint64_t(1) << 63) + 12345;
  run.supports = {"a/b.png", "c.png"};
  run.metrics.image_auroc = 0.1 + 0.2;  // not exactly representable in decimal
  run.metrics.pixel_auroc = std::nextafter(0.9, 1.0);
  run.metrics.f1_max = 1.0 / 3.0;
  run.seconds = 1.5;
  run.notes = {"pixel metrics: none"};
  const eval::RunResult back = eval::run_from_json(nlohmann::json::parse(eval::run_to_json(2, run).dump()));
  CHECK(back.run == 7);
  CHECK(back.seed == run.seed);
  CHECK(back.supports == run.supports);
  CHECK(back.metrics.image_auroc == run.metrics.image_auroc);
  CHECK(back.metrics.pixel_auroc == run.metrics.pixel_auroc);
  CHECK(back.metrics.f1_max == run.metrics.f1_max);
  CHECK(std::isnan(back.metrics.aupro));
  CHECK(back.notes == run.notes);
}

TEST_CASE("NCCL on one rank: all-reduce, broadcast, all-gather, reduce-scatter of CUDA memory", "[dist][cuda]") {
#if PACKD_WITH_NCCL
  if (!cuda::cuda_available()) {
    WARN("skipped: no CUDA device (cuda_available() is false)");
    return;
  }
  auto nccl = dist::make_nccl_communicator(dist::single_process(), 0);
  CHECK(std::string(nccl->backend()) == "nccl");
  const Tensor<float> host = arange<float>(0, 1000);
  Tensor<float> dev = host.to(Device::cuda(0));
  nccl->all_reduce(dev.data(), 1000, DType::float32, dist::ReduceOp::sum, dev.device());
  nccl->all_reduce(dev.data(), 1000, DType::float32, dist::ReduceOp::avg, dev.device());
  nccl->broadcast(dev.data(), 4000, 0, dev.device());
  Tensor<float> gathered = Tensor<float>::empty({1000}, Device::cuda(0)), scattered = Tensor<float>::empty({1000}, Device::cuda(0));
  nccl->all_gather(dev.data(), gathered.data(), 4000, dev.device());
  nccl->reduce_scatter_sum(gathered.data(), scattered.data(), 1000, DType::float32, dev.device());
  CHECK_CLOSE(scattered.to(Device::cpu()), host, 0.0, 0.0);
  std::vector<Tensor<float>> grads{dev};
  dist::all_reduce_mean(*nccl, grads);
  CHECK_CLOSE(dev.to(Device::cpu()), host, 0.0, 0.0);
  CHECK_THROWS_PACKD(nccl->all_reduce(dev.data(), 1000, DType::float32, dist::ReduceOp::sum, Device::cuda(1)),
                     "another device");
#else
  WARN("skipped: built without NCCL (PACKD_WITH_NCCL=0)");
#endif
}
