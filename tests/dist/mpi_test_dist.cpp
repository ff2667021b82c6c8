// Data-parallel pieces on 2 MPI ranks (CTest runs this under `mpirun -np 2`; tests/dist/CMakeLists).
// Every test case is collective: both ranks run the same cases in the same order.
//   - the MpiCommunicator's collectives, the bucketed gradient all-reduce, string gathering and the
//     configuration check
//   - dist::all_gather / all_reduce_sum gradients, sync_batch_norm2d against one process's batch norm
//   - the Trainer: 2 ranks x B/2 with --sync-bn reach one process's weights with batch B; a run
//     checkpointed by one process resumes on 2 ranks; per-rank BN keeps the ranks identical
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "packd/data/synthetic.hpp"
#include "packd/data/dataset.hpp"
#include "packd/dist/autograd.hpp"
#include "packd/dist/mpi.hpp"
#include "packd/dist/sync_batchnorm.hpp"
#include "packd/io/checkpoint.hpp"
#include "packd/models/packd_loss.hpp"
#include "packd/nn/layers/batchnorm.hpp"
#include "packd/optim/adam.hpp"
#include "packd/train/trainer.hpp"
#include "checkpoint_diff.hpp"
#include "tiny_run.hpp"

using namespace packd;

namespace {
std::shared_ptr<dist::MpiCommunicator> g_comm;
dist::MpiCommunicator& comm() { return *g_comm; }

// One tensor, the same on every rank (same seed).
Tensor<double> shared_randn(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn<double>(s, g);
}

double max_abs_diff(const Tensor<float>& a, const Tensor<float>& b) { return amax(abs(sub(a, b))).item(); }
}  // namespace

TEST_CASE("MPI collectives move and reduce CPU memory", "[dist][mpi]") {
  const int r = comm().rank(), R = comm().size();
  REQUIRE(R == 2);
  std::vector<float> f{float(r + 1), 10.0f * float(r + 1)};
  comm().all_reduce(f.data(), f.size(), DType::float32, dist::ReduceOp::sum, Device::cpu());
  CHECK(f == std::vector<float>{3.0f, 30.0f});
  std::vector<double> d{double(r)};
  comm().all_reduce(d.data(), 1, DType::float64, dist::ReduceOp::avg, Device::cpu());
  CHECK(d[0] == 0.5);
  int64_t i = r + 5;
  comm().all_reduce(&i, 1, DType::int64, dist::ReduceOp::sum, Device::cpu());
  CHECK(i == 11);
  CHECK_THROWS_WITH(comm().all_reduce(&i, 1, DType::int64, dist::ReduceOp::avg, Device::cpu()),
                    Catch::Contains("mean of int64"));

  std::string b = r == 1 ? "from rank 1" : "xxxxxxxxxxx";
  comm().broadcast(b.data(), b.size(), 1, Device::cpu());
  CHECK(b == "from rank 1");

  const int64_t mine[2] = {r * 10, r * 10 + 1};
  int64_t all[4] = {};
  comm().all_gather(mine, all, sizeof mine, Device::cpu());
  CHECK((all[0] == 0 && all[1] == 1 && all[2] == 10 && all[3] == 11));

  const float blocks[4] = {1.0f + float(r), 2.0f, 3.0f * float(r + 1), 4.0f};  // block 0 = [0, 2), block 1 = [2, 4)
  float got[2] = {};
  comm().reduce_scatter_sum(blocks, got, 2, DType::float32, Device::cpu());
  if (r == 0) CHECK((got[0] == 3.0f && got[1] == 4.0f));
  else CHECK((got[0] == 9.0f && got[1] == 8.0f));

  // strings of different lengths, in rank order
  const auto s = dist::all_gather_strings(comm(), std::string(std::size_t(3 + 4 * r), char('a' + r)));
  REQUIRE(s.size() == 2);
  CHECK(s[0] == "aaa");
  CHECK(s[1] == "bbbbbbb");
  comm().barrier();
}

