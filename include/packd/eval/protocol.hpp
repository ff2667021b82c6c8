#pragma once
// The few-shot evaluation protocol (packd-method.md D13-D15, foundations.md 2.3): a trained PACKD
// student is tested on a category C (of any data set: cross-data-set evaluation is the same call)
// with k support images from C's train/good, for each k of a list and `runs` runs per k.
//
//   run r of shot count k:
//     supports   k of C's train/good, uniform without replacement (partial Fisher-Yates), from a
//                Generator seeded support_seed(seed, k, r); the file names go into the result, so
//                any run can be repeated
//     views      train::support_views(supports, aug): aug = the run's method.aug (D12) unless set
//     maps       every test image with those same views (batches of queries, each with the views
//                expanded), D14's anomaly map at the image size (eval/anomaly_map.hpp), float64
//     score      max of the map
//     metrics    image AUROC, pixel AUROC, AUPRO (STANDARD global, FPR limit 0.3), AUPRO of RD4AD's
//                per-image variant (labelled aupro_rd4ad; optional), image F1-max (D15)
//   per k:       mean and standard deviation (numpy's np.std, ddof 0) over the runs
//
// A metric that is undefined for the category (pixel metrics without masks; RD4AD's AUPRO where
// its official code fails, e.g. a constant map) is NaN (null in JSON), with the reason in `notes`.
//
// Cost: a run computes the support views' teacher features and prototypes once
// (PackdStudent::encode_support + forward_shared); each test image then costs one teacher forward
// and one student forward.
//
// Device (ProtocolOptions::device, the model's): images and support views are loaded on the host
// and moved there in batches; the maps stay there for the pixel AUROC (computed on the GPU for a
// CUDA device, eval/metrics.hpp) and come to the host once per run for AUPRO, the image scores and
// the report's overlays.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "packd/data/dataset.hpp"
#include "packd/eval/anomaly_map.hpp"
#include "packd/eval/metrics.hpp"
#include "packd/models/packd.hpp"
#include "packd/train/augment.hpp"

