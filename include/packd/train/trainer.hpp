#pragma once
// PACKD's meta-training loop (paper 5.1, packd-method.md D10-D12): episodes from the training
// categories, the frozen teacher under no-grad in eval mode, Adam on the student (bn, decoder,
// proto, proj), a progress line, a JSON-lines log of every step's losses, atomic checkpoints
// every N steps and at the end, and exact resume.
//
// RUN_DIR holds:
//   checkpoint.safetensors   the student's state_dict (PyTorch names, packd-method.md 3) + "optim.*"
//                            (Adam's state) + __metadata__: the run's config (JSON), step, epoch,
//                            the sampler's position and generator states
//   log.jsonl                one JSON object per step: step, epoch, loss, kd, nce, orth per stage, lr,
//                            images per second (of the global batch); data-parallel runs add ranks
//                            and allreduce_s (rank 0's time in the gradient all-reduce)
//   config.json              the run's configuration (written at the start)
//
// Device (TrainOptions::device): the student and the teacher live there and every batch is moved
// there; the losses for the log and the checkpoint's tensors are copied to the host. A checkpoint
// holds host tensors only, so a run may resume on another device (device is not compared).
//
// Resume (TrainOptions::resume) restores all of it and truncates log.jsonl to the checkpoint's
// step, so a run killed at any point and resumed ends with the same weights as an uninterrupted
// run (CPU, same thread count: packd's kernels are deterministic for a fixed thread count).
//
// Data parallelism (a dist::Communicator of R ranks, docs/distributed.md): every rank holds the
// model and runs the same sampler; rank r takes queries [r B/R, (r+1) B/R) of every global batch.
// Rank 0's parameters and buffers are broadcast at the start, the configurations are compared, the
// CDS negatives are gathered from all ranks (models/packd_loss.hpp), the gradients are averaged in
// one bucketed all-reduce per step, and only rank 0 writes the log, config.json and checkpoints.
// BN: per-rank batch statistics with rank 0's running statistics broadcast after every step
// (DDP's defaults, which broadcast them before the next forward), or global statistics with sync_bn (torch.nn.SyncBatchNorm), which makes R ranks
// x B/R queries compute what one process with B queries computes.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "packd/data/image.hpp"
#include "packd/dist/communicator.hpp"
#include "packd/io/checkpoint.hpp"
#include "packd/io/sha256.hpp"
#include "packd/io/weights.hpp"
#include "packd/models/packd_loss.hpp"
#include "packd/optim/adam.hpp"
#include "packd/train/augment.hpp"
#include "packd/train/sampler.hpp"

namespace packd::train {

// "cpu" or "cuda:N", as Device prints; device_from_name reads it back (config JSON).
inline std::string device_name(Device d) { return detail::concat(d); }
inline Device device_from_name(const std::string& name, const std::string& source = "device") {
  if (name == "cpu") return Device::cpu();
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() <= 9 &&
      name.find_first_not_of("0123456789", 5) == std::string::npos)
    return Device::cuda(std::stoi(name.substr(5)));
  PACKD_CHECK(false, source, ": device '", name, "' is not cpu or cuda:N");
  return Device::cpu();  // unreachable
}

struct TrainOptions {
  std::string backbone = "wide_resnet50_2";
  int64_t base_planes = 64;        // < 64 narrows teacher and student alike (random teacher only: demos, tests)
  std::string weights;             // the teacher's ImageNet weights; empty = random teacher (warned)
  int64_t image_size = 256;
  int64_t shots = 2;               // k
  int64_t batch_size = 32;
  int64_t cats_per_batch = 4;      // D10
  int64_t epochs = 100;
  int64_t max_steps = 0;           // > 0: stop after this many steps (smoke tests, benchmarks)
  double lr = 5e-4;                // paper 5.1
  std::array<double, 2> betas{0.5, 0.999};  // D11
  uint64_t seed = 0;
  int64_t checkpoint_every = 100;  // steps
  std::string out = "run";
  bool resume = false;
  bool progress = true;
  bool sync_bn = false;            // data-parallel runs: BN statistics over all ranks' queries
  Device device = Device::cpu();   // where the model trains
  models::PackdConfig method;

  nlohmann::json to_json() const {
    return {{"backbone", backbone},   {"base_planes", base_planes}, {"weights", weights},
            {"image_size", image_size}, {"shots", shots},           {"batch_size", batch_size},
            {"cats_per_batch", cats_per_batch}, {"epochs", epochs}, {"max_steps", max_steps},
            {"lr", lr},               {"betas", betas},             {"seed", seed},
            {"checkpoint_every", checkpoint_every}, {"sync_bn", sync_bn}, {"device", device_name(device)},
            {"method", method.to_json()}};
  }
};

