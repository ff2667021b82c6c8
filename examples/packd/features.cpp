// packd features: the teacher's layer1..layer3 features of an image (or of a tensor), and with a
// student checkpoint the RD student's three outputs, written to a safetensors file. For parity
// checks against PyTorch and for users who build other methods on the features.
//
//   packd features --backbone wide_resnet50_2 --weights W.pth --input X --out F.safetensors
//                  [--student S] [--size 256]
//
// X: an image file (resized to size x size with Pillow's bilinear filter and ImageNet-normalised,
// as RD4AD's preprocessing) or a .safetensors file holding an already-normalised `input` tensor
// (N, 3, H, W). S: an RD checkpoint with RD4AD's key names (bn.*, decoder.*): the official
// {'bn': ..., 'decoder': ...} .pth, or safetensors.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "commands.hpp"
#include "device.hpp"
#include "packd/data/image.hpp"
#include "packd/io/sha256.hpp"
#include "packd/io/weights.hpp"
#include "packd/models/rd.hpp"

namespace packd_cli {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool is_safetensors_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char h[9] = {};
  const std::size_t n = std::fread(h, 1, 9, f);
  std::fclose(f);
  return n == 9 && h[8] == '{';  // 8-byte header length, then the JSON header
}

struct FeaturesArgs {
  std::string backbone = "wide_resnet50_2";
  std::string weights, input, out, student, device = "cpu";
  int64_t size = 256;
};

int run_features(const FeaturesArgs& a) {
  using namespace packd;
  single_rank_only("features");
  const Device device = parse_device(a.device);
  const auto t0 = Clock::now();
  const models::ResNetSpec spec = models::resnet_spec(a.backbone);
  Generator gen(0);
  // With a weights file every teacher value is loaded (strictly) and the student is either loaded
  // or unused, so drawing initial values would be wasted time.
  std::optional<nn::init::SkipInitGuard> skip_init;
  if (!a.weights.empty()) skip_init.emplace();
  models::ReverseDistillation<float> rd(spec, gen);
  skip_init.reset();
  if (a.weights.empty()) {
    std::fprintf(stderr,
                 "packd features: WARNING: no --weights given: the %s teacher runs on RANDOM weights; its features "
                 "mean nothing. Get the ImageNet weights as weights/README.md says.\n",
                 a.backbone.c_str());
  } else {
    io::check_torchvision_hash(a.weights);
    rd.teacher->load_state_dict(io::load_weights(a.weights), {}, a.weights);
    std::fprintf(stderr, "packd features: teacher %s loaded from %s\n", a.backbone.c_str(), a.weights.c_str());
  }
  if (!a.student.empty()) {
    rd.load_state_dict(io::load_weights(a.student), {}, a.student);
    std::fprintf(stderr, "packd features: RD student loaded from %s\n", a.student.c_str());
  }

  Tensor<float> x;  // (N, 3, H, W), ImageNet-normalised
  if (is_safetensors_file(a.input)) {
    io::SafetensorsFile f = io::read_safetensors(a.input);
    PACKD_CHECK(f.contains("input"), a.input, ": no tensor named 'input' (expected an ImageNet-normalised (N, 3, H, W) batch)");
    x = f.get<float>("input");
    PACKD_CHECK(x.dim() == 4 && x.size(1) == 3, a.input, ": 'input' has shape ", x.shape(), "; expected (N, 3, H, W)");
  } else {
    PACKD_CHECK(a.size >= 32 && a.size % 32 == 0, "--size must be a positive multiple of 32, got ", a.size);
    x = data::load_image(a.input, a.size);
  }

  rd.eval();
  rd.to(device);  // student and teacher; the features come back to the host in raw_tensor
  x = x.to(device);
  NoGradGuard no_grad;
  const auto t1 = Clock::now();
  auto t = rd.teacher_features(x);
  std::map<std::string, io::RawTensor> out;
  for (int k = 0; k < 3; ++k) out["layer" + std::to_string(k + 1)] = io::raw_tensor(t[k]);
  if (!a.student.empty()) {
    auto s = rd.student(t);
    for (int k = 0; k < 3; ++k) out["student" + std::to_string(k + 1)] = io::raw_tensor(s[k]);
  }
  const double compute_s = seconds_since(t1);
  io::write_safetensors(a.out, out,
                        {{"backbone", a.backbone},
                         {"weights", a.weights.empty() ? "random" : std::filesystem::path(a.weights).filename().string()},
                         {"student", a.student.empty() ? "" : std::filesystem::path(a.student).filename().string()},
                         {"input", std::filesystem::path(a.input).filename().string()}});
  std::fprintf(stderr, "packd features: input %s -> %s (%zu tensors; forward %.2f s, total %.2f s)\n",
               to_string(x.shape()).c_str(), a.out.c_str(), out.size(), compute_s, seconds_since(t0));
  return 0;
}

}  // namespace

Run add_features(CLI::App& app) {
  auto args = std::make_shared<FeaturesArgs>();
  app.add_option("--backbone", args->backbone, "teacher backbone")
      ->check(CLI::IsMember({"wide_resnet50_2", "resnet18", "resnet34", "resnet50"}))
      ->capture_default_str();
  app.add_option("--weights", args->weights,
                 "torchvision ImageNet weights of the backbone (.pth, either format, or safetensors); "
                 "without it the teacher is random")
      ->check(CLI::ExistingFile);
  app.add_option("--input", args->input,
                 "an image (PNG, JPEG, BMP), or a .safetensors file with an ImageNet-normalised 'input' (N, 3, H, W)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--out", args->out, "output .safetensors: layer1..layer3 (and student1..student3)")->required();
  app.add_option("--student", args->student, "RD student checkpoint with RD4AD key names (bn.*, decoder.*)")
      ->check(CLI::ExistingFile);
  app.add_option("--size", args->size, "image side after resizing (images only)")->capture_default_str();
  add_device_option(app, args->device);
  return [args] { return run_features(*args); };
}

}  // namespace packd_cli
