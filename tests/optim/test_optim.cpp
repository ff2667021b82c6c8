// Optimisers and schedules against PyTorch 1.13 (tests/reference/make_optim_fixtures.py): Adam and
// SGD parameter values after each of 5 steps and their state after the last, in float64 and
// float32; parameters without gradients; bit-identical resume from a saved state; load errors;
// CosineAnnealingLR and RegAD's cosine.
#include <omp.h>

#include <functional>
#include <memory>

#include "packd/optim.hpp"
#include "testing.hpp"

using namespace packd;
using optim::AdamOptions;
using optim::LrSchedule;
using optim::SgdOptions;

namespace {

const char* const kFamily = "optim";
const std::vector<std::string> kParams{"a", "b", "c", "d", "frozen"};
constexpr int kSteps = 5;

template <FloatScalar T>
using OptimizerPtr = std::unique_ptr<optim::Optimizer<T>>;

// The fixture's configurations (make_optim_fixtures.py CONFIGS).
template <FloatScalar T>
OptimizerPtr<T> make_optimizer(const std::string& cfg, optim::NamedParameters<T> params) {
  if (cfg == "adam_default") return std::make_unique<optim::Adam<T>>(params);
  if (cfg == "adam_wd") return std::make_unique<optim::Adam<T>>(params, AdamOptions{.lr = 0.05, .weight_decay = 0.1});
  if (cfg == "adam_betas" || cfg == "adam_sched")
    return std::make_unique<optim::Adam<T>>(params, AdamOptions{.lr = 0.05, .betas = {0.5, 0.999}});
  if (cfg == "adam_amsgrad")
    return std::make_unique<optim::Adam<T>>(params, AdamOptions{.lr = 0.05, .weight_decay = 0.01, .amsgrad = true});
  if (cfg == "sgd_plain") return std::make_unique<optim::SGD<T>>(params, SgdOptions{.lr = 0.1});
  if (cfg == "sgd_momentum")
    return std::make_unique<optim::SGD<T>>(params, SgdOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1});
  if (cfg == "sgd_nesterov")
    return std::make_unique<optim::SGD<T>>(params, SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
  if (cfg == "sgd_wd")
    return std::make_unique<optim::SGD<T>>(params, SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.05});
  FAIL("unknown configuration " << cfg);
  return nullptr;
}

template <FloatScalar T>
optim::NamedParameters<T> fixture_params() {
  const io::SafetensorsFile& fx = testing::fixture(kFamily);
  optim::NamedParameters<T> params;
  for (const auto& n : kParams) params.emplace_back(n, fx.get<T>("init." + n).requires_grad_());
  return params;
}

// Sets the gradients of fixture step s (none for a parameter the fixture gives none).
template <FloatScalar T>
void set_fixture_grads(optim::Optimizer<T>& opt, int s) {
  const io::SafetensorsFile& fx = testing::fixture(kFamily);
  opt.zero_grad();
  for (const auto& [n, p] : opt.named_parameters()) {
    const std::string key = "grad." + std::to_string(s) + "." + n;
    if (fx.contains(key)) p.set_grad(fx.get<T>(key));
  }
}

