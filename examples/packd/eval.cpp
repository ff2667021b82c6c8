// packd eval: the few-shot protocol (packd-method.md D13-D15) of a trained run on one or more
// categories, of the data set it trained on or of another (cross-data-set evaluation).
//
//   packd eval --data DIR --dataset mvtec --category bottle [--category cable ...]
//              --checkpoint runs/bottle --shots 2 4 8 --runs 10 --out eval/bottle
//
// For each category, k and run: k supports drawn from the category's train/good (seeded, recorded),
// the anomaly map of every test image, image AUROC, pixel AUROC, AUPRO (standard and RD4AD's),
// F1-max; mean ± std per k. OUT gets report.json, report.csv, report.md, report.html and
// overlays/ (eval/report.hpp), rewritten after each category. Every check (checkpoint, categories,
// images, k against the number of training images) runs before the first forward.
// `mpirun -np R packd eval ...` spreads the runs over R ranks (eval/distributed.hpp); rank 0 writes
// the same report one process would.
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "device.hpp"
#include "packd/data/dataset.hpp"
#include "packd/eval/distributed.hpp"
#include "packd/eval/protocol.hpp"
#include "packd/eval/report.hpp"
#include "packd/train/load.hpp"

namespace packd_cli {

namespace {

struct EvalArgs {
  std::string data, dataset = "mvtec", checkpoint, out, weights, aug, map = "sum", device = "cpu";
  std::vector<std::string> categories;
  bool all_categories = false, skip_bad = false, progress = true, rd4ad = true;
  std::vector<int64_t> shots{2, 4, 8};
  int64_t runs = 10, image_size = 0, threads = 0, max_overlays = 12, batch_size = 8;
  uint64_t seed = 0;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

int run_eval(const EvalArgs& a) {
  using namespace packd;
#ifdef _OPENMP
  if (a.threads > 0) omp_set_num_threads(int(a.threads));
#else
  PACKD_CHECK(a.threads <= 0, "--threads: this build has no OpenMP");
#endif
  const Device device = rank_device(parse_device(a.device), a.device);
  const std::shared_ptr<dist::Communicator> comm = world_for(device);
  const bool root = comm->rank() == 0;
  train::LoadedRun run = train::load_trained(a.checkpoint, device, a.weights, /*quiet=*/!root);
  if (root)
    std::fprintf(stderr, "packd eval: %s (%lld steps); teacher: %s\n", run.checkpoint.c_str(), (long long)run.step,
                 run.teacher.c_str());

  eval::ProtocolOptions opt;
  opt.shots = a.shots;
  opt.runs = a.runs;
  opt.seed = a.seed;
  opt.image_size = a.image_size > 0 ? a.image_size : run.options.image_size;
  opt.aug = a.aug;
  opt.combine = a.map == "mul" ? eval::MapCombine::mul : eval::MapCombine::sum;
  opt.aupro_rd4ad = a.rd4ad;
  opt.batch_size = a.batch_size;
  opt.device = device;
  if (opt.image_size != run.options.image_size && root)
    std::fprintf(stderr, "packd eval: note: evaluating at %lld x %lld; the run trained at %lld x %lld\n",
                 (long long)opt.image_size, (long long)opt.image_size, (long long)run.options.image_size,
                 (long long)run.options.image_size);

  // Every category opened, validated and checked before the first forward.
  std::vector<std::string> names = a.categories;
  const data::DatasetKind kind = data::parse_dataset_kind(a.dataset);
  if (kind == data::DatasetKind::folder) {
    PACKD_CHECK(names.size() <= 1 && !a.all_categories, "--dataset folder: --data is one category (its folder); give at "
                "most one --category (a name for the report)");
    if (names.empty()) names.push_back("");
  } else {
    const std::vector<std::string> on_disk = data::list_categories(kind, a.data);
    if (a.all_categories) {
      PACKD_CHECK(names.empty(), "give --category or --all-categories, not both");
      names = on_disk;
    }
    PACKD_CHECK(!names.empty(), "no --category given (", a.data, " holds: ", join(on_disk), ")");
    for (const auto& c : names)
      PACKD_CHECK(std::find(on_disk.begin(), on_disk.end(), c) != on_disk.end(), "--category ", c, ": unknown in ",
                  a.dataset, " data set ", a.data, " (it holds: ", join(on_disk), ")");
  }
  std::vector<data::CategoryData> cats;
  std::vector<std::string> skipped;  // for the report
  int64_t total = 0;
  for (const auto& c : names) {
    data::CategoryData d = data::open_dataset(kind, a.data, c);
    data::ValidationReport vr;
    data::validate(d, a.skip_bad, vr, false);
    if (!vr.problems.empty()) {
      if (root)
        std::fprintf(stderr, "packd eval: %s: skipped %zu unreadable file(s):\n%s\n", d.category.c_str(), vr.problems.size(),
                   vr.describe().c_str());
      skipped.push_back(d.category + ": skipped " + std::to_string(vr.problems.size()) + " unreadable file(s) (--skip-bad)");
    }
    eval::check_category(d, opt);
    if (root) std::fprintf(stderr, "packd eval: %s\n", data::summary(d).c_str());
    cats.push_back(std::move(d));
  }
  // Which rank evaluates which run; every rank must agree on what is evaluated.
  std::vector<int64_t> test_sizes;
  for (const auto& d : cats) test_sizes.push_back(int64_t(d.test.size()));
  const std::vector<std::vector<int>> owner = eval::assign_runs(test_sizes, opt.shots.size(), opt.runs, comm->size());
  if (comm->size() > 1) {
    nlohmann::json id = {{"checkpoint_step", run.step}, {"run_config", run.options.to_json()}, {"teacher", run.teacher},
                         {"data", a.data}, {"dataset", a.dataset}, {"categories", names}, {"test_sizes", test_sizes},
                         {"shots", opt.shots}, {"runs", opt.runs}, {"seed", std::to_string(opt.seed)},
                         {"image_size", opt.image_size}, {"aug", opt.aug}, {"map", a.map}, {"out", a.out}};
    dist::check_same_everywhere(*comm, "evaluation", id);
    if (root)
      std::fprintf(stderr, "packd eval: runs spread over %d ranks (%s); rank 0 writes the report\n", comm->size(),
                   comm->backend());
  }
  auto owns = [&](std::size_t c) {
    return [&, c](int64_t k, int64_t r) {
      const auto ki = std::size_t(std::find(opt.shots.begin(), opt.shots.end(), k) - opt.shots.begin());
      return owner[c][ki * std::size_t(opt.runs) + std::size_t(r)] == comm->rank();
    };
  };
  for (std::size_t c = 0; c < cats.size(); ++c)
    for (std::size_t t = 0; t < owner[c].size(); ++t)
      if (owner[c][t] == comm->rank()) total += test_sizes[c];

  eval::EvalReport rep = eval::report_for(run, a.dataset, a.data, opt);
  rep.warnings.insert(rep.warnings.end(), skipped.begin(), skipped.end());
  if (root) std::filesystem::create_directories(a.out);
  {
    eval::Progress progress(total, a.progress && root);
    for (std::size_t c = 0; c < cats.size(); ++c) {
      eval::CategoryResult res = eval::evaluate_category(*run.model, cats[c], opt, &progress,
                                                         root ? eval::overlay_writer(a.out, a.max_overlays) : eval::RunCallback{},
                                                         owns(c));
      eval::gather_runs(*comm, res, owner[c], opt.runs);
      rep.categories.push_back(std::move(res));
      if (root) eval::write_reports(a.out, rep);
    }
  }
  if (!root) return 0;
  const std::string md = eval::report_markdown(rep);
  std::printf("%s\nreports in %s (report.md, report.json, report.csv, report.html)\n", md.c_str(), a.out.c_str());
  return 0;
}

}  // namespace

Run add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  app.add_option("--data", a->data, "data set root folder (any data set: cross-data-set evaluation is fine)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--dataset", a->dataset, "layout of --data")
      ->check(CLI::IsMember({"mvtec", "visa", "mpdd", "folder"}))
      ->capture_default_str();
  app.add_option("--category", a->categories, "category to evaluate (repeat, or list several)");
  app.add_flag("--all-categories", a->all_categories, "evaluate every category of --data");
  app.add_option("--checkpoint", a->checkpoint, "run folder of packd train (or its checkpoint.safetensors)")->required();
  app.add_option("--shots,-k", a->shots, "k values: support images per run")->capture_default_str();
  app.add_option("--runs", a->runs, "runs per k (run r draws its supports with seed r)")->capture_default_str();
  app.add_option("--seed", a->seed, "base seed of the support draws (recorded per run in report.json)")->capture_default_str();
  app.add_option("--out", a->out, "report folder")->required();
  app.add_option("--image-size", a->image_size, "image side (default: the run's)");
  app.add_option("--weights", a->weights,
                 "the teacher's ImageNet weights, if the run's recorded path does not exist here (or to override it)")
      ->check(CLI::ExistingFile);
  app.add_option("--aug", a->aug, "support views (default: the run's method.aug)")
      ->check(CLI::IsMember({"rot90", "regad", "none"}));
  app.add_option("--map", a->map, "combination of the stage maps (D14)")
      ->check(CLI::IsMember({"sum", "mul"}))
      ->capture_default_str();
  app.add_option("--batch-size", a->batch_size, "test images per forward, at most (fewer with many support views)")
      ->capture_default_str();
  app.add_option("--threads", a->threads, "CPU threads (omp_set_num_threads; default: OMP_NUM_THREADS or all cores)");
  app.add_option("--max-overlays", a->max_overlays, "overlay PNGs per category and k, of run 0 (-1: all, 0: none)")
      ->capture_default_str();
  app.add_flag("--skip-bad", a->skip_bad, "skip unreadable images with a warning instead of stopping");
  add_device_option(app, a->device);
  app.add_flag("!--no-aupro-rd4ad", a->rd4ad, "skip RD4AD's per-image AUPRO variant");
  app.add_flag("!--no-progress", a->progress, "no progress bar");
  return [a] { return run_eval(*a); };
}

}  // namespace packd_cli