TEST_CASE("MPI collectives on CUDA memory go through the host", "[dist][mpi][cuda]") {
  // every rank decides the same way (same machine), so the collectives below stay matched
  if (!cuda::cuda_available()) {
    WARN("skipped: no CUDA device");
    return;
  }
  const int r = comm().rank(), R = comm().size();
  const Device gpu = Device::cuda(0);
  Tensor<float> x = full<float>({5}, float(r + 1), gpu);
  comm().all_reduce(x.data(), 5, DType::float32, dist::ReduceOp::sum, gpu);
  CHECK(x.to(Device::cpu()).to_vector() == std::vector<float>(5, float(R * (R + 1) / 2)));
  Tensor<int64_t> b = full<int64_t>({3}, int64_t(r == 1 ? 7 : 0), gpu);
  comm().broadcast(b.data(), 3 * sizeof(int64_t), 1, gpu);
  CHECK(b.to(Device::cpu()).to_vector() == std::vector<int64_t>(3, 7));
  Tensor<double> mine = full<double>({2}, double(r), gpu), all = zeros<double>({2 * R}, gpu);
  comm().all_gather(mine.data(), all.data(), 2 * sizeof(double), gpu);
  const std::vector<double> got = all.to(Device::cpu()).to_vector();
  for (int q = 0; q < R; ++q) CHECK((got[std::size_t(2 * q)] == q && got[std::size_t(2 * q + 1)] == q));
  Tensor<float> send = full<float>({2 * R}, 1.0f, gpu), recv = zeros<float>({2}, gpu);
  comm().reduce_scatter_sum(send.data(), recv.data(), 2, DType::float32, gpu);
  CHECK(recv.to(Device::cpu()).to_vector() == std::vector<float>(2, float(R)));
}

TEST_CASE("the bucketed all-reduce averages every tensor across buckets", "[dist][mpi]") {
  const int r = comm().rank();
  std::vector<Tensor<float>> ts;
  for (int64_t n : {1, 7, 300, 2, 1000, 33}) ts.push_back(full<float>({n}, float(r == 0 ? n : 3 * n)));
  dist::all_reduce_mean(comm(), ts, /*bucket_bytes=*/1024);  // several buckets, one tensor larger than a bucket
  for (const auto& t : ts) CHECK(max_abs_diff(t, full<float>({t.numel()}, 2.0f * float(t.numel()))) == 0.0);
}

TEST_CASE("the configuration check names the rank and the keys that differ", "[dist][mpi]") {
  nlohmann::json same = {{"lr", 5e-4}, {"data", "/d"}};
  CHECK_NOTHROW(dist::check_same_everywhere(comm(), "training configuration", same));
  nlohmann::json mine = {{"lr", comm().rank() == 0 ? 5e-4 : 1e-3}, {"data", "/d"}};
  CHECK_THROWS_WITH(dist::check_same_everywhere(comm(), "training configuration", mine),
                    Catch::Contains("ranks disagree on the training configuration") && Catch::Contains("rank 1 differs from rank 0 in: lr"));
}

TEST_CASE("dist::all_gather and all_reduce_sum: each rank gets the sum of all ranks' gradients", "[dist][mpi]") {
  const int r = comm().rank();
  // Global x (4, 3); rank r holds rows [2r, 2r+2). Loss on rank q: sum(w_q * all_gather(x)).
  const Tensor<double> x_all = shared_randn({4, 3}, 1);
  Tensor<double> x = x_all.narrow(0, 2 * r, 2).clone().requires_grad_();
  const Tensor<double> w0 = shared_randn({4, 3}, 2), w1 = shared_randn({4, 3}, 3);
  Tensor<double> g = dist::all_gather(x, comm());  // (4, 3)
  CHECK(amax(abs(sub(g, x_all))).item() == 0.0);
  sum(mul(g, r == 0 ? w0 : w1)).backward();
  CHECK(amax(abs(sub(x.grad(), add(w0, w1).narrow(0, 2 * r, 2)))).item() < 1e-15);

  Tensor<double> y = x_all.narrow(0, 2 * r, 2).clone().requires_grad_();
  Tensor<double> s = dist::all_reduce_sum(y, comm());  // (2, 3): rows 0-1 + rows 2-3
  CHECK(amax(abs(sub(s, add(x_all.narrow(0, 0, 2), x_all.narrow(0, 2, 2))))).item() < 1e-15);
  sum(mul(s, (r == 0 ? w0 : w1).narrow(0, 0, 2))).backward();
  CHECK(amax(abs(sub(y.grad(), add(w0, w1).narrow(0, 0, 2)))).item() < 1e-15);
}