template <FloatScalar T>
void check_config(const std::string& cfg) {
  const io::SafetensorsFile& fx = testing::fixture(kFamily);
  const bool f64 = std::is_same_v<T, double>;
  const std::string dt = f64 ? "f64" : "f32";
  const double rtol = f64 ? 1e-12 : 1e-6, atol = f64 ? 1e-14 : 1e-7;
  INFO("configuration " << cfg << " in " << dt);
  optim::NamedParameters<T> params = fixture_params<T>();
  OptimizerPtr<T> opt = make_optimizer<T>(cfg, params);
  const LrSchedule sched = LrSchedule::cosine(0.05, 4, 1e-3);  // adam_sched's CosineAnnealingLR
  for (int s = 0; s < kSteps; ++s) {
    INFO("step " << s);
    set_fixture_grads(*opt, s);
    if (cfg == "adam_sched") opt->set_lr(sched.lr_at(s));
    opt->step();
    for (const auto& [n, p] : params) {
      INFO("parameter " << n);
      CHECK_CLOSE(p, fx.get<T>(cfg + "." + dt + ".step" + std::to_string(s) + "." + n), rtol, atol);
    }
  }
  // the state, under PyTorch's names; nothing for the parameter that never had a gradient
  const optim::StateMap state = opt->state_dict();
  const std::string prefix = cfg + "." + dt + ".state.";
  std::size_t expected = 0;
  for (const auto& [key, raw] : fx.tensors) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    ++expected;
    const std::string name = key.substr(prefix.size());
    INFO("state " << name);
    REQUIRE(state.count(name));
    CHECK(state.at(name).dtype == raw.dtype);
    CHECK(state.at(name).shape == raw.shape);
    CHECK_CLOSE(state.at(name).template to_tensor<double>(), raw.template to_tensor<double>(), rtol, atol);
  }
  CHECK(state.size() == expected);
}

// Random parameters and gradients, one of them large enough for the threaded path.
template <FloatScalar T>
struct Problem {
  optim::NamedParameters<T> init;
  std::vector<std::vector<Tensor<T>>> grads;  // [step][param]; undefined: no gradient

  explicit Problem(uint64_t seed) {
    Generator gen(seed);
    const std::vector<std::pair<std::string, Shape>> shapes{
        {"big", {300, 401}}, {"small", {7}}, {"conv.weight", {4, 3, 3, 3}}, {"unused", {5}}};
    for (const auto& [n, s] : shapes) init.emplace_back(n, randn<T>(s, gen));
    for (int step = 0; step < kSteps; ++step) {
      std::vector<Tensor<T>> g;
      for (const auto& [n, p] : init)
        g.push_back(n == "unused" || (n == "small" && step == 1) ? Tensor<T>() : randn<T>(p.shape(), gen, T(0), T(0.1)));
      grads.push_back(g);
    }
  }

  // Fresh leaves holding copies of the initial values.
  optim::NamedParameters<T> params() const {
    optim::NamedParameters<T> out;
    for (const auto& [n, p] : init) out.emplace_back(n, p.clone().requires_grad_());
    return out;
  }

  void run(optim::Optimizer<T>& opt, int from, int to, const LrSchedule& sched) const {
    for (int s = from; s < to; ++s) {
      opt.zero_grad();
      for (std::size_t i = 0; i < init.size(); ++i)
        if (grads[s][i].defined()) opt.named_parameters()[i].second.set_grad(grads[s][i].clone());
      opt.set_lr(sched.lr_at(s));
      opt.step();
    }
  }
};

bool same_state(const optim::StateMap& a, const optim::StateMap& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
    if (ia->first != ib->first || ia->second.dtype != ib->second.dtype || !(ia->second.shape == ib->second.shape) ||
        ia->second.bytes != ib->second.bytes)
      return false;
  return true;
}

template <FloatScalar T>
std::vector<std::vector<T>> values(const optim::NamedParameters<T>& params) {
  std::vector<std::vector<T>> out;
  for (const auto& [n, p] : params) out.push_back(p.to_vector());
  return out;
}