// The teacher and student specifications of a run (a narrowed backbone for base_planes < 64).
inline models::ResNetSpec teacher_spec(const TrainOptions& o) {
  models::ResNetSpec s = models::resnet_spec(o.backbone);
  PACKD_CHECK(o.base_planes > 0 && o.base_planes <= 64 && 64 % o.base_planes == 0, "--width: base planes ", o.base_planes,
              " must divide 64");
  PACKD_CHECK(o.base_planes == 64 || o.weights.empty(), "--width ", o.base_planes,
              " narrows the teacher, so ImageNet weights (--weights) cannot be loaded into it");
  s.base_planes = o.base_planes;
  return s;
}

// Loads an image list once, resized and normalised: (3, S, S) per path.
class ImageCache {
 public:
  explicit ImageCache(int64_t size) : size_(size) {}
  const Tensor<float>& get(const std::string& path) {
    auto it = cache_.find(path);
    if (it == cache_.end()) it = cache_.emplace(path, data::load_image(path, size_).squeeze(0)).first;
    return it->second;
  }

 private:
  int64_t size_;
  std::map<std::string, Tensor<float>> cache_;
};

template <FloatScalar T>
struct EpisodeTensors {
  Tensor<T> query;    // (B, 3, S, S)
  Tensor<T> support;  // (B, V, 3, S, S)
  std::vector<int64_t> labels;
};

// The batch's tensors on `device`: the images (decoded and cached on the host) are moved there
// and the support views are made there, so only the k supports per query cross to a GPU. For a
// GPU the host side is assembled in page-locked memory (empty_pinned): one DMA per tensor.
template <FloatScalar T>
EpisodeTensors<T> episode_tensors(const std::vector<Query>& batch, ImageCache& cache, const std::string& aug,
                                  Device device = Device::cpu()) {
  // images (n, 3, S, S) of the cache, stacked into one host tensor (pinned for a GPU)
  auto stack = [&](const std::vector<std::string>& paths) {
    std::vector<Tensor<T>> imgs;
    for (const auto& p : paths) imgs.push_back(cache.get(p).template to<T>().unsqueeze(0));
    Tensor<T> host = cat<T>(imgs, 0);
    if (device.is_cpu()) return host;
    Tensor<T> pinned = empty_pinned<T>(host.shape());
    pinned.copy_(host);
    return pinned.to(device);
  };
  EpisodeTensors<T> e;
  std::vector<std::string> query_paths;
  std::vector<Tensor<T>> ss;
  for (const auto& q : batch) {
    query_paths.push_back(q.image);
    ss.push_back(support_views(stack(q.supports), aug).unsqueeze(0));  // (1, V, 3, S, S)
    e.labels.push_back(q.category);
  }
  e.query = stack(query_paths);  // (B, 3, S, S)
  e.support = cat<T>(ss, 0);     // (B, V, 3, S, S)
  return e;
}

struct StepRecord {
  int64_t step = 0, epoch = 0;
  double loss = 0, images_per_s = 0;
  double allreduce_s = 0;  // this step's gradient all-reduce (data-parallel runs)
  std::array<double, 3> kd{}, nce{}, orth{};
};