TEST_CASE("sync_batch_norm2d over 2 ranks equals batch_norm2d over the whole batch", "[dist][mpi]") {
  const int r = comm().rank();
  const Tensor<double> x_all = add(mul(shared_randn({4, 3, 5, 5}, 4), 2.0), 0.5);  // (N, C, H, W)
  const Tensor<double> gy = shared_randn({4, 3, 5, 5}, 5);
  const Tensor<double> w0 = shared_randn({3}, 6), b0 = shared_randn({3}, 7);

  Tensor<double> xf = x_all.clone().requires_grad_(), wf = w0.clone().requires_grad_(), bf = b0.clone().requires_grad_();
  Tensor<double> rmf = zeros<double>({3}), rvf = ones<double>({3});
  Tensor<double> yf = batch_norm2d(xf, wf, bf, rmf, rvf, true, 0.1, 1e-5);
  sum(mul(yf, gy)).backward();

  Tensor<double> xs = x_all.narrow(0, 2 * r, 2).clone().requires_grad_(), ws = w0.clone().requires_grad_(),
                 bs = b0.clone().requires_grad_();
  Tensor<double> rms = zeros<double>({3}), rvs = ones<double>({3});
  Tensor<double> ys = dist::sync_batch_norm2d(xs, ws, bs, rms, rvs, 0.1, 1e-5, comm());
  sum(mul(ys, gy.narrow(0, 2 * r, 2))).backward();
  // parameter gradients of the global loss = the sum over ranks
  Tensor<double> gw = ws.grad().clone(), gb = bs.grad().clone();
  comm().all_reduce(gw.data(), 3, DType::float64, dist::ReduceOp::sum, Device::cpu());
  comm().all_reduce(gb.data(), 3, DType::float64, dist::ReduceOp::sum, Device::cpu());

  CHECK(amax(abs(sub(ys, yf.narrow(0, 2 * r, 2)))).item() < 1e-12);
  CHECK(amax(abs(sub(xs.grad(), xf.grad().narrow(0, 2 * r, 2)))).item() < 1e-12);
  CHECK(amax(abs(sub(gw, wf.grad()))).item() < 1e-12);
  CHECK(amax(abs(sub(gb, bf.grad()))).item() < 1e-12);
  CHECK(amax(abs(sub(rms, rmf))).item() < 1e-14);
  CHECK(amax(abs(sub(rvs, rvf))).item() < 1e-14);
}