// 3 steps, save (through a safetensors image, as a checkpoint would), rebuild the optimiser from
// its hyper-parameters' JSON over copies of the parameters, load, 2 more steps: bit-identical to
// 5 steps in one go.
template <FloatScalar T>
void check_resume(const std::function<OptimizerPtr<T>(optim::NamedParameters<T>)>& make) {
  Problem<T> problem(41);
  const LrSchedule sched = LrSchedule::cosine(0.02, 4, 1e-4);
  optim::NamedParameters<T> straight = problem.params();
  OptimizerPtr<T> opt_straight = make(straight);
  problem.run(*opt_straight, 0, kSteps, sched);

  optim::NamedParameters<T> first = problem.params();
  OptimizerPtr<T> opt_first = make(first);
  problem.run(*opt_first, 0, 3, sched);
  const std::vector<uint8_t> image = io::serialize_safetensors(opt_first->state_dict("optim."));
  const io::SafetensorsFile file = io::parse_safetensors(image.data(), image.size(), "state.safetensors");
  const std::string hyper = opt_first->hyperparameters().dump();
  CHECK(!file.contains("optim.unused.exp_avg"));
  CHECK(!file.contains("optim.unused.momentum_buffer"));

  optim::NamedParameters<T> resumed;
  for (const auto& [n, p] : first) resumed.emplace_back(n, p.detach().clone().requires_grad_());
  OptimizerPtr<T> opt_resumed = optim::make_optimizer<T>(resumed, nlohmann::json::parse(hyper));
  opt_resumed->load_state_dict(file.tensors, "optim.", file.source);
  CHECK(opt_resumed->hyperparameters() == opt_first->hyperparameters());
  problem.run(*opt_resumed, 3, kSteps, sched);
  CHECK(values(resumed) == values(straight));
  CHECK(values(resumed)[3] == values(problem.init)[3]);  // "unused" never moved
  CHECK(same_state(opt_resumed->state_dict(), opt_straight->state_dict()));
}

}  // namespace

TEST_CASE("Adam matches torch.optim.Adam step by step", "[optim]") {
  for (const char* cfg : {"adam_default", "adam_wd", "adam_betas", "adam_amsgrad", "adam_sched"}) {
    check_config<double>(cfg);
    check_config<float>(cfg);
  }
}

TEST_CASE("SGD matches torch.optim.SGD step by step", "[optim]") {
  for (const char* cfg : {"sgd_plain", "sgd_momentum", "sgd_nesterov", "sgd_wd"}) {
    check_config<double>(cfg);
    check_config<float>(cfg);
  }
}

TEST_CASE("a parameter without a gradient is untouched and gets no state", "[optim]") {
  const io::SafetensorsFile& fx = testing::fixture(kFamily);
  for (const char* cfg : {"adam_wd", "sgd_wd"}) {
    optim::NamedParameters<double> params = fixture_params<double>();
    OptimizerPtr<double> opt = make_optimizer<double>(cfg, params);
    for (int s = 0; s < kSteps; ++s) {
      set_fixture_grads(*opt, s);
      opt->step();
    }
    CHECK(params[4].second.to_vector() == fx.get<double>("init.frozen").to_vector());  // bit for bit
    CHECK(!opt->has_state("frozen"));
    CHECK(opt->has_state("a"));
    CHECK(opt->step_count("a") == 5);
    CHECK(opt->step_count("d") == 4);  // d had no gradient at step 2
    CHECK(opt->step_count("frozen") == 0);
    for (const auto& [key, raw] : opt->state_dict()) CHECK(key.rfind("frozen.", 0) != 0);
  }
}

TEST_CASE("zero_grad drops the gradients; lr can be read and set", "[optim]") {
  optim::NamedParameters<float> params = fixture_params<float>();
  optim::Adam<float> opt(params, {.lr = 0.01});
  set_fixture_grads(opt, 0);
  CHECK(params[0].second.grad().defined());
  opt.zero_grad();
  for (const auto& [n, p] : params) CHECK(!p.grad().defined());
  opt.step();  // no gradients: nothing happens
  CHECK(!opt.has_state("a"));
  CHECK(opt.lr() == 0.01);
  opt.set_lr(0.5);
  CHECK(opt.lr() == 0.5);
  CHECK(opt.options().lr == 0.5);
  CHECK(opt.hyperparameters()["lr"] == 0.5);
  CHECK_THROWS_PACKD(opt.set_lr(-1), "invalid learning rate -1");
}

TEST_CASE("Adam after a real backward: the first step moves each weight by about lr", "[optim]") {
  // With m = (1 - b1) g and v = (1 - b2) g^2 the first update is lr * g / (|g| + eps sqrt(1 - b2)).
  Generator gen(3);
  Tensor<float> w = (rand<float>({64, 33}, gen) + 0.5f).requires_grad_();  // > 0
  const std::vector<float> before = w.to_vector();
  optim::Adam<float> opt({{"w", w}}, {.lr = 0.01});
  sum(w * w).backward();
  const uint64_t version = w.version();
  opt.step();
  CHECK(w.version() > version);
  CHECK_CLOSE(w, from_vector(before, w.shape()) - 0.01f, 0, 1e-6);
}

