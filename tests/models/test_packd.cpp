// PACKD's student and losses on a tiny random model: shapes, the two CDS forms, every switch,
// gradients reaching every trainable parameter, bad input, and (when the reference fixtures
// exist) parity with tests/reference/packd_reference.py.
#include <cmath>

#include "packd/io/weights.hpp"
#include "packd/models/packd_loss.hpp"
#include "packd/optim/adam.hpp"
#include "packd/train/augment.hpp"
#include "testing.hpp"

using namespace packd;
using packd::testing::check_scaled;

namespace {

models::ResNetSpec tiny_teacher() { return {"tiny", models::BlockKind::bottleneck, {1, 1, 1, 1}, 128, 2, 10}; }
models::RDSpec tiny_student() { return {models::BlockKind::bottleneck, 1, {1, 1, 1}, 128, 2}; }

struct Episode {
  Tensor<double> query, support;  // (B, 3, 64, 64), (B, V, 3, 64, 64)
  std::vector<int64_t> labels;
};

Episode episode(Generator& gen, int64_t B = 4, int64_t V = 4) {
  Episode e;
  e.query = randn<double>({B, 3, 64, 64}, gen);
  e.support = randn<double>({B, V, 3, 64, 64}, gen);
  for (int64_t b = 0; b < B; ++b) e.labels.push_back(b % 2);
  return e;
}

std::shared_ptr<models::PackdStudent<double>> tiny_packd(const models::PackdConfig& cfg, uint64_t seed = 0) {
  Generator gen(seed);
  models::PackdConfig c = cfg;
  c.prototypes = 4;
  return std::make_shared<models::PackdStudent<double>>(tiny_teacher(), tiny_student(), c, gen);
}

}  // namespace

TEST_CASE("PACKD forward: student features have the teacher's shapes; prototypes per view") {
  auto m = tiny_packd({});
  Generator gen(1);
  Episode e = episode(gen);
  auto f = m->forward(e.query, e.support);
  for (int i = 0; i < 3; ++i) {
    CHECK(f.student[i].shape() == f.teacher[i].shape());
    CHECK(f.prototypes[i].shape() == Shape({4, 4 * 4, f.teacher[i].size(1)}));
  }
  // Parameter names of packd-method.md 3.
  std::vector<std::string> names;
  for (auto& [n, p] : m->named_parameters()) names.push_back(n);
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  CHECK(has("proto.stage1.weight"));
  CHECK(has("proto.stage3.bias"));
  CHECK(has("proj.stage2.0.weight"));
  CHECK(has("proj.stage2.1.weight"));
  CHECK(has("proj.stage2.3.bias"));
  CHECK(has("decoder.refine.conv1.weight"));
  CHECK(has("decoder.refine.upsample.0.weight"));
  CHECK(has("decoder.layer2.0.conv1.weight"));
}

TEST_CASE("the Gram and the direct form of the contrastive loss agree") {
  auto m = tiny_packd({});
  Generator gen(2);
  Episode e = episode(gen);
  auto f = m->forward(e.query, e.support);
  for (int i = 0; i < 3; ++i) {
    Tensor<double> g = m->project(i, f.student[i]);
    for (const std::string dot : {"frobenius", "cosine"}) {
      models::PackdConfig cfg = m->config();
      cfg.corr_dot = dot;
      const double a = models::nce_loss(f.support[i], f.teacher[i], g, e.labels, cfg, models::CdsForm::gram).item();
      const double b = models::nce_loss(f.support[i], f.teacher[i], g, e.labels, cfg, models::CdsForm::direct).item();
      INFO("stage " << i + 1 << " " << dot);
      CHECK(a == Approx(b).epsilon(1e-12));
    }
  }
}

TEST_CASE("the loss reaches every trainable parameter, and every switch runs") {
  std::vector<std::pair<std::string, std::string>> switches{
      {"", ""},
      {"integrate", "decoder"},  {"integrate", "none"},         {"proto_bn", "on"},   {"proto_pool", "joint"},
      {"orth", "offdiag_abs"},   {"prob_map", "sum"},            {"guide", "soft"},    {"proj", "none"},
      {"corr_dot", "cosine"},    {"negatives", "1"},             {"nce_positive_in_denominator", "on"},
      {"lambda1", "0"},          {"lambda2", "0"}};
  for (const auto& [name, value] : switches) {
    INFO("switch " << name << "=" << value);
    models::PackdConfig cfg;
    if (!name.empty()) cfg.set(name, value);
    auto m = tiny_packd(cfg);
    m->train();
    Generator gen(3);
    Episode e = episode(gen);
    auto f = m->forward(e.query, e.support);
    auto loss = models::packd_loss(*m, f, e.labels);
    REQUIRE(std::isfinite(loss.total.item()));
    loss.total.backward();
    for (auto& [n, p] : m->named_parameters()) {
      if (n.rfind("bn.conv4.", 0) == 0 || n.rfind("bn.bn4.", 0) == 0) continue;  // unused, as in RD4AD
      if (cfg.proj == "head" && cfg.lambda1 == 0 && n.rfind("proj.", 0) == 0) continue;
      INFO(n);
      CHECK(p.grad().defined());
    }
  }
}