TEST_CASE("float64: 2 ranks x B/2 (sync BN, gathered negatives) compute one process's PACKD gradients", "[dist][mpi]") {
  // The same student twice (same seed): one sees the whole batch alone, the other is this rank's
  // part of a 2-rank group. Three Adam steps; every gradient is compared at every step.
  const int r = comm().rank();
  models::ResNetSpec ts = models::resnet_spec("wide_resnet50_2");
  ts.base_planes = 2;
  models::PackdConfig cfg;
  cfg.prototypes = 4;
  Generator g1(11), g2(11);
  models::PackdStudent<double> alone(ts, models::rd_spec(ts), cfg, g1), ranked(ts, models::rd_spec(ts), cfg, g2);
  nn::sync_batch_norms<double>(ranked, &comm());
  optim::Adam<double> adam_alone(alone.named_parameters(), {.lr = 5e-4, .betas = {0.5, 0.999}});
  optim::Adam<double> adam_ranked(ranked.named_parameters(), {.lr = 5e-4, .betas = {0.5, 0.999}});
  const std::vector<int64_t> labels{0, 0, 1, 1}, mine{labels[std::size_t(2 * r)], labels[std::size_t(2 * r + 1)]};
  for (uint64_t step = 0; step < 3; ++step) {
    const Tensor<double> q = shared_randn({4, 3, 64, 64}, 100 + step);     // (B, 3, S, S)
    const Tensor<double> s = shared_randn({4, 4, 3, 64, 64}, 200 + step);  // (B, V, 3, S, S)
    alone.train();
    auto fa = alone.forward(q, s);
    auto la = models::packd_loss(alone, fa, labels);
    adam_alone.zero_grad();
    la.total.backward();

    ranked.train();
    auto fr = ranked.forward(q.narrow(0, 2 * r, 2), s.narrow(0, 2 * r, 2));
    auto lr_ = models::packd_loss(ranked, fr, mine, models::CdsForm::cheaper, &comm());
    adam_ranked.zero_grad();
    lr_.total.backward();
    std::vector<Tensor<double>> grads;
    for (auto& [name, p] : ranked.named_parameters())
      if (p.grad().defined()) grads.push_back(p.grad());
    dist::all_reduce_mean(comm(), grads);
    double total = lr_.total.item();
    comm().all_reduce(&total, 1, DType::float64, dist::ReduceOp::avg, Device::cpu());
    CHECK(std::abs(total - la.total.item()) <= 1e-12 * std::abs(la.total.item()));

    // Relative to each tensor's own gradient scale, but not below 1e-6 of the largest gradient:
    // the prototype convs' biases feed a spatial softmax, which is blind to a per-channel constant,
    // so their exact gradient is 0 and what is computed is round-off on both sides.
    const auto pa = alone.named_parameters(), pr = ranked.named_parameters();
    double global = 0, worst = 0;
    for (const auto& [name, p] : pa)
      if (p.grad().defined()) global = std::max(global, amax(abs(p.grad())).item());
    std::string worst_name;
    for (std::size_t i = 0; i < pa.size(); ++i) {
      const Tensor<double>& ga = pa[i].second.grad();
      if (!ga.defined()) continue;
      REQUIRE(pr[i].second.grad().defined());
      const double scale = std::max(1e-6 * global, amax(abs(ga)).item());
      const double d = amax(abs(sub(ga, pr[i].second.grad()))).item() / scale;
      if (d > worst) worst = d, worst_name = pa[i].first;
    }
    INFO("step " << step << ": worst gradient " << worst_name << " relative difference " << worst);
    CHECK(worst < 1e-9);
    adam_alone.step();
    adam_ranked.step();
  }
}

namespace {
const std::string kRoot = "/tmp/packd_mpi_test";

train::TrainOptions tiny_options(const std::string& out) {
  return testing::tiny_train_options(out, /*max_steps=*/3, /*checkpoint_every=*/2);
}

std::vector<train::TrainCategory> tiny_categories() {
  std::vector<train::TrainCategory> cats;
  for (const char* c : {"checker", "disc", "stripes"}) cats.push_back({c, data::mvtec(kRoot + "/data", c).train_good});
  return cats;
}

// Rank 0 makes the data set; everyone waits for it.
void make_data() {
  if (comm().rank() == 0) {
    std::filesystem::remove_all(kRoot);
    data::make_synthetic_dataset(kRoot + "/data", {.seed = 3, .categories = {"checker", "disc", "stripes"}, .image_size = 64,
                                                   .n_train = 6, .n_test_good = 1, .n_test_bad = 1});
  }
  comm().barrier();
}

// Runs a whole training on rank 0 alone (a single-process trainer); rank 1 waits.
void train_alone(const train::TrainOptions& o) {
  if (comm().rank() == 0) train::Trainer(o, tiny_categories()).run();
  comm().barrier();
}

double checkpoint_distance(const std::string& a, const std::string& b, bool weights_only = false) {
  return testing::checkpoint_distance(a + "/checkpoint.safetensors", b + "/checkpoint.safetensors", weights_only);
}

// The step-1 losses of two runs' log.jsonl.
double first_loss(const std::string& run) {
  std::ifstream in(run + "/log.jsonl");
  std::string line;
  std::getline(in, line);
  return nlohmann::json::parse(line).at("loss").get<double>();
}
}  // namespace