TEST_CASE("a saved state resumes bit-identically", "[optim]") {
  SECTION("Adam with AMSGrad and weight decay, float32") {
    check_resume<float>([](optim::NamedParameters<float> p) -> OptimizerPtr<float> {
      return std::make_unique<optim::Adam<float>>(
          p, AdamOptions{.lr = 0.02, .betas = {0.5, 0.999}, .weight_decay = 1e-3, .amsgrad = true});
    });
  }
  SECTION("Adam, float64") {
    check_resume<double>([](optim::NamedParameters<double> p) -> OptimizerPtr<double> {
      return std::make_unique<optim::Adam<double>>(p);
    });
  }
  SECTION("SGD with Nesterov momentum and weight decay, float32") {
    check_resume<float>([](optim::NamedParameters<float> p) -> OptimizerPtr<float> {
      return std::make_unique<optim::SGD<float>>(p, SgdOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
    });
  }
  SECTION("SGD with dampened momentum, float64") {
    check_resume<double>([](optim::NamedParameters<double> p) -> OptimizerPtr<double> {
      return std::make_unique<optim::SGD<double>>(p, SgdOptions{.lr = 0.05, .momentum = 0.5, .dampening = 0.2});
    });
  }
}

TEST_CASE("the update does not depend on the number of threads", "[optim]") {
  Problem<float> problem(7);
  const LrSchedule sched = LrSchedule::constant(0.01);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    optim::NamedParameters<float> p = problem.params();
    optim::Adam<float> opt(p, {.weight_decay = 0.1, .amsgrad = true});
    problem.run(opt, 0, kSteps, sched);
    return values(p);
  };
  const auto serial = run(1), threaded = run(4);
  omp_set_num_threads(2);
  CHECK(serial == threaded);
}

TEST_CASE("load_state_dict errors name the key and change nothing", "[optim]") {
  optim::NamedParameters<float> params = fixture_params<float>();
  optim::Adam<float> opt(params, {.lr = 0.05});
  set_fixture_grads(opt, 0);
  opt.step();
  const optim::StateMap good = opt.state_dict("opt.");
  const std::vector<float> a_exp_avg = opt.state("a").slots[0].to_vector();
  auto fresh = [&] { return optim::Adam<float>(fixture_params<float>(), {.lr = 0.05}); };

  optim::StateMap missing = good;
  missing.erase("opt.a.exp_avg");
  optim::Adam<float> target = fresh();
  CHECK_THROWS_PACKD(target.load_state_dict(missing, "opt.", "ckpt.safetensors"), "missing key 'opt.a.exp_avg'");
  CHECK_THROWS_PACKD(target.load_state_dict(missing, "opt.", "ckpt.safetensors"),
                     "Adam.load_state_dict: ckpt.safetensors does not match");
  CHECK(!target.has_state("b"));  // nothing was loaded

  optim::StateMap shape = good;
  shape["opt.b.exp_avg_sq"] = io::raw_tensor(zeros<float>({4}));
  CHECK_THROWS_PACKD(target.load_state_dict(shape, "opt."), "key 'opt.b.exp_avg_sq': float32 of shape (4,), the parameter is float32 of shape (5,)");

  optim::StateMap unexpected = good;
  unexpected["opt.layer9.weight.exp_avg"] = io::raw_tensor(zeros<float>({4}));
  unexpected["opt.a.momentum_buffer"] = io::raw_tensor(zeros<float>({3, 4}));
  CHECK_THROWS_PACKD(target.load_state_dict(unexpected, "opt."), "unexpected key 'opt.layer9.weight.exp_avg'");
  CHECK_THROWS_PACKD(target.load_state_dict(unexpected, "opt."), "unexpected key 'opt.a.momentum_buffer'");

  optim::StateMap step = good;
  step["opt.c.step"] = io::raw_tensor(full<float>({1}, 1.5f));
  CHECK_THROWS_PACKD(target.load_state_dict(step, "opt."), "key 'opt.c.step': step 1.5");
  step["opt.c.step"] = io::raw_tensor(full<float>({2}, 1.0f));
  CHECK_THROWS_PACKD(target.load_state_dict(step, "opt."), "key 'opt.c.step': shape (2,)");

  optim::StateMap dtype = good;
  dtype["opt.a.exp_avg"] = io::raw_tensor(zeros<int64_t>({3, 4}));
  CHECK_THROWS_PACKD(target.load_state_dict(dtype, "opt."), "key 'opt.a.exp_avg': int64");
  CHECK(!target.has_state("a"));

  // keys outside the prefix are not the optimiser's; the good state loads, also as float64
  optim::StateMap with_model = good;
  with_model["decoder.weight"] = io::raw_tensor(zeros<float>({2}));
  target.load_state_dict(with_model, "opt.");
  CHECK(target.state("a").slots[0].to_vector() == a_exp_avg);
  CHECK(target.step_count("a") == 1);
  CHECK(!target.has_state("frozen"));
  optim::Adam<double> wide(fixture_params<double>(), {.lr = 0.05});
  wide.load_state_dict(good, "opt.");
  CHECK(wide.step_count("c") == 1);
  // an SGD state does not fit Adam
  optim::SGD<float> sgd(fixture_params<float>(), {.lr = 0.1, .momentum = 0.9});
  CHECK_THROWS_PACKD(sgd.load_state_dict(good, "opt."), "unexpected key 'opt.a.exp_avg'");
}

