// nn::Module: names, order, modes, state_dict round trips and strict loading errors,
// initialisation statistics, eval-mode BN folding; parameter counts of the RD models.
#include <cmath>

#include "packd/io/checkpoint.hpp"
#include "packd/models/rd.hpp"
#include "packd/models/resnet.hpp"
#include "packd/nn.hpp"
#include "testing.hpp"

using namespace packd;

namespace {

// conv . bn . relu, and a child Sequential: enough structure to test names and order.
struct Tiny : nn::Module<float> {
  explicit Tiny(Generator& gen) {
    conv = register_module("conv", std::make_shared<nn::Conv2d<float>>(3, 4, 3, Conv2dOptions{.padding = {1, 1}}, true, gen));
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d<float>>(4));
    head = register_module("head", std::make_shared<nn::Sequential<float>>());
    head->push_back(nn::conv1x1<float>(4, 2, 1, gen));
    head->push_back(std::make_shared<nn::ReLU<float>>());
  }
  Tensor<float> forward(const Tensor<float>& x) { return head->forward(relu(bn->forward(conv->forward(x)))); }
  std::shared_ptr<nn::Conv2d<float>> conv;
  std::shared_ptr<nn::BatchNorm2d<float>> bn;
  std::shared_ptr<nn::Sequential<float>> head;
};

std::vector<std::string> names(const nn::StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& e : sd) out.push_back(e.name);
  return out;
}

}  // namespace

TEST_CASE("state_dict lists parameters, then buffers, then children, with dotted names") {
  Generator gen(1);
  Tiny m(gen);
  const std::vector<std::string> expected{
      "conv.weight",         "conv.bias",          "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
      "bn.num_batches_tracked", "head.0.weight"};
  CHECK(names(m.state_dict()) == expected);
  CHECK(m.named_parameters().size() == 5);
  CHECK(m.num_parameters() == 4 * 3 * 9 + 4 + 4 + 4 + 2 * 4);
  CHECK(m.state_dict()[6].tensor->dtype == DType::int64);
  CHECK_THROWS_PACKD(m.register_module("conv", nn::conv1x1<float>(1, 1, 1, gen)), "already registered");
  CHECK_THROWS_PACKD(m.register_parameter("a.b", zeros<float>({1})), "invalid name");
}

TEST_CASE("train() and eval() reach every module; BN counts batches only in training") {
  Generator gen(2);
  Tiny m(gen);
  Tensor<float> x = randn<float>({2, 3, 5, 5}, gen);
  m.forward(x);
  CHECK(m.bn->num_batches_tracked.item() == 1);
  m.eval();
  CHECK(!m.bn->is_training());
  CHECK(!m.head->is_training());
  m.forward(x);
  CHECK(m.bn->num_batches_tracked.item() == 1);
  m.train();
  CHECK(m.conv->is_training());
}

TEST_CASE("state_dict round trip through safetensors restores every value") {
  Generator gen(3);
  Tiny a(gen), b(gen);
  a.forward(randn<float>({2, 3, 5, 5}, gen));  // changes the running statistics and the counter
  const std::string path = "module_roundtrip.safetensors";
  io::write_safetensors(path, a.state_dict_raw());
  b.load_state_dict(io::read_safetensors(path).tensors, {}, path);
  const auto sa = a.state_dict(), sb = b.state_dict();
  for (std::size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].name);
    if (sa[i].tensor->dtype == DType::int64)
      CHECK(Tensor<int64_t>(sa[i].tensor).item() == Tensor<int64_t>(sb[i].tensor).item());
    else
      CHECK_CLOSE(Tensor<float>(sb[i].tensor), Tensor<float>(sa[i].tensor).detach(), 0, 0);
  }
}

TEST_CASE("strict loading lists missing, unexpected and mismatched keys and changes nothing") {
  Generator gen(4);
  Tiny m(gen);
  nn::WeightMap w = m.state_dict_raw();
  const std::vector<float> before = m.conv->weight.to_vector();
  w.erase("bn.running_var");
  w["extra.weight"] = io::raw_tensor(zeros<float>({1}));
  w["conv.weight"] = io::raw_tensor(ones<float>({4, 3, 1, 1}));
  w["conv.bias"] = io::raw_tensor(ones<float>({4}));
  CHECK_THROWS_PACKD(m.load_state_dict(w, {}, "my.pth"), "my.pth does not match the model");
  try {
    m.load_state_dict(w, {}, "my.pth");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Matchers::Contains("bn.running_var"));
    CHECK_THAT(msg, Catch::Matchers::Contains("extra.weight"));
    CHECK_THAT(msg, Catch::Matchers::Contains("conv.weight: file (4, 3, 1, 1)"));
  }
  CHECK(m.conv->weight.to_vector() == before);
  CHECK(m.conv->bias.to_vector() != std::vector<float>(4, 1.0f));

  nn::LoadReport r = m.load_state_dict(w, {.strict = false});
  CHECK(r.missing == std::vector<std::string>{"bn.running_var"});
  CHECK(r.unexpected == std::vector<std::string>{"extra.weight"});
  CHECK(r.mismatched.size() == 1);
  CHECK(m.conv->bias.to_vector() == std::vector<float>(4, 1.0f));  // matching keys were loaded
}

