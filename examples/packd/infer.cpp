// packd infer: anomaly maps and scores of a user's own images with a trained run, given a few
// normal images of the same kind as supports.
//
//   packd infer --checkpoint runs/bottle --support ok1.png ok2.png --image part.jpg [--image p2.png]
//               --out map.png
//
// Images of any size and format (PNG, JPEG, BMP) go through the pipeline's preprocessing (resized
// to the run's image size with Pillow's bilinear filter, ImageNet-normalised); the supports get the
// run's views (method.aug). Prints one line per image: its score (the max of its anomaly map) and
// the PNG written: the image | the map over it, at the image's own size. With several images the
// files are named <out stem>_<image stem>.png beside --out. All images share one colour range (the
// maps' min to max, or --range), so their heat maps compare.
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "commands.hpp"
#include "device.hpp"
#include "packd/data/image.hpp"
#include "packd/eval/protocol.hpp"
#include "packd/train/load.hpp"

namespace packd_cli {

namespace {

struct InferArgs {
  std::string checkpoint, out, weights, aug, map = "sum", device = "cpu";
  std::vector<std::string> supports, images;
  std::vector<float> range;
  int64_t image_size = 0, threads = 0;
};

// The output file of image i: --out itself for one image, else <out stem>_<image stem>[_i].png.
std::vector<std::string> output_paths(const std::string& out, const std::vector<std::string>& images) {
  namespace fs = std::filesystem;
  if (images.size() == 1) return {out};
  const fs::path o(out);
  std::vector<std::string> paths;
  std::set<std::string> used;
  for (std::size_t i = 0; i < images.size(); ++i) {
    std::string name = o.stem().string() + "_" + fs::path(images[i]).stem().string();
    if (used.count(name)) name += "_" + std::to_string(i);
    used.insert(name);
    paths.push_back((o.parent_path() / (name + ".png")).string());
  }
  return paths;
}

int run_infer(const InferArgs& a) {
  using namespace packd;
  single_rank_only("infer");
#ifdef _OPENMP
  if (a.threads > 0) omp_set_num_threads(int(a.threads));
#else
  PACKD_CHECK(a.threads <= 0, "--threads: this build has no OpenMP");
#endif
  PACKD_CHECK(a.range.empty() || (a.range.size() == 2 && a.range[0] < a.range[1]), "--range: expected LO HI with LO < HI");
  const Device device = parse_device(a.device);
  train::LoadedRun run = train::load_trained(a.checkpoint, device, a.weights);
  const int64_t S = a.image_size > 0 ? a.image_size : run.options.image_size;
  PACKD_CHECK(S >= 32 && S % 32 == 0, "--image-size ", S, " must be a positive multiple of 32");
  eval::ProtocolOptions opt;
  opt.image_size = S;
  opt.combine = a.map == "mul" ? eval::MapCombine::mul : eval::MapCombine::sum;
  opt.device = device;
  const std::string aug = a.aug.empty() ? run.options.method.aug : a.aug;

  std::vector<Tensor<float>> sup, img;
  for (const auto& p : a.supports) sup.push_back(data::load_image(p, S));
  for (const auto& p : a.images) img.push_back(data::load_image(p, S));
  const Tensor<float> views = train::support_views(cat<float>(sup, 0), aug);       // (k V, 3, S, S)
  const Tensor<double> maps =
      eval::anomaly_maps(*run.model, cat<float>(img, 0), views, opt, nullptr).to(Device::cpu());  // (N, 1, S, S)
  const std::vector<double> scores = eval::image_scores(maps).to_vector();
  const Tensor<float> fmaps = maps.to<float>();
  const float lo = a.range.empty() ? amin(fmaps).item() : a.range[0];
  const float hi = a.range.empty() ? std::max(amax(fmaps).item(), lo) : a.range[1];

  const std::vector<std::string> outs = output_paths(a.out, a.images);
  for (std::size_t i = 0; i < a.images.size(); ++i) {
    const data::Image orig = data::read_image(a.images[i], 3);
    const data::Image over = data::overlay_heatmap(orig, fmaps.narrow(0, int64_t(i), 1), lo, hi, 0.5f);
    const int64_t H = orig.height, W = orig.width, gap = 4;
    data::Image panel{H, 2 * W + gap, 3, std::vector<uint8_t>(std::size_t(H * (2 * W + gap) * 3), 255)};
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        for (int64_t c = 0; c < 3; ++c) panel.at(y, x, c) = orig.at(y, x, c), panel.at(y, W + gap + x, c) = over.at(y, x, c);
    const std::filesystem::path parent = std::filesystem::path(outs[i]).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    data::write_png(outs[i], panel);
    std::printf("%s\tscore %.6f\t-> %s\n", a.images[i].c_str(), scores[i], outs[i].c_str());
  }
  std::fprintf(stderr, "packd infer: %zu support(s) x %lld views (%s), image size %lld, heat map range [%g, %g]\n",
               a.supports.size(), (long long)(views.size(0) / int64_t(a.supports.size())), aug.c_str(), (long long)S,
               double(lo), double(hi));
  return 0;
}

}  // namespace

Run add_infer(CLI::App& app) {
  auto a = std::make_shared<InferArgs>();
  app.add_option("--checkpoint", a->checkpoint, "run folder of packd train (or its checkpoint.safetensors)")->required();
  app.add_option("--support", a->supports, "normal images of the same kind (k supports)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--image", a->images, "image(s) to score (repeat, or list several)")->required()->check(CLI::ExistingFile);
  app.add_option("--out", a->out, "overlay PNG (image | anomaly map over it); with several images, the name stem")
      ->required();
  app.add_option("--weights", a->weights,
                 "the teacher's ImageNet weights, if the run's recorded path does not exist here (or to override it)")
      ->check(CLI::ExistingFile);
  app.add_option("--image-size", a->image_size, "image side the network sees (default: the run's)");
  app.add_option("--aug", a->aug, "support views (default: the run's method.aug)")
      ->check(CLI::IsMember({"rot90", "regad", "none"}));
  app.add_option("--map", a->map, "combination of the stage maps (D14)")
      ->check(CLI::IsMember({"sum", "mul"}))
      ->capture_default_str();
  app.add_option("--range", a->range, "LO HI: the heat map's colour range (default: the maps' min to max)")
      ->expected(2);
  app.add_option("--threads", a->threads, "CPU threads (omp_set_num_threads)");
  add_device_option(app, a->device);
  return [a] { return run_infer(*a); };
}

}  // namespace packd_cli