TEST_CASE("optimiser argument errors", "[optim]") {
  optim::NamedParameters<float> params = fixture_params<float>();
  CHECK_THROWS_PACKD(optim::Adam<float>({}), "Adam: got an empty parameter list");
  CHECK_THROWS_PACKD(optim::Adam<float>(params, {.betas = {1.0, 0.999}}), "invalid beta parameter at index 0");
  CHECK_THROWS_PACKD(optim::Adam<float>(params, {.lr = -0.1}), "Adam: invalid learning rate");
  CHECK_THROWS_PACKD(optim::Adam<float>(params, {.weight_decay = -1}), "invalid weight_decay");
  CHECK_THROWS_PACKD(optim::SGD<float>(params, {.lr = 0.1, .dampening = 0.1, .nesterov = true}),
                     "Nesterov momentum requires a momentum and zero dampening");
  CHECK_THROWS_PACKD(optim::SGD<float>(params, {.lr = 0.1, .momentum = -0.5}), "SGD: invalid momentum");
  optim::NamedParameters<float> twice{params[0], {"other", params[0].second}};
  CHECK_THROWS_PACKD(optim::Adam<float>(twice), "parameter 'other' is the same tensor as an earlier one");
  optim::NamedParameters<float> same_name{params[0], {"a", params[1].second}};
  CHECK_THROWS_PACKD(optim::Adam<float>(same_name), "parameter name 'a' appears twice");
  optim::NamedParameters<float> computed{{"x", params[0].second * 2.0f}};
  CHECK_THROWS_PACKD(optim::Adam<float>(computed), "parameter 'x' is not a leaf tensor");

  // a parameter that is not contiguous cannot be updated in place as a flat array
  Tensor<float> base = zeros<float>({4, 3});
  Tensor<float> strided = Tensor<float>::from_storage(base.storage(), {3, 4}, {1, 3}, 0).requires_grad_();
  optim::SGD<float> sgd({{"t", strided}}, {.lr = 0.1});
  strided.set_grad(ones<float>({3, 4}));
  CHECK_THROWS_PACKD(sgd.step(), "SGD.step: parameter 't' of shape (3, 4) and strides (1, 3) is not contiguous");

  optim::Adam<float> opt(params);
  CHECK_THROWS_PACKD(opt.has_state("nope"), "Adam: no parameter named 'nope'");
  CHECK_THROWS_PACKD(AdamOptions::from_json({{"lr", 0.1}, {"beta", 0.5}}), "Adam: unknown hyper-parameter 'beta'");
  CHECK_THROWS_PACKD(AdamOptions::from_json({{"lr", "fast"}}), "Adam: hyper-parameter 'lr' has the wrong type");
  CHECK_THROWS_PACKD(AdamOptions::from_json(SgdOptions{}.to_json()), "Adam: hyper-parameters of type \"sgd\"");
  CHECK_THROWS_PACKD(SgdOptions::from_json(nlohmann::json::array()), "SGD: hyper-parameters must be a JSON object");
  CHECK_THROWS_PACKD(optim::make_optimizer<float>(params, {{"type", "rmsprop"}}), "make_optimizer: hyper-parameters of an unknown optimiser");
  CHECK(optim::make_optimizer<float>(params, SgdOptions{.lr = 0.2}.to_json())->name() == "SGD");
}