TEST_CASE("loading under a prefix, with ignored and optional keys") {
  Generator gen(5);
  Tiny a(gen), b(gen);
  nn::WeightMap w = a.state_dict_raw("student.");
  w["student.unused.weight"] = io::raw_tensor(zeros<float>({3}));
  w.erase("student.head.0.weight");
  w["teacher.conv.weight"] = io::raw_tensor(zeros<float>({1}));
  b.load_state_dict(w, {.prefix = "student.", .ignore_unexpected = {"unused."}, .allow_missing = {"head."}});
  CHECK_CLOSE(b.conv->weight.detach(), a.conv->weight.detach(), 0, 0);
  CHECK_THROWS_PACKD(b.load_state_dict(w, {.prefix = "student."}), "student.head.0.weight");
}

TEST_CASE("float64 files load into float32 modules and the reverse; int64 buffers stay int64") {
  Generator gen(6);
  Tiny a(gen);
  nn::WeightMap w = a.state_dict_raw();
  w["conv.bias"] = io::raw_tensor(from_vector<double>({1.5, 2.5, 3.5, 4.5}));
  a.load_state_dict(w);
  CHECK(a.conv->bias.to_vector() == std::vector<float>{1.5f, 2.5f, 3.5f, 4.5f});
  w["bn.num_batches_tracked"] = io::raw_tensor(zeros<float>({}));
  CHECK_THROWS_PACKD(a.load_state_dict(w), "bn.num_batches_tracked: file () float32, model () int64");
}

TEST_CASE("loading does not touch autograd: parameters stay leaves that require grad") {
  Generator gen(7);
  Tiny a(gen);
  a.load_state_dict(a.state_dict_raw());
  for (auto& [n, p] : a.named_parameters()) {
    INFO(n);
    CHECK(p.requires_grad());
    CHECK(p.is_leaf());
  }
}

TEST_CASE("Kaiming normal (fan_out) for convs and PyTorch's default for transposed convs") {
  Generator gen(8);
  auto conv = nn::conv3x3<double>(64, 128, 1, gen);
  nn::init::kaiming_normal_(conv->weight, gen);
  const auto v = conv->weight.to_vector();
  double s2 = 0, s1 = 0;
  for (double x : v) s1 += x, s2 += x * x;
  const double n = double(v.size()), stddev = std::sqrt(s2 / n - (s1 / n) * (s1 / n));
  CHECK(stddev == Approx(std::sqrt(2.0 / (128 * 9))).epsilon(0.02));

  auto deconv = nn::deconv2x2<double>(256, 100, gen);  // weight (256, 100, 2, 2): fan_in = 100 * 4
  const auto d = deconv->weight.to_vector();
  const double bound = 1.0 / std::sqrt(400.0);
  double lo = 0, hi = 0;
  for (double x : d) lo = std::min(lo, x), hi = std::max(hi, x);
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(hi > 0.98 * bound);
  CHECK(lo < -0.98 * bound);
}

TEST_CASE("eval-mode BN folding gives the unfolded result and follows weight changes") {
  Generator gen(9);
  auto conv = std::make_shared<nn::Conv2d<double>>(3, 5, 3, Conv2dOptions{.stride = {2, 2}, .padding = {1, 1}}, true, gen);
  auto bn = std::make_shared<nn::BatchNorm2d<double>>(5);
  {
    NoGradGuard ng;
    bn->running_mean.copy_(randn<double>({5}, gen));
    bn->running_var.copy_(rand<double>({5}, gen, 0.5, 2.0));
    bn->weight.copy_(randn<double>({5}, gen));
    bn->bias.copy_(randn<double>({5}, gen));
  }
  bn->eval();
  nn::ConvBn<double> cb(conv, bn);
  Tensor<double> x = randn<double>({2, 3, 9, 9}, gen);
  Tensor<double> plain = bn->forward(conv->forward(x)).detach();
  Tensor<double> folded;
  {
    NoGradGuard ng;
    folded = cb(x);
  }
  CHECK_CLOSE(folded, plain, 1e-12, 1e-12);
  {
    NoGradGuard ng;
    add_(bn->running_mean, ones<double>({5}), 1.0);
    Tensor<double> refolded = cb(x);
    CHECK_CLOSE(refolded, add(plain, mul(neg(mul(bn->weight, rsqrt(add(bn->running_var, 1e-5)))).reshape({1, 5, 1, 1}), 1.0)),
                1e-10, 1e-10);
  }

  // The transposed conv folds along its output channels (dim 1 of its weight).
  auto deconv = nn::deconv2x2<double>(4, 5, gen);
  nn::ConvBn<double, nn::ConvTranspose2d<double>> dcb(deconv, bn);
  Tensor<double> z = randn<double>({2, 4, 3, 3}, gen);
  Tensor<double> dplain = bn->forward(deconv->forward(z)).detach();
  NoGradGuard ng;
  CHECK_CLOSE(dcb(z), dplain, 1e-12, 1e-12);
}