namespace packd::eval {

struct ProtocolOptions {
  std::vector<int64_t> shots{2, 4, 8};  // k
  int64_t runs = 10;
  uint64_t seed = 0;                    // D13's `seed`: run r of k draws with support_seed(seed, k, r)
  int64_t image_size = 256;             // the run's (TrainOptions::image_size) unless evaluating at another
  std::string aug;                      // "" = the model's method.aug
  MapCombine combine = MapCombine::sum; // D14 (map=mul)
  bool aupro_rd4ad = true;              // also RD4AD's per-image AUPRO variant
  int64_t batch_size = 8;               // queries per forward, at most
  Device device = Device::cpu();        // the model's device
};

// The generator seed of run r with k shots: seed * 2^32 + k * 2^16 + r (k, r < 2^16).
inline uint64_t support_seed(uint64_t seed, int64_t k, int64_t run) {
  PACKD_CHECK(k >= 1 && k < 65536 && run >= 0 && run < 65536, "support_seed: k ", k, " and run ", run,
              " must be in [1, 65535] and [0, 65535]");
  return (seed << 32) + (uint64_t(k) << 16) + uint64_t(run);
}

// k distinct indices of [0, n), uniform without replacement, in the order drawn: the first k
// steps of a Fisher-Yates shuffle on a Generator seeded `seed`.
inline std::vector<int64_t> draw_supports(int64_t n, int64_t k, uint64_t seed) {
  PACKD_CHECK(k >= 1 && k <= n, "draw_supports: cannot draw ", k, " distinct supports from ", n, " images");
  std::vector<int64_t> idx(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[std::size_t(i)] = i;
  Generator gen(seed);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + int64_t(gen.below(uint64_t(n - i)));
    std::swap(idx[std::size_t(i)], idx[std::size_t(j)]);
  }
  idx.resize(std::size_t(k));
  return idx;
}

// ---- results -------------------------------------------------------------------------------------

struct RunMetrics {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  double image_auroc = nan, pixel_auroc = nan;
  double aupro = nan;        // STANDARD global AUPRO (FPR limit 0.3, area / 0.3)
  double aupro_rd4ad = nan;  // RD4AD's per-image variant: not comparable to `aupro`
  double f1_max = nan;       // image-level F1-max
};

// The metrics by name, in report order.
inline const std::array<std::pair<const char*, double RunMetrics::*>, 5>& metric_fields() {
  static const std::array<std::pair<const char*, double RunMetrics::*>, 5> f{{{"image_auroc", &RunMetrics::image_auroc},
                                                                            {"pixel_auroc", &RunMetrics::pixel_auroc},
                                                                            {"aupro", &RunMetrics::aupro},
                                                                            {"aupro_rd4ad", &RunMetrics::aupro_rd4ad},
                                                                            {"f1_max", &RunMetrics::f1_max}}};
  return f;
}

struct RunResult {
  int64_t run = 0;
  uint64_t seed = 0;                  // support_seed(options.seed, k, run)
  std::vector<std::string> supports;  // relative to the data set root, in the order drawn
  RunMetrics metrics;
  double seconds = 0;
  std::vector<std::string> notes;     // why a metric is NaN
};

struct ShotResult {
  int64_t k = 0;
  std::vector<RunResult> runs;
  RunMetrics mean, stdev;  // over the runs (np.mean / np.std); NaN if any run's value is NaN
};

// One overlay PNG (image | ground truth | anomaly map over the image) of run 0.
struct OverlayRecord {
  int64_t k = 0;
  std::string file;    // relative to the report's folder
  std::string image;   // the test image, relative to the data set root
  std::string defect;  // "good" or the defect type
  int label = 0;
  double score = 0;
};

struct CategoryResult {
  std::string dataset, category, root;
  int64_t train_good = 0, test = 0, anomalous = 0;
  bool pixel_metrics = true;  // every anomalous test image has a mask
  std::vector<ShotResult> shots;
  std::vector<OverlayRecord> overlays;
  double seconds = 0;
};

// mean and np.std (ddof 0) of each metric over the runs.
inline void summarize(ShotResult& s) {
  for (const auto& [name, field] : metric_fields()) {
    double sum = 0;
    for (const auto& r : s.runs) sum += r.metrics.*field;
    const double n = double(s.runs.size());
    const double mean = s.runs.empty() ? RunMetrics::nan : sum / n;
    double ss = 0;
    for (const auto& r : s.runs) ss += (r.metrics.*field - mean) * (r.metrics.*field - mean);
    s.mean.*field = mean;
    s.stdev.*field = s.runs.empty() ? RunMetrics::nan : std::sqrt(ss / n);
  }
}

// A path relative to the data set root (as recorded in reports), or the path itself.
inline std::string relative_to_root(const std::string& path, const std::string& root) {
  const std::string rel = std::filesystem::path(path).lexically_relative(root).generic_string();
  return rel.empty() || rel.rfind("..", 0) == 0 ? path : rel;
}

// ---- progress ------------------------------------------------------------------------------------

// A progress bar with ETA on stderr over `total` units (test images x runs). On a terminal it
// redraws one line (at most 5 times a second); elsewhere (logs, CTest) only line() prints.
class Progress {
 public:
  explicit Progress(int64_t total, bool enabled = true)
      : total_(std::max<int64_t>(total, 1)), enabled_(enabled), tty_(enabled && ::isatty(STDERR_FILENO) == 1),
        start_(Clock::now()), last_(start_) {}
  ~Progress() {
    if (drawn_) std::fputc('\n', stderr);
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_label(std::string label) { label_ = std::move(label); }
  void advance(int64_t n) {
    done_ += n;
    if (!tty_) return;
    const auto now = Clock::now();
    if (done_ < total_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    draw();
  }
  // A finished step's message on its own line (the bar is redrawn below it).
  void line(const std::string& text) {
    if (!enabled_) return;
    if (drawn_) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "%s\n", text.c_str());
    drawn_ = false;
    if (tty_) draw();
  }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  static std::string duration(double s) {
    char b[32];
    if (!std::isfinite(s) || s < 0) return "?";
    if (s < 60) std::snprintf(b, sizeof b, "%.0fs", s);
    else if (s < 3600) std::snprintf(b, sizeof b, "%dm%02ds", int(s / 60), int(s) % 60);
    else std::snprintf(b, sizeof b, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
    return b;
  }

 private:
  using Clock = std::chrono::steady_clock;
  void draw() {
    const double el = elapsed(), frac = double(std::min(done_, total_)) / double(total_);
    const int width = 24, fill = int(frac * width);
    std::string bar(std::size_t(fill), '#');
    bar.resize(std::size_t(width), '.');
    const double rate = el > 0 ? double(done_) / el : 0;
    const double eta = done_ > 0 ? el / double(done_) * double(total_ - done_) : -1;
    std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld images  %.1f img/s  ETA %s", label_.c_str(), bar.c_str(),
                 (long long)done_, (long long)total_, rate, duration(eta).c_str());
    std::fflush(stderr);
    drawn_ = true;
  }

  int64_t total_, done_ = 0;
  bool enabled_, tty_, drawn_ = false;
  Clock::time_point start_, last_;
  std::string label_;
};

// ---- the runner ----------------------------------------------------------------------------------

// The protocol's requirements on a category, checked before any long work: at least max(k)
// training images, a test set with both normal and anomalous images.
inline void check_category(const data::CategoryData& d, const ProtocolOptions& opt) {
  const std::string name = std::string(d.dataset) + "/" + d.category;
  PACKD_CHECK(!opt.shots.empty(), "evaluation: no shot counts (k) given");
  PACKD_CHECK(opt.runs >= 1 && opt.runs < 65536, "evaluation: --runs ", opt.runs, " must be in [1, 65535]");
  PACKD_CHECK(opt.image_size >= 32 && opt.image_size % 32 == 0, "evaluation: image size ", opt.image_size,
              " must be a positive multiple of 32");
  PACKD_CHECK(opt.batch_size >= 1, "evaluation: the batch size must be positive");
  if (!opt.aug.empty()) train::views_per_support(opt.aug);  // throws on an unknown name
  for (int64_t k : opt.shots) {
    PACKD_CHECK(k >= 1, "evaluation: k = ", k, " support images: must be at least 1");
    PACKD_CHECK(k <= int64_t(d.train_good.size()), name, ": k = ", k, " support images, but train/good holds only ",
                d.train_good.size());
  }
  int64_t anomalous = 0;
  for (const auto& s : d.test) anomalous += s.label;
  PACKD_CHECK(!d.test.empty(), name, ": no test images (expected test/good and test/<defect> folders)");
  PACKD_CHECK(anomalous > 0 && anomalous < int64_t(d.test.size()), name, ": the test set holds ", anomalous,
              " anomalous and ", int64_t(d.test.size()) - anomalous,
              " normal images; AUROC needs both (an evaluation needs test/good and at least one defect folder)");
}

// What a run leaves for the report writer: the test images as the network saw them, the ground
// truth, the maps, the image scores.
struct RunMaps {
  const data::CategoryData& data;
  int64_t k, run;
  const Tensor<float>& images;   // (N, 3, S, S), ImageNet-normalised
  const Tensor<float>& masks;    // (N, 1, S, S), 0 / 1
  const Tensor<double>& maps;    // (N, 1, S, S)
  const std::vector<double>& scores;
};
using RunCallback = std::function<void(const RunMaps&, CategoryResult&)>;

// The test set of a category at size S, loaded once for all runs.
struct TestSet {
  Tensor<float> images;  // (N, 3, S, S)
  Tensor<float> masks;   // (N, 1, S, S); zeros where an anomalous image has no mask (pixel metrics off)
  std::vector<uint8_t> labels;
  bool has_masks = true;
  Tensor<float> device_masks;  // masks on the model's device when that is not the CPU (moved once)
};

inline TestSet load_test_set(const data::CategoryData& d, int64_t S) {
  const int64_t N = int64_t(d.test.size());
  std::vector<Tensor<float>> im(static_cast<std::size_t>(N)), mk(static_cast<std::size_t>(N));
  TestSet t;
  for (const auto& s : d.test) t.has_masks = t.has_masks && !(s.label == 1 && s.mask.empty());
  cpu::pool_for(N, cpu::max_threads(), [&](int64_t i) {
    const data::Sample& s = d.test[std::size_t(i)];
    im[std::size_t(i)] = data::load_image(s.image, S);
    mk[std::size_t(i)] = s.label == 1 && s.mask.empty() ? zeros<float>({1, 1, S, S}) : data::load_sample_mask(d, s, S);
  });
  t.images = cat<float>(im, 0);
  t.masks = cat<float>(mk, 0);
  for (const auto& s : d.test) t.labels.push_back(uint8_t(s.label));
  return t;
}

// Anomaly maps of every test image against one set of support views (kV, 3, S, S). (N, 1, S, S),
// on opt.device (the model's). images and views may be on any device: each batch is moved there.
// The views' teacher features and prototypes are computed once for the run and shared by every
// batch of queries (PackdStudent::forward_shared).
inline Tensor<double> anomaly_maps(models::PackdStudent<float>& model, const Tensor<float>& images,
                                   const Tensor<float>& views, const ProtocolOptions& opt, Progress* progress) {
  NoGradGuard no_grad;
  const int64_t N = images.size(0), S = images.size(2);
  const int64_t b_max = std::max<int64_t>(1, opt.batch_size);
  const std::array<Tensor<float>, 3> support = model.encode_support(views.to(opt.device));  // (kV, C_i, H_i, W_i)
  std::vector<Tensor<double>> maps;
  for (int64_t b0 = 0; b0 < N; b0 += b_max) {
    const int64_t b = std::min(b_max, N - b0);
    const Tensor<float> q = images.narrow(0, b0, b).to(opt.device);  // (b, 3, S, S)
    auto f = model.forward_shared(q, support);
    maps.push_back(anomaly_map(f.teacher, f.student, {.size = {S, S}, .combine = opt.combine}));
    if (progress) progress->advance(b);
  }
  return cat<double>(maps, 0);
}

// The metrics of one run (NaN + a note where undefined). maps: (N, 1, S, S) on any device;
// host_maps: the same on the host (maps itself on the CPU). The pixel AUROC runs on maps' device
// (masks are moved there), the other metrics on the host copy.
inline RunMetrics run_metrics(const Tensor<double>& maps, const Tensor<double>& host_maps, const TestSet& t, bool rd4ad,
                              std::vector<std::string>& notes) {
  PACKD_CHECK(host_maps.device().is_cpu() && host_maps.shape() == maps.shape(), "run_metrics: host_maps must be maps' host copy");
  RunMetrics m;
  m.image_auroc = image_auroc(host_maps, t.labels);
  m.f1_max = image_f1_max(host_maps, t.labels).f1;
  if (!t.has_masks) {
    notes.push_back("pixel metrics: some anomalous test images have no mask");
    return m;
  }
  if (sum(t.masks).item() == 0) {
    notes.push_back("pixel metrics: no mask has an anomalous pixel at this image size");
    return m;
  }
  const bool moved = t.device_masks.defined() && t.device_masks.device() == maps.device();
  m.pixel_auroc = pixel_auroc(maps, moved ? t.device_masks : t.masks.to(maps.device()));
  m.aupro = aupro_global(host_maps, t.masks);
  if (rd4ad) {
    try {  // where RD4AD's compute_pro would fail (a constant map, a mask without normal pixels)
      m.aupro_rd4ad = aupro_rd4ad(host_maps, t.masks).mean;
    } catch (const Error& e) {
      notes.push_back(std::string("aupro_rd4ad: ") + e.what());
    }
  }
  return m;
}
inline RunMetrics run_metrics(const Tensor<double>& maps, const TestSet& t, bool rd4ad, std::vector<std::string>& notes) {
  return run_metrics(maps, maps.to(Device::cpu()), t, rd4ad, notes);
}

// The whole protocol on one category. `progress` counts test images (runs x |test| per k);
// `on_run` sees every run's maps (the report writer draws overlays from run 0).
// `owns(k, run)` false skips that run (another rank of a distributed evaluation does it, see
// eval/distributed.hpp): it is listed with its run index and seed only, and the shot's mean is NaN
// until the runs are gathered.
using RunFilter = std::function<bool(int64_t k, int64_t run)>;
inline CategoryResult evaluate_category(models::PackdStudent<float>& model, const data::CategoryData& d,
                                        const ProtocolOptions& opt, Progress* progress = nullptr,
                                        const RunCallback& on_run = {}, const RunFilter& owns = {}) {
  check_category(d, opt);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string aug = opt.aug.empty() ? model.config().aug : opt.aug;
  const int64_t S = opt.image_size;
  model.eval();
  model.teacher->eval();

  CategoryResult res;
  res.dataset = d.dataset, res.category = d.category, res.root = d.root;
  res.train_good = int64_t(d.train_good.size());
  res.test = int64_t(d.test.size());
  for (const auto& s : d.test) res.anomalous += s.label;
  bool any_owned = !owns;
  for (int64_t k : opt.shots)
    for (int64_t r = 0; r < opt.runs && !any_owned; ++r) any_owned = owns(k, r);
  if (progress && any_owned) progress->set_label(d.category + ": loading");
  TestSet t = any_owned ? load_test_set(d, S) : TestSet{};
  if (any_owned && !opt.device.is_cpu()) t.device_masks = t.masks.to(opt.device);
  res.pixel_metrics = t.has_masks;

  for (int64_t k : opt.shots) {
    ShotResult shot;
    shot.k = k;
    for (int64_t r = 0; r < opt.runs; ++r) {
      if (owns && !owns(k, r)) {
        RunResult skipped;
        skipped.run = r;
        skipped.seed = support_seed(opt.seed, k, r);
        shot.runs.push_back(std::move(skipped));
        continue;
      }
      const auto r0 = std::chrono::steady_clock::now();
      if (progress) progress->set_label(d.category + " k=" + std::to_string(k) + " run " + std::to_string(r + 1) + "/" +
                                        std::to_string(opt.runs));
      RunResult run;
      run.run = r;
      run.seed = support_seed(opt.seed, k, r);
      std::vector<Tensor<float>> sup;
      for (int64_t i : draw_supports(int64_t(d.train_good.size()), k, run.seed)) {
        const std::string& path = d.train_good[std::size_t(i)];
        run.supports.push_back(relative_to_root(path, d.root));
        sup.push_back(data::load_image(path, S));
      }
      const Tensor<float> views = train::support_views(cat<float>(sup, 0), aug);  // (kV, 3, S, S)
      const Tensor<double> maps = anomaly_maps(model, t.images, views, opt, progress);  // on opt.device
      const Tensor<double> host_maps = maps.to(Device::cpu());
      run.metrics = run_metrics(maps, host_maps, t, opt.aupro_rd4ad, run.notes);
      if (on_run) {
        const std::vector<double> scores = image_scores(host_maps).to_vector();
        on_run(RunMaps{d, k, r, t.images, t.masks, host_maps, scores}, res);
      }
      run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
      if (progress) {
        char line[256];
        std::snprintf(line, sizeof line, "%s k=%lld run %lld/%lld: image AUROC %.4f  pixel AUROC %.4f  AUPRO %.4f  (%.1fs)",
                      d.category.c_str(), (long long)k, (long long)(r + 1), (long long)opt.runs,
                      run.metrics.image_auroc, run.metrics.pixel_auroc, run.metrics.aupro, run.seconds);
        progress->line(line);
      }
      shot.runs.push_back(std::move(run));
    }
    summarize(shot);
    res.shots.push_back(std::move(shot));
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace packd::eval