TEST_CASE("PACKD refuses bad configurations and batches") {
  models::PackdConfig cfg;
  CHECK_THROWS_PACKD(cfg.set("integrate", "sometimes"), "choices: all, decoder, none");
  CHECK_THROWS_PACKD(cfg.set("tau=abc"), "not a number");
  CHECK_THROWS_PACKD(cfg.set("colour=red"), "unknown switch 'colour'");
  CHECK_THROWS_PACKD(cfg.set("integrate"), "expected name=value");
  auto m = tiny_packd({});
  Generator gen(4);
  Episode e = episode(gen);
  auto f = m->forward(e.query, e.support);
  std::vector<int64_t> one_category(4, 7);
  CHECK_THROWS_PACKD(models::packd_loss(*m, f, one_category), "at least two categories");
  CHECK_THROWS_PACKD(m->forward(e.query, e.support.narrow(3, 0, 32)), "support views must be (B, V, 3, H, W)");
  nlohmann::json j = cfg.to_json();
  CHECK(models::PackdConfig::from_json(j).to_json() == j);
}

// ---- parity with tests/reference/packd_reference.py (fixtures/packd) -------------------------------

namespace {

const std::string kPackdDir = std::string(PACKD_FIXTURE_DIR) + "/packd";

models::PackdConfig reference_config() {
  models::PackdConfig c;
  c.prototypes = 4;
  return c;
}

std::shared_ptr<models::PackdStudent<double>> reference_packd(const models::PackdConfig& cfg) {
  models::ResNetSpec t{"packd_small", models::BlockKind::bottleneck, {2, 2, 2, 1}, 128, 2, 10};
  models::RDSpec s{models::BlockKind::bottleneck, 1, {1, 2, 2}, 128, 2};
  Generator gen(0);
  auto m = std::make_shared<models::PackdStudent<double>>(t, s, cfg, gen);
  const std::string tp = kPackdDir + "/packd_small_teacher.pth", sp = kPackdDir + "/packd_small_student.pth";
  m->teacher->load_state_dict(io::load_weights(tp), {}, tp);
  // Switched models differ in some shapes: load what matches, then the switch's own tensors.
  const bool is_default = cfg.to_json() == reference_config().to_json();
  m->load_state_dict(io::load_weights(sp), {.strict = is_default}, sp);
  return m;
}


std::vector<int64_t> labels_of(const io::SafetensorsFile& io) { return io.get<int64_t>("labels").to_vector(); }

Tensor<double> train_views_of(const Tensor<double>& supports) { return train::support_views(supports, "rot90"); }

}  // namespace

TEST_CASE("PACKD float64 training step matches the PyTorch reference: every loss term and gradient") {
  const auto& io = testing::fixture("packd/packd_small_io");
  auto m = reference_packd(reference_config());
  m->train();
  Tensor<double> query = io.get<double>("query"), support = io.get<double>("support");
  // The rotated views are the raw supports' right angles (D12).
  Tensor<double> raw = io.get<double>("support_raw");
  for (int64_t b = 0; b < raw.size(0); ++b)
    CHECK_CLOSE(train_views_of(raw.select(0, b)), support.select(0, b), 0, 0);
  auto f = m->forward(query, support);
  auto loss = models::packd_loss(*m, f, labels_of(io));
  check_scaled(loss.total, io.get<double>("loss.total"), 1e-9, "loss.total");
  for (int i = 0; i < 3; ++i) {
    const std::string k = std::to_string(i + 1);
    check_scaled(loss.kd[std::size_t(i)], io.get<double>("loss.kd" + k), 1e-9, "kd" + k);
    check_scaled(loss.nce[std::size_t(i)], io.get<double>("loss.nce" + k), 1e-9, "nce" + k);
    check_scaled(loss.orth[std::size_t(i)], io.get<double>("loss.orth" + k), 1e-9, "orth" + k);
    check_scaled(f.student[std::size_t(i)], io.get<double>("train.s" + k), 1e-6, "S" + k);
    check_scaled(f.prototypes[std::size_t(i)], io.get<double>("train.proto" + k), 1e-6, "P" + k);
  }
  loss.total.backward();
  double gmax = 0;
  for (auto& [n, p] : m->named_parameters())
    if (io.contains("grad." + n))
      for (double v : io.get<double>("grad." + n).to_vector()) gmax = std::max(gmax, std::abs(v));
  int checked = 0;
  for (auto& [n, p] : m->named_parameters()) {
    if (!io.contains("grad." + n)) {
      INFO(n << " has no reference gradient");
      CHECK(!p.grad().defined());
      continue;
    }
    REQUIRE(p.grad().defined());
    // The prototype convs' biases get an exactly-zero gradient (a constant added to a softmax's
    // logits changes nothing), so their reference values are rounding noise: compare them
    // against the scale of all gradients instead of their own.
    const bool zero_exact = n.find("proto.") == 0 && n.find(".bias") != std::string::npos;
    if (zero_exact)
      CHECK_CLOSE(p.grad(), io.get<double>("grad." + n), 0.0, 1e-6 * gmax);
    else
      check_scaled(p.grad(), io.get<double>("grad." + n), 1e-6, "grad." + n);
    ++checked;
  }
  CHECK(checked > 100);
}