TEST_CASE("to(device) keeps CPU tensors in place and refuses a device that is not there") {
  Generator gen(10);
  Tiny m(gen);
  const float* before = m.conv->weight.data();
  m.to(Device::cpu());
  CHECK(m.conv->weight.data() == before);
  if (!PACKD_WITH_CUDA) CHECK_THROWS_AS(m.to(Device::cuda()), Error);
}

TEST_CASE("RD4AD's WideResNet50-2 student and teacher have the official parameter counts") {
  Generator gen(11);
  models::ResNetSpec spec = models::resnet_spec("wide_resnet50_2");
  models::OCBE<float> ocbe(models::rd_spec(spec), gen);
  int64_t unused = 0;
  for (auto& [n, p] : ocbe.named_parameters())
    if (n.rfind("conv4.", 0) == 0 || n.rfind("bn4.", 0) == 0) unused += p.numel();
  CHECK(ocbe.num_parameters() - unused == 58885120);  // foundations.md 1.4
  CHECK(unused == 8392704);
  models::ReverseDecoder<float> decoder(models::rd_spec(spec), gen);
  CHECK(decoder.num_parameters() == 24917504);  // foundations.md 1.5
}

TEST_CASE("every backbone and its RD student have torchvision's and RD4AD's parameter counts") {
  // torchvision 0.14 (sum of parameters of the full model), and RD4AD's BN_layer / de_resnet
  // (tests/reference/make_model_fixtures.py classes; conv4/bn4 included).
  struct Expected {
    const char* name;
    int64_t backbone, ocbe, decoder;
  };
  for (const Expected& e : {Expected{"resnet18", 11689512, 11680000 + 525312, 3703168},
                            Expected{"resnet34", 21797672, 16925952, 5770624},
                            Expected{"resnet50", 25557032, 39222272, 15821824}}) {
    INFO(e.name);
    Generator gen(12);
    nn::init::SkipInitGuard skip;  // counts only: no need to draw values
    models::ReverseDistillation<float> rd(models::resnet_spec(e.name), gen);
    CHECK(rd.teacher->num_parameters() == e.backbone);
    CHECK(rd.bn->num_parameters() == e.ocbe);
    CHECK(rd.decoder->num_parameters() == e.decoder);
  }
  Generator gen(13);
  nn::init::SkipInitGuard skip;
  CHECK(models::make_resnet<float>("wide_resnet50_2", gen)->num_parameters() == 68883240);
  CHECK_THROWS_PACKD(models::resnet_spec("resnet101"), "unknown backbone 'resnet101'");
}

TEST_CASE("SkipInitGuard builds modules without drawing values; the next module draws again") {
  Generator gen(14);
  std::vector<float> w;
  {
    nn::init::SkipInitGuard skip;
    w = nn::conv3x3<float>(4, 4, 1, gen)->weight.to_vector();
  }
  CHECK(w == std::vector<float>(w.size(), 0.0f));
  w = nn::conv3x3<float>(4, 4, 1, gen)->weight.to_vector();
  CHECK(w != std::vector<float>(w.size(), 0.0f));
}

TEST_CASE("packd checkpoints: metadata, config and tensors round trip; other files are refused") {
  Generator gen(15);
  Tiny a(gen), b(gen);
  const std::string path = "module_checkpoint.safetensors";
  io::save_checkpoint(path, a.state_dict_raw(), {{"backbone", "tiny"}, {"k", 4}}, {{"step", "120"}});
  io::Checkpoint c = io::load_checkpoint(path);
  CHECK(c.config["backbone"] == "tiny");
  CHECK(c.config["k"] == 4);
  CHECK(c.metadata.at("step") == "120");
  b.load_state_dict(c.tensors, {}, path);
  CHECK(b.conv->weight.to_vector() == a.conv->weight.to_vector());

  io::write_safetensors("plain.safetensors", a.state_dict_raw());
  CHECK_THROWS_PACKD(io::load_checkpoint("plain.safetensors"), "not a packd checkpoint");
  io::write_safetensors("future.safetensors", a.state_dict_raw(),
                        {{"format", "packd.checkpoint"}, {"format_version", "99"}, {"config", "{}"}});
  CHECK_THROWS_PACKD(io::load_checkpoint("future.safetensors"), "format version 99 is not supported");
  io::write_safetensors("badconfig.safetensors", a.state_dict_raw(),
                        {{"format", "packd.checkpoint"}, {"format_version", "1"}, {"config", "{oops"}});
  CHECK_THROWS_PACKD(io::load_checkpoint("badconfig.safetensors"), "config is not valid JSON");
}