class Trainer {
 public:
  // comm: the data-parallel group (nullptr: this process alone). Every rank constructs its Trainer
  // with the same options and categories.
  Trainer(const TrainOptions& o, std::vector<TrainCategory> categories, std::shared_ptr<dist::Communicator> comm = nullptr)
      : opt_(o),
        comm_(comm ? std::move(comm) : dist::single_process()),
        sampler_(std::move(categories), {.batch_size = o.batch_size, .cats_per_batch = o.cats_per_batch, .shots = o.shots},
                 o.seed),
        cache_(o.image_size) {
    o.method.validate();
    const int R = comm_->size();
    PACKD_CHECK(o.batch_size % R == 0, "--batch-size ", o.batch_size, " cannot be split evenly over ", R,
                " ranks: the global batch must be a multiple of the number of ranks");
    PACKD_CHECK(o.image_size >= 32 && o.image_size % 32 == 0, "--image-size ", o.image_size,
                " must be a positive multiple of 32");
    PACKD_CHECK(o.cats_per_batch >= 2 || o.method.lambda1 == 0, "--cats-per-batch ", o.cats_per_batch,
                ": the contrastive loss needs queries of at least two categories per batch (or lambda1=0)");
    PACKD_CHECK(o.epochs > 0 || o.max_steps > 0, "nothing to do: --epochs and --max-steps are both 0");
    PACKD_CHECK(o.checkpoint_every > 0, "--checkpoint-every must be positive");
    check_device_built(o.device, "Trainer");
    Generator gen(o.seed);
    const models::ResNetSpec ts = teacher_spec(o);
    model_ = std::make_shared<models::PackdStudent<float>>(ts, models::rd_spec(ts), o.method, gen);
    if (!o.weights.empty()) {
      io::check_torchvision_hash(o.weights);
      model_->teacher->load_state_dict(io::load_weights(o.weights), {}, o.weights);
    }
    // Initialised (and loaded) on the host, exactly as on the CPU, then moved: the same run on any
    // device starts from the same weights. The optimiser's state follows the parameters' device.
    if (!o.device.is_cpu()) model_->to(o.device);
    optim_ = std::make_unique<optim::Adam<float>>(model_->named_parameters(), optim::AdamOptions{.lr = o.lr, .betas = o.betas});
    if (R > 1) {
      dist::check_same_everywhere(*comm_, "training configuration", identity());
      broadcast_state(/*buffers_only=*/false);
      if (o.sync_bn) nn::sync_batch_norms<float>(*model_, comm_.get());
    }
    if (is_root()) std::filesystem::create_directories(o.out);
    // Rank 0 decides whether there is a checkpoint to resume; every rank then reads it (the run
    // folder must be on a file system all ranks see).
    int64_t resume = o.resume && is_root() && std::filesystem::exists(checkpoint_path()) ? 1 : 0;
    comm_->broadcast(&resume, sizeof resume, 0, Device::cpu());
    if (resume) {
      PACKD_CHECK(std::filesystem::exists(checkpoint_path()), "rank ", comm_->rank(), ": --resume: ", checkpoint_path(),
                  " exists on rank 0 but not here; a data-parallel run folder must be on a file system every rank sees");
      restore();
    }
  }

  bool teacher_is_random() const { return opt_.weights.empty(); }
  // Rank 0 of the data-parallel group (the only one that writes files), or the only process.
  bool is_root() const { return comm_->rank() == 0; }
  dist::Communicator& communicator() const { return *comm_; }
  int64_t step() const { return step_; }
  // Steps of the whole run: exact with --max-steps; with epochs, an estimate from the current
  // epoch's batch count (epochs differ by a batch when categories do not divide evenly).
  int64_t total_steps() const {
    const int64_t by_epochs = opt_.epochs * sampler_.batches_per_epoch();
    return opt_.max_steps > 0 ? (opt_.epochs > 0 ? std::min(opt_.max_steps, by_epochs) : opt_.max_steps) : by_epochs;
  }
  // True when the run has done its steps (max_steps) or its epochs.
  bool finished() const {
    return (opt_.max_steps > 0 && step_ >= opt_.max_steps) || (opt_.epochs > 0 && sampler_.next_epoch() >= opt_.epochs);
  }
  models::PackdStudent<float>& model() { return *model_; }
  std::string checkpoint_path() const { return (std::filesystem::path(opt_.out) / "checkpoint.safetensors").string(); }