TEST_CASE("hyper-parameters round-trip through JSON", "[optim]") {
  const AdamOptions a{.lr = 5e-3, .betas = {0.5, 0.999}, .eps = 1e-7, .weight_decay = 1e-4, .amsgrad = true};
  const AdamOptions a2 = AdamOptions::from_json(nlohmann::json::parse(a.to_json().dump()));
  CHECK(a2.lr == a.lr);
  CHECK(a2.betas == a.betas);
  CHECK(a2.eps == a.eps);
  CHECK(a2.weight_decay == a.weight_decay);
  CHECK(a2.amsgrad);
  const SgdOptions s{.lr = 1e-4, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.3};
  const SgdOptions s2 = SgdOptions::from_json(nlohmann::json::parse(s.to_json().dump()));
  CHECK(s2.lr == s.lr);
  CHECK(s2.momentum == s.momentum);
  CHECK(s2.dampening == s.dampening);
  CHECK(s2.weight_decay == s.weight_decay);
  CHECK(!s2.nesterov);
  const LrSchedule c = LrSchedule::cosine(0.1, 7, 1e-3);
  const LrSchedule c2 = LrSchedule::from_json(nlohmann::json::parse(c.to_json().dump()));
  for (int64_t t : {0, 3, 7, 11}) CHECK(c2.lr_at(t) == c.lr_at(t));
}

TEST_CASE("cosine schedules match CosineAnnealingLR and RegAD", "[optim]") {
  const io::SafetensorsFile& fx = testing::fixture(kFamily);
  auto check = [&](const LrSchedule& sched, const std::string& key) {
    INFO(key);
    const std::vector<double> expected = fx.get<double>(key).to_vector();
    std::vector<double> got;
    for (std::size_t t = 0; t < expected.size(); ++t) got.push_back(sched.lr_at(int64_t(t)));
    CHECK_CLOSE(from_vector(got), from_vector(expected), 1e-12, 1e-15);
  };
  check(LrSchedule::cosine(0.1, 10), "sched.t10");  // 25 epochs: down to 0 at 10, back up after
  check(LrSchedule::cosine(0.5, 7, 1e-3), "sched.t7_min");
  check(LrSchedule::regad_cosine(1e-4, 50), "regad.e50");
  CHECK(LrSchedule::regad_cosine(1e-4, 50).lr_at(50) == 0);
  CHECK(LrSchedule::cosine(0.1, 10).lr_at(0) == 0.1);
  CHECK(LrSchedule::constant(0.005).lr_at(1000) == 0.005);
  CHECK_THROWS_PACKD(LrSchedule::cosine(0.1, 0), "T_max (or the number of epochs) must be positive");
  CHECK_THROWS_PACKD(LrSchedule::constant(0.1).lr_at(-1), "negative epoch/step -1");
  CHECK_THROWS_PACKD(LrSchedule::from_json({{"kind", "step"}}), "unknown kind 'step'");
}