TEST_CASE("one Adam step from the reference gradients matches torch.optim.Adam") {
  const auto& io = testing::fixture("packd/packd_small_io");
  auto m = reference_packd(reference_config());
  std::vector<std::pair<std::string, Tensor<double>>> params;
  for (auto& [n, p] : m->named_parameters())
    if (io.contains("grad." + n)) {
      p.set_grad(io.get<double>("grad." + n));
      params.emplace_back(n, p);
    }
  optim::Adam<double> adam(params, {.lr = 5e-4, .betas = {0.5, 0.999}});
  adam.step();
  int checked = 0;
  for (auto& [n, p] : params)
    if (io.contains("adam.after." + n)) {
      check_scaled(p.detach(), io.get<double>("adam.after." + n), 1e-6, "adam.after." + n);
      ++checked;
    }
  CHECK(checked == 6);
}

TEST_CASE("PACKD float32 eval mode matches the reference: student features and anomaly map") {
  const auto& io = testing::fixture("packd/packd_small_io");
  models::PackdConfig cfg = reference_config();
  models::ResNetSpec t{"packd_small", models::BlockKind::bottleneck, {2, 2, 2, 1}, 128, 2, 10};
  models::RDSpec s{models::BlockKind::bottleneck, 1, {1, 2, 2}, 128, 2};
  Generator gen(0);
  models::PackdStudent<float> m(t, s, cfg, gen);
  m.teacher->load_state_dict(io::load_weights(kPackdDir + "/packd_small_teacher.pth"));
  m.load_state_dict(io::load_weights(kPackdDir + "/packd_small_student.pth"));
  m.eval();
  NoGradGuard ng;
  auto f = m.forward(io.get<float>("query"), io.get<float>("support"));
  for (int i = 0; i < 3; ++i)
    check_scaled(f.student[std::size_t(i)], io.get<float>("eval.s" + std::to_string(i + 1)), 1e-4, "eval S");
  check_scaled(eval::anomaly_map(f.teacher, f.student, {.size = {32, 32}}), io.get<double>("eval.amap"), 1e-4, "amap");
}

TEST_CASE("every switch matches the reference's loss and gradient norm") {
  const auto& io = testing::fixture("packd/packd_small_io");
  int checked = 0;
  for (const auto& [key, raw] : io.tensors) {
    const std::string prefix = "switch.", suffix = ".loss.total";
    if (key.rfind(prefix, 0) != 0 || key.size() < suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string sw = key.substr(prefix.size(), key.size() - prefix.size() - suffix.size());
    INFO("switch " << sw);
    models::PackdConfig cfg = reference_config();
    cfg.set(sw);
    auto m = reference_packd(cfg);
    m->load_state_dict(io.tensors, {.strict = false, .prefix = "switch." + sw + ".param."});
    m->train();
    auto f = m->forward(io.get<double>("query"), io.get<double>("support"));
    auto loss = models::packd_loss(*m, f, labels_of(io));
    check_scaled(loss.total, io.get<double>(key), 1e-9, "loss");
    loss.total.backward();
    double g2 = 0;
    for (auto& [n, p] : m->named_parameters())
      if (p.grad().defined())
        for (double v : p.grad().to_vector()) g2 += v * v;
    CHECK(std::sqrt(g2) == Approx(io.get<double>("switch." + sw + ".grad_norm").item()).epsilon(1e-7));
    ++checked;
  }
  CHECK(checked == 15);
}

TEST_CASE("forward_shared (one set of support views for every query) equals forward with the views repeated") {
  for (const std::string integrate : {"all", "none"}) {
    models::PackdConfig cfg;
    cfg.integrate = integrate;
    auto m = tiny_packd(cfg);
    m->eval();
    Generator gen(5);
    Tensor<double> q = randn<double>({3, 3, 64, 64}, gen), views = randn<double>({4, 3, 64, 64}, gen);
    NoGradGuard ng;
    auto a = m->forward(q, views.unsqueeze(0).expand({3, 4, 3, 64, 64}));
    auto b = m->forward_shared(q, m->encode_support(views));
    for (int i = 0; i < 3; ++i) CHECK_CLOSE(b.student[std::size_t(i)], a.student[std::size_t(i)], 1e-12, 1e-12);
  }
}