// A float32 step: the same to round-off. Over several float32 steps the runs part (in any
// framework): PEIM's guide feature is an argmax over prototypes, so a round-off difference can pick
// another prototype, and Adam turns round-off gradients (the exactly-zero ones above) into +-lr
// steps. The float64 case above checks three steps exactly; this one checks the trainer's plumbing.
TEST_CASE("2 ranks x B/2 with sync BN: a training step equals one process's with batch B", "[dist][mpi][train]") {
  make_data();
  train::TrainOptions o = tiny_options(kRoot + "/two_ranks");
  o.sync_bn = true;
  o.max_steps = 1;
  train::Trainer(o, tiny_categories(), g_comm).run();
  train::TrainOptions single = o;
  single.out = kRoot + "/one_process";
  train_alone(single);
  if (comm().rank() == 0) {
    const double d = checkpoint_distance(kRoot + "/two_ranks", kRoot + "/one_process");
    INFO("largest difference relative to its group's scale: " << d);
    CHECK(d < 1e-4);
    CHECK(d > 0.0);  // two different computations: exact equality would mean one was not run
    CHECK(std::abs(first_loss(kRoot + "/two_ranks") - first_loss(kRoot + "/one_process")) < 1e-6);
  }
  comm().barrier();
}

TEST_CASE("--resume works for any number of ranks", "[dist][mpi][train]") {
  make_data();
  // One process: steps 1-2, checkpoint; 2 ranks: step 3. Against one process's uninterrupted 3
  // steps, only step 3's round-off differs: the weights agree to round-off. (Adam's moments are not
  // compared here: in this tiny random model step 3's guide argmax picks another prototype for a
  // location on one side, which moves the prototype conv's gradient by a few percent.)
  train::TrainOptions o = tiny_options(kRoot + "/resumed");
  o.sync_bn = true;
  o.max_steps = 2;
  train_alone(o);
  o.max_steps = 3;
  o.resume = true;
  {
    train::Trainer t(o, tiny_categories(), g_comm);
    CHECK(t.step() == 2);
    t.run();
  }
  train::TrainOptions ref = tiny_options(kRoot + "/uninterrupted");
  ref.sync_bn = true;
  train_alone(ref);
  if (comm().rank() == 0) CHECK(checkpoint_distance(kRoot + "/resumed", kRoot + "/uninterrupted", /*weights_only=*/true) < 1e-4);

  // 2 ranks stopped after 2 steps and resumed end bit-identical to 2 ranks uninterrupted.
  train::TrainOptions a = tiny_options(kRoot + "/ranks_resumed"), b = tiny_options(kRoot + "/ranks_uninterrupted");
  a.max_steps = 2;
  train::Trainer(a, tiny_categories(), g_comm).run();
  a.max_steps = 3;
  a.resume = true;
  train::Trainer(a, tiny_categories(), g_comm).run();
  train::Trainer(b, tiny_categories(), g_comm).run();
  if (comm().rank() == 0) CHECK(checkpoint_distance(kRoot + "/ranks_resumed", kRoot + "/ranks_uninterrupted") == 0.0);
  comm().barrier();
}

TEST_CASE("per-rank BN (DDP's default) keeps every rank's parameters and buffers identical", "[dist][mpi][train]") {
  make_data();
  train::TrainOptions o = tiny_options(kRoot + "/per_rank_bn");
  train::Trainer t(o, tiny_categories(), g_comm);
  t.run();
  std::string mine;
  for (const auto& [name, raw] : t.model().state_dict_raw())
    mine += name + ":" + io::sha256_hex(raw.bytes.data(), raw.bytes.size()) + "\n";
  const auto all = dist::all_gather_strings(comm(), mine);
  CHECK(all[0] == all[1]);
}

TEST_CASE("a batch that cannot be split over the ranks is refused before training", "[dist][mpi][train]") {
  make_data();
  train::TrainOptions o = tiny_options(kRoot + "/odd");
  o.batch_size = 6;
  o.cats_per_batch = 3;
  o.max_steps = 1;
  CHECK_NOTHROW(train::Trainer(o, tiny_categories(), g_comm));
  o.batch_size = 3;
  o.cats_per_batch = 3;
  CHECK_THROWS_WITH(train::Trainer(o, tiny_categories(), g_comm), Catch::Contains("cannot be split evenly over 2 ranks"));
}

int main(int argc, char** argv) {
  g_comm = std::make_shared<dist::MpiCommunicator>(dist::MpiOptions{.timeout_s = 300});
  const int rc = Catch::Session().run(argc, argv);
  g_comm->barrier();
  g_comm.reset();
  return rc;
}