  // One training step on the next episode (this rank's share of it). The record's losses are the
  // global batch's (averaged over ranks).
  StepRecord train_step() {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t epoch = sampler_.epoch();
    const std::vector<Query> batch = sampler_.next();
    const std::size_t share = batch.size() / std::size_t(comm_->size()), first = share * std::size_t(comm_->rank());
    const std::vector<Query> mine(batch.begin() + std::ptrdiff_t(first), batch.begin() + std::ptrdiff_t(first + share));
    EpisodeTensors<float> e = episode_tensors<float>(mine, cache_, opt_.method.aug, opt_.device);
    model_->train();
    auto f = model_->forward(e.query, e.support);
    auto loss = models::packd_loss(*model_, f, e.labels, models::CdsForm::cheaper, comm_.get());
    optim_->zero_grad();
    loss.total.backward();
    double allreduce_s = 0;
    if (comm_->size() > 1) {
      const auto a0 = std::chrono::steady_clock::now();
      std::vector<Tensor<float>> grads;
      for (auto& [name, p] : model_->named_parameters())
        if (p.grad().defined()) grads.push_back(p.grad());
      dist::all_reduce_mean(*comm_, grads);
      allreduce_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a0).count();
      allreduce_seconds_ += allreduce_s;
    }
    optim_->step();
    // Per-rank BN statistics moved each rank's running statistics its own way: rank 0's win, as
    // with DDP's broadcast_buffers (which sends them before the next forward; after the step, every
    // rank's state is the same at every checkpoint).
    if (comm_->size() > 1 && !opt_.sync_bn) broadcast_state(/*buffers_only=*/true);
    ++step_;
    // total, kd, nce, orth per stage: this rank's (item() copies each to the host), then their
    // mean over ranks
    std::array<double, 10> v{loss.total.item()};
    for (std::size_t i = 0; i < 3; ++i) {
      v[1 + i] = loss.kd[i].item();
      v[4 + i] = loss.nce[i].defined() ? loss.nce[i].item() : 0.0;
      v[7 + i] = loss.orth[i].defined() ? loss.orth[i].item() : 0.0;
    }
    comm_->all_reduce(v.data(), v.size(), DType::float64, dist::ReduceOp::avg, Device::cpu());
    StepRecord r;
    r.step = step_;
    r.epoch = epoch;
    r.allreduce_s = allreduce_s;
    r.loss = v[0];
    for (std::size_t i = 0; i < 3; ++i) r.kd[i] = v[1 + i], r.nce[i] = v[4 + i], r.orth[i] = v[7 + i];
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.images_per_s = double(batch.size()) / s;
    return r;
  }
  // Seconds spent in the gradient all-reduce so far (0 for one process).
  double allreduce_seconds() const { return allreduce_seconds_; }

  // The whole run: steps until the end, checkpoints every N steps and at the end. `on_step`
  // sees every record (tests use it to stop a run part-way).
  void run(const std::function<bool(const StepRecord&)>& on_step = {}) {
    if (!is_root()) {  // the other ranks compute; rank 0 writes
      while (!finished()) {
        StepRecord r = train_step();
        if (on_step && !on_step(r)) break;
      }
      comm_->barrier();  // returns once rank 0's final checkpoint is written
      return;
    }
    std::ofstream log((std::filesystem::path(opt_.out) / "log.jsonl").string(), std::ios::app);
    {
      nlohmann::json cfg = opt_.to_json();
      io::write_file_atomic((std::filesystem::path(opt_.out) / "config.json").string(),
                            [&] { std::string t = cfg.dump(2) + "\n"; return std::vector<uint8_t>(t.begin(), t.end()); }());
    }
    const auto start = std::chrono::steady_clock::now();
    const int64_t first = step_;
    while (!finished()) {
      StepRecord r = train_step();
      const int64_t total = std::max(total_steps(), step_);
      nlohmann::json j = {{"step", r.step},     {"epoch", r.epoch}, {"loss", r.loss}, {"kd", r.kd},
                          {"nce", r.nce},       {"orth", r.orth},   {"lr", opt_.lr},  {"images_per_s", r.images_per_s}};
      if (comm_->size() > 1) j["ranks"] = comm_->size(), j["allreduce_s"] = r.allreduce_s;
      log << j.dump() << "\n" << std::flush;
      if (opt_.progress) {
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double eta = el / double(step_ - first) * double(total - step_);
        std::fprintf(stderr, "\r[epoch %lld] step %lld/%lld  loss %.4f (kd %.3f nce %.3f orth %.3f)  %.1f img/s  ETA %.0fs   ",
                     (long long)r.epoch, (long long)step_, (long long)total, r.loss, r.kd[0] + r.kd[1] + r.kd[2],
                     r.nce[0] + r.nce[1] + r.nce[2], r.orth[0] + r.orth[1] + r.orth[2], r.images_per_s, eta);
      }
      if (step_ % opt_.checkpoint_every == 0 || finished()) save();
      if (on_step && !on_step(r)) break;
    }
    if (opt_.progress) std::fprintf(stderr, "\n");
    comm_->barrier();
  }

  // Writes the checkpoint (rank 0 only; the other ranks hold the same state).
  void save() const {
    if (!is_root()) return;
    std::map<std::string, io::RawTensor> tensors = model_->state_dict_raw();
    for (auto& [k, v] : optim_->state_dict("optim.")) tensors[k] = v;
    const auto st = sampler_.state();
    nlohmann::json pos = {{"epoch", st.epoch}, {"batch", st.batch}, {"epoch_start", encode(st.epoch_start)},
                          {"supports", encode(st.supports)}};
    io::save_checkpoint(checkpoint_path(), tensors, opt_.to_json(),
                        {{"step", std::to_string(step_)}, {"sampler", pos.dump()}, {"kind", "packd.train"}});
  }

 private:
  // Generator states as JSON: the four words as decimal strings (JSON numbers lose 64-bit values),
  // the Box-Muller spare as its bit pattern.
  static nlohmann::json encode(const Generator::State& s) {
    nlohmann::json words = nlohmann::json::array();
    for (uint64_t w : s.s) words.push_back(std::to_string(w));
    uint64_t spare_bits = 0;
    std::memcpy(&spare_bits, &s.spare, sizeof spare_bits);
    return {{"s", words}, {"spare", std::to_string(spare_bits)}, {"has_spare", s.has_spare}};
  }
  static Generator::State decode(const nlohmann::json& j) {
    Generator::State s{};
    for (std::size_t i = 0; i < 4; ++i) s.s[i] = std::stoull(j.at("s").at(i).get<std::string>());
    const uint64_t spare_bits = std::stoull(j.at("spare").get<std::string>());
    std::memcpy(&s.spare, &spare_bits, sizeof spare_bits);
    s.has_spare = j.at("has_spare").get<bool>();
    return s;
  }

  void restore() {
    io::Checkpoint c = io::load_checkpoint(checkpoint_path());
    // epochs, max_steps and the checkpoint interval may change on resume; anything else would
    // make a different run.
    nlohmann::json a = c.config, b = opt_.to_json();
    if (!a.contains("sync_bn")) a["sync_bn"] = false;  // checkpoints from before data parallelism
    // The device may change on resume (the checkpoint holds host tensors; older ones lack the key).
    for (const char* k : {"epochs", "max_steps", "checkpoint_every", "device"}) a.erase(k), b.erase(k);
    PACKD_CHECK(a == b, checkpoint_path(), ": --resume with a different configuration than the checkpoint's:\n  saved ",
                a.dump(), "\n  now   ", b.dump());
    nn::WeightMap model_part, optim_part;
    for (auto& [k, v] : c.tensors) (k.rfind("optim.", 0) == 0 ? optim_part : model_part)[k] = v;
    model_->load_state_dict(model_part, {}, checkpoint_path());
    optim_->load_state_dict(optim_part, "optim.", checkpoint_path());
    step_ = std::stoll(c.metadata.at("step"));
    const auto pos = nlohmann::json::parse(c.metadata.at("sampler"));
    EpisodeSampler::State st;
    st.epoch = pos["epoch"].get<int64_t>();
    st.batch = pos["batch"].get<int64_t>();
    st.epoch_start = decode(pos["epoch_start"]);
    st.supports = decode(pos["supports"]);
    sampler_.set_state(st);
    if (is_root()) truncate_log();
  }

  // What must agree across ranks: the options, the output folder, the training images, the model.
  nlohmann::json identity() const {
    nlohmann::json cats = nlohmann::json::array();
    for (const auto& c : sampler_.categories()) {
      std::string paths;
      for (const auto& p : c.images) paths += p + "\n";
      cats.push_back({{"name", c.name}, {"images", c.images.size()}, {"paths_sha256", io::sha256_hex(
                          reinterpret_cast<const uint8_t*>(paths.data()), paths.size())}});
    }
    nlohmann::json options = opt_.to_json();
    options.erase("device");  // each rank may drive its own GPU (cuda:local_rank)
    return {{"options", options}, {"out", opt_.out}, {"categories", cats},
            {"student_parameters", model_->num_parameters()}, {"teacher_parameters", model_->teacher->num_parameters()}};
  }

  // Rank 0's student and teacher parameters and buffers to every rank, or only the student's
  // buffers (the running statistics; the frozen teacher's never change).
  void broadcast_state(bool buffers_only) {
    std::vector<std::shared_ptr<TensorImpl>> ts;
    for (auto& b : model_->named_buffers()) ts.push_back(b.tensor);
    if (!buffers_only) {
      for (auto& [n, p] : model_->named_parameters()) ts.push_back(p.impl_ptr());
      for (auto& [n, p] : model_->teacher->named_parameters()) ts.push_back(p.impl_ptr());
      for (auto& b : model_->teacher->named_buffers()) ts.push_back(b.tensor);
    }
    dist::broadcast_tensors(*comm_, ts);
  }

  // Drops log lines written after the checkpoint (by the interrupted run).
  void truncate_log() const {
    const std::string path = (std::filesystem::path(opt_.out) / "log.jsonl").string();
    std::ifstream in(path);
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (nlohmann::json::parse(line).value("step", int64_t(0)) <= step_) kept += line + "\n";
    }
    io::write_file_atomic(path, std::vector<uint8_t>(kept.begin(), kept.end()));
  }

  TrainOptions opt_;
  std::shared_ptr<dist::Communicator> comm_;
  EpisodeSampler sampler_;
  ImageCache cache_;
  std::shared_ptr<models::PackdStudent<float>> model_;
  std::unique_ptr<optim::Adam<float>> optim_;
  int64_t step_ = 0;
  double allreduce_seconds_ = 0;
};

}  // namespace packd::train
