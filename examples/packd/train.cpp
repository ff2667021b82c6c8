// packd train: meta-train PACKD on the categories of a data set other than the held-out one
// (leave-one-category-out, RegAD's protocol), or on all of them (cross-data-set training).
//
//   packd train --data DIR --dataset mvtec --holdout bottle --weights W.pth --out runs/bottle
//   packd train --data DIR --dataset mvtec --all-categories --out runs/mvtec-all     (cross-data-set)
//
// Every decision of packd-method.md is a flag (--integrate, --proto-pool, ...; see --help), recorded
// in the run's checkpoint and config.json. --resume continues an interrupted run exactly.
//
// Data-parallel: `mpirun -np R packd train ...` splits every batch of --batch-size queries over the
// R ranks (docs/distributed.md); rank 0 prints and writes, --sync-bn makes BN statistics global.
// --device cuda (or cuda:N) trains on a GPU; the checkpoint holds host tensors either way.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "commands.hpp"
#include "device.hpp"
#include "packd/data/dataset.hpp"
#include "packd/train/trainer.hpp"

namespace packd_cli {

namespace {

struct TrainArgs {
  packd::train::TrainOptions opt;
  std::string data, dataset = "mvtec", holdout, device = "cpu";
  std::vector<std::string> categories;
  bool all_categories = false, skip_bad = false;
  std::map<std::string, std::string> switches;  // flag name -> value (only those given)
};

int run_train(TrainArgs& a) {
  using namespace packd;
  a.opt.device = rank_device(parse_device(a.device), a.device);
  const std::shared_ptr<dist::Communicator> comm = world_for(a.opt.device);
  const bool root = comm->rank() == 0;
  a.opt.progress = a.opt.progress && root;
  for (const auto& [name, value] : a.switches) a.opt.method.set(name, value);
  a.opt.method.validate();

  // The training categories: explicit, or every category on disk but the held-out one.
  std::vector<std::string> cats = a.categories;
  if (cats.empty()) {
    PACKD_CHECK(a.all_categories || !a.holdout.empty(), "give --holdout CATEGORY (leave-one-out), --categories, or "
                "--all-categories (cross-data-set training)");
    for (const auto& c : data::list_categories(a.dataset, a.data))
      if (c != a.holdout) cats.push_back(c);
    if (!a.holdout.empty()) {
      bool found = false;
      for (const auto& c : data::list_categories(a.dataset, a.data)) found = found || c == a.holdout;
      PACKD_CHECK(found, "--holdout ", a.holdout, ": no such category in ", a.data);
    }
  }
  std::vector<train::TrainCategory> train_cats;
  for (const auto& c : cats) {
    data::CategoryData d = data::open_dataset(a.dataset, a.data, c);
    data::ValidationReport report;
    data::validate(d, a.skip_bad, report, false);
    if (!report.problems.empty() && root)
      std::fprintf(stderr, "packd train: %s: skipped %zu unreadable file(s)\n", c.c_str(), report.problems.size());
    train_cats.push_back({c, d.train_good});
  }
  if (root) {
    std::fprintf(stderr, "packd train: %zu training categories (%s held out): ", train_cats.size(),
                 a.holdout.empty() ? "none" : a.holdout.c_str());
    for (const auto& c : train_cats) std::fprintf(stderr, "%s(%zu) ", c.name.c_str(), c.images.size());
    std::fprintf(stderr, "\n");
    if (comm->size() > 1)
      std::fprintf(stderr, "packd train: data-parallel over %d ranks (%s): %lld queries per rank per step, BN statistics %s\n",
                   comm->size(), comm->backend(), (long long)(a.opt.batch_size / comm->size()),
                   a.opt.sync_bn ? "synchronised (--sync-bn)" : "per rank (DDP's default; --sync-bn for global ones)");
  }
  if (a.opt.weights.empty() && root)
    std::fprintf(stderr,
                 "packd train: WARNING: no --weights: the teacher is RANDOM, not ImageNet-trained. The student learns to "
                 "imitate noise; results will not mean anything for real anomaly detection (see weights/README.md).\n");

  train::Trainer trainer(a.opt, std::move(train_cats), comm);
  if (root)
    std::fprintf(stderr, "packd train: %lld steps (%lld per epoch) on %s, checkpoints in %s%s\n",
                 (long long)trainer.total_steps(), (long long)(trainer.total_steps() / std::max<int64_t>(1, a.opt.epochs)),
                 train::device_name(a.opt.device).c_str(), trainer.checkpoint_path().c_str(),
                 trainer.step() > 0 ? " (resumed)" : "");
  trainer.run();
  if (root) std::printf("%s\n", trainer.checkpoint_path().c_str());
  return 0;
}

}  // namespace

Run add_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto& o = a->opt;
  app.add_option("--data", a->data, "data set root folder")->required()->check(CLI::ExistingDirectory);
  app.add_option("--dataset", a->dataset, "layout of --data")
      ->check(CLI::IsMember({"mvtec", "visa", "mpdd", "folder"}))
      ->capture_default_str();
  app.add_option("--holdout", a->holdout, "the test category, left out of training (leave-one-category-out)");
  app.add_option("--categories", a->categories, "train on exactly these categories");
  app.add_flag("--all-categories", a->all_categories, "train on every category (cross-data-set training)");
  app.add_flag("--skip-bad", a->skip_bad, "skip unreadable images with a warning instead of stopping");
  app.add_option("--shots,-k", o.shots, "k: support images per query")->capture_default_str();
  app.add_option("--epochs", o.epochs, "epochs")->capture_default_str();
  app.add_option("--max-steps", o.max_steps, "stop after this many steps (0: run all epochs)")->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "queries per batch (B)")->capture_default_str();
  app.add_option("--cats-per-batch", o.cats_per_batch, "categories per batch (D10)")->capture_default_str();
  app.add_option("--image-size", o.image_size, "image side (multiple of 32)")->capture_default_str();
  app.add_option("--backbone", o.backbone, "teacher backbone")
      ->check(CLI::IsMember({"wide_resnet50_2", "resnet18", "resnet34", "resnet50"}))
      ->capture_default_str();
  app.add_option("--width", o.base_planes, "base planes of teacher and student (64 = the real model; smaller only "
                                           "with a random teacher, for demos and tests)")
      ->capture_default_str();
  app.add_option("--weights", o.weights, "the teacher's ImageNet weights (torchvision .pth)")->check(CLI::ExistingFile);
  app.add_option("--lr", o.lr, "Adam learning rate")->capture_default_str();
  app.add_option("--beta1", o.betas[0], "Adam beta1 (D11)")->capture_default_str();
  app.add_option("--beta2", o.betas[1], "Adam beta2 (D11)")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the episode sampler and the initial weights")->capture_default_str();
  app.add_option("--checkpoint-every", o.checkpoint_every, "steps between checkpoints")->capture_default_str();
  app.add_option("--out", o.out, "run folder (checkpoint.safetensors, log.jsonl, config.json)")->required();
  app.add_flag("--resume", o.resume, "continue the run in --out from its checkpoint (with any number of ranks)");
  app.add_flag("--sync-bn", o.sync_bn, "data-parallel runs (mpirun): BN statistics over all ranks' queries, as one "
                                       "process with the whole batch (default: per rank, as PyTorch DDP)");
  app.add_flag("!--no-progress", o.progress, "no progress line");
  add_device_option(app, a->device);
  // The method's switches (packd-method.md D1-D17), one flag each.
  const packd::models::PackdConfig defaults;
  const nlohmann::json dj = defaults.to_json();
  const std::map<std::string, std::string> help{
      {"integrate", "D1: where prototypes guide the decoder"},  {"proto_bn", "D2: BN after the prototype conv"},
      {"proto_pool", "D3: prototypes per support view or joint"}, {"orth", "D4: orthogonality loss"},
      {"prob_map", "D5: probability map"},                       {"guide", "D6: guide feature"},
      {"proj", "D7: CDS projection heads"},                      {"corr_dot", "D8: correspondence product"},
      {"nce_positive_in_denominator", "D16: standard InfoNCE"},  {"aug", "D12: support augmentation"},
      {"negatives", "D9: negatives per query (0 = all)"},        {"prototypes", "L: prototypes per stage"},
      {"tau", "CDS temperature"},                                {"lambda1", "weight of the CDS loss (Eq. 7)"},
      {"lambda2", "weight of the orthogonal loss (Eq. 7)"}};
  for (const auto& [name, text] : help) {
    std::string flag = "--" + name;
    for (auto& ch : flag)
      if (ch == '_') ch = '-';
    std::string desc = text + " (default " + (dj[name].is_string() ? dj[name].get<std::string>() : dj[name].dump()) + ")";
    auto it = packd::models::PackdConfig::choices().find(name);
    CLI::Option* opt = app.add_option_function<std::string>(
        flag, [a, n = name](const std::string& v) { a->switches[n] = v; }, desc);
    if (it != packd::models::PackdConfig::choices().end()) opt->check(CLI::IsMember(it->second));
  }
  return [a] { return run_train(*a); };
}

}  // namespace packd_cli
