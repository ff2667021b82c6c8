#pragma once
// optim::Optimizer<T>: what Adam and SGD (adam.hpp, sgd.hpp) share, with torch.optim 1.13's
// semantics for one parameter group.
//
//   Optimizer(named parameters)  Module::named_parameters(): (dotted name, leaf tensor) pairs
//   step()          under NoGradGuard, updates every parameter that has a .grad(); one whose grad
//                   is undefined is skipped and its state is neither created nor advanced
//                   (PyTorch's `if p.grad is not None`: RD's conv4/bn4 never get either). The
//                   parameters are checked and their states prepared first, then updated together
//                   (apply(): one kernel launch for all CUDA parameters); if anything throws, no
//                   state advances.
//   zero_grad()     drops every .grad (PyTorch's set_to_none=True)
//   lr(), set_lr()  the learning rate the next step() uses (schedule.hpp computes it)
//   state_dict()    the per-parameter state as host tensors "<param>.<slot>" (Adam: exp_avg,
//                   exp_avg_sq, max_exp_avg_sq with AMSGrad, and step as a float32 scalar, as
//                   PyTorch 1.13 keeps it), ready for io::write_safetensors / save_checkpoint;
//                   hyperparameters() is the JSON of the options (lr included). A run resumed
//                   from both continues bit-identically.
//   load_state_dict checks every key, shape and dtype first and changes nothing unless all
//                   match; a parameter without any key has no state (it never had a gradient)
//
// Per parameter, the state exists from the first step that had a gradient, and its step counter
// (Adam) counts the updates of that parameter only, as in PyTorch.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "packd/autograd/grad_mode.hpp"
#include "packd/io/safetensors.hpp"
#include "packd/ops/factory.hpp"
#include "packd/tensor.hpp"

namespace packd::optim {

template <FloatScalar T>
using NamedParameters = std::vector<std::pair<std::string, Tensor<T>>>;

// An optimiser's state as host tensors by name, the layout of io::write_safetensors.
using StateMap = std::map<std::string, io::RawTensor>;

// The state of one parameter. Empty (initialized false) until its first step with a gradient.
template <FloatScalar T>
struct ParamState {
  bool initialized = false;
  int64_t step = 0;              // updates applied to this parameter (Adam's "step")
  std::vector<Tensor<T>> slots;  // one per slot name of the optimiser, shaped as the parameter
};

namespace detail {

// Calls f.template operator()<B>() with the runtime flag as a compile-time constant, so that
// kernel loops carry no per-element branch on options.
template <class F>
decltype(auto) with_flag(bool flag, F&& f) {
  return flag ? f.template operator()<true>() : f.template operator()<false>();
}

inline io::RawTensor step_tensor(int64_t step) {
  // float32 and 0-d, as torch.optim.Adam's state['step'] (exact below 2^24 steps)
  PACKD_CHECK(step < (int64_t(1) << 24), "optimizer state_dict: step ", step,
              " is too large for the float32 step of PyTorch's layout");
  io::RawTensor r;
  r.dtype = DType::float32;
  const float v = static_cast<float>(step);
  r.bytes.resize(sizeof v);
  std::memcpy(r.bytes.data(), &v, sizeof v);
  return r;
}

// Reads options from JSON: checks "type" (when present) against `type`, then calls f(key, value)
// for every other entry; `what` names the optimiser in errors.
template <class F>
void read_json_object(const nlohmann::json& j, const std::string& what, const std::string& type, F&& f) {
  PACKD_CHECK(j.is_object(), what, ": hyper-parameters must be a JSON object, got ", j.dump());
  if (j.contains("type"))
    PACKD_CHECK(j["type"] == type, what, ": hyper-parameters of type ", j["type"].dump(), ", expected \"", type, "\"");
  for (auto& [key, value] : j.items()) {
    if (key == "type") continue;
    try {
      f(key, value);
    } catch (const nlohmann::json::exception& e) {
      PACKD_CHECK(false, what, ": hyper-parameter '", key, "' has the wrong type: ", value.dump(), " (", e.what(), ")");
    }
  }
}

}  // namespace detail

template <FloatScalar T>
class Optimizer {
 public:
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  virtual ~Optimizer() = default;

  // "Adam", "SGD": names the optimiser in messages.
  virtual std::string name() const = 0;
  // The options as JSON (with "type" and the current lr), e.g. for a checkpoint's config.
  virtual nlohmann::json hyperparameters() const = 0;

  void step() {
    NoGradGuard no_grad;
    std::vector<Update> updates;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& [pname, p] = params_[i];
      Tensor<T> g = p.grad();
      if (!g.defined()) continue;
      PACKD_CHECK(p.is_contiguous(), name(), ".step: parameter '", pname, "' of shape ", p.shape(), " and strides ",
                  p.strides(), " is not contiguous; the optimisers update parameters in place as flat arrays");
      PACKD_CHECK(g.device() == p.device(), name(), ".step: the gradient of '", pname, "' is on ", g.device(),
                  ", the parameter on ", p.device());
      updates.push_back(Update{&p, g.contiguous(), &state_[i], !state_[i].initialized});
    }
    std::size_t prepared = 0;  // states advanced so far, undone if anything throws
    try {
      for (; prepared < updates.size(); ++prepared) {
        Update& u = updates[prepared];
        const Tensor<T>& p = *u.param;
        ParamState<T>& s = *u.state;
        if (u.first) {
          s.slots.clear();
          for (std::size_t k = 0; k < slot_names_.size(); ++k) s.slots.push_back(zeros<T>(p.shape(), p.device()));
          s.initialized = true;
        }
        for (auto& t : s.slots) {
          PACKD_CHECK(t.shape() == p.shape(), name(), ".step: the state of '", params_[index_of_state(s)].first,
                      "' has shape ", t.shape(), " but the parameter now has shape ", p.shape());
          if (t.device() != p.device()) t = t.to(p.device());  // after Module::to(device), the state follows
        }
        ++s.step;
      }
      apply(updates);
    } catch (...) {  // (no kernel for the device) the states stay as they were
      for (std::size_t k = 0; k < updates.size(); ++k) {
        ParamState<T>& s = *updates[k].state;
        if (k < prepared) --s.step;
        if (updates[k].first) s = ParamState<T>{};
      }
      throw;
    }
    for (const Update& u : updates) u.param->bump_version();  // in-place writes (Note [Version counter])
  }

  void zero_grad() {
    for (auto& [n, p] : params_) p.zero_grad();
  }

  double lr() const { return lr_; }
  void set_lr(double lr) {
    PACKD_CHECK(std::isfinite(lr) && lr >= 0, name(), ": invalid learning rate ", lr);
    lr_ = lr;
  }

  const NamedParameters<T>& named_parameters() const { return params_; }
  // Whether the parameter has state, i.e. has had a step with a gradient.
  bool has_state(const std::string& param) const { return state_[index_of(param)].initialized; }
  // The updates the parameter has had (for SGD, which saves no step: since its state was loaded).
  int64_t step_count(const std::string& param) const { return state_[index_of(param)].step; }
  // The state of a parameter: its slots, named by slot_names().
  const ParamState<T>& state(const std::string& param) const { return state_[index_of(param)]; }
  const std::vector<std::string>& slot_names() const { return slot_names_; }

  // Host copies of the state: "<prefix><param>.<slot>" for every parameter that has state, plus
  // "<prefix><param>.step" for optimisers that count steps (Adam).
  StateMap state_dict(const std::string& prefix = "") const {
    StateMap out;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const ParamState<T>& s = state_[i];
      if (!s.initialized) continue;
      const std::string base = prefix + params_[i].first + ".";
      for (std::size_t k = 0; k < slot_names_.size(); ++k) out[base + slot_names_[k]] = io::raw_tensor(s.slots[k]);
      if (keeps_step_) out[base + "step"] = detail::step_tensor(s.step);
    }
    return out;
  }

  // Replaces the whole state by the entries of `state` under `prefix` (other keys are ignored).
  // Every key must name a parameter and a slot of this optimiser, and every parameter has either
  // all its keys or none; slot tensors must have the parameter's shape and a float dtype, the
  // step a single non-negative integer. Any mismatch throws packd::Error listing the keys, and
  // the state is left as it was. `source` names the state in errors (a file name).
  void load_state_dict(const StateMap& state, const std::string& prefix = "",
                       const std::string& source = "the optimizer state") {
    std::vector<std::string> keys = slot_names_;
    if (keeps_step_) keys.push_back("step");
    std::vector<std::string> problems;
    // unexpected keys: not "<param>.<slot>" of this optimiser
    for (const auto& [key, raw] : state) {
      if (key.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string rest = key.substr(prefix.size());
      const std::size_t dot = rest.rfind('.');
      const bool known = dot != std::string::npos && by_name_.count(rest.substr(0, dot)) &&
                         std::find(keys.begin(), keys.end(), rest.substr(dot + 1)) != keys.end();
      if (!known) problems.push_back("unexpected key '" + key + "' (no parameter and " + name() + " state of that name)");
    }
    std::vector<ParamState<T>> loaded(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& [pname, p] = params_[i];
      const std::string base = prefix + pname + ".";
      std::vector<const io::RawTensor*> found;
      for (const auto& k : keys) {
        auto it = state.find(base + k);
        found.push_back(it == state.end() ? nullptr : &it->second);
      }
      if (std::all_of(found.begin(), found.end(), [](auto* f) { return f == nullptr; })) continue;  // no state
      bool ok = true;
      for (std::size_t k = 0; k < keys.size(); ++k) {
        const std::string key = base + keys[k];
        const io::RawTensor* raw = found[k];
        if (raw == nullptr) {
          problems.push_back("missing key '" + key + "' (the state has other entries of '" + pname + "')");
          ok = false;
        } else if (keys[k] == "step") {
          if (!read_step(*raw, key, problems, loaded[i].step)) ok = false;
        } else if (!(raw->shape == p.shape()) || raw->dtype == DType::int64) {
          std::ostringstream os;
          os << "key '" << key << "': " << dtype_name(raw->dtype) << " of shape " << raw->shape << ", the parameter is "
             << dtype_name(dtype_of<T>) << " of shape " << p.shape();
          problems.push_back(os.str());
          ok = false;
        }
      }
      if (!ok) continue;
      NoGradGuard no_grad;
      for (std::size_t k = 0; k < slot_names_.size(); ++k)
        loaded[i].slots.push_back(found[k]->template to_tensor<T>("'" + base + keys[k] + "' in " + source).to(p.device()));
      loaded[i].initialized = true;
    }
    if (!problems.empty()) {
      std::ostringstream os;
      os << name() << ".load_state_dict: " << source << " does not match the optimizer's parameters:";
      for (const auto& m : problems) os << "\n  " << m;
      PACKD_CHECK(false, os.str());
    }
    state_ = std::move(loaded);
  }

 protected:
  // slot_names: the per-parameter state tensors ("exp_avg", ...); keeps_step: save "step".
  Optimizer(NamedParameters<T> params, double lr, std::vector<std::string> slot_names, bool keeps_step,
            const std::string& what)
      : params_(std::move(params)), slot_names_(std::move(slot_names)), keeps_step_(keeps_step) {
    PACKD_CHECK(!params_.empty(), what, ": got an empty parameter list");
    PACKD_CHECK(std::isfinite(lr) && lr >= 0, what, ": invalid learning rate ", lr);
    lr_ = lr;
    std::set<const TensorImpl*> seen;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& [pname, p] = params_[i];
      PACKD_CHECK(p.defined(), what, ": parameter '", pname, "' is an undefined tensor");
      PACKD_CHECK(p.is_leaf(), what, ": parameter '", pname, "' is not a leaf tensor (it was computed by ",
                  p.grad_fn()->name(), "); optimise the leaf it came from");
      PACKD_CHECK(by_name_.emplace(pname, i).second, what, ": parameter name '", pname, "' appears twice");
      PACKD_CHECK(seen.insert(&p.impl()).second, what, ": parameter '", pname, "' is the same tensor as an earlier one");
    }
    state_.resize(params_.size());
  }

  // Applies one update to `param` (contiguous) from `grad` (contiguous, same device). The state
  // has its slots (zeros when first) and its step already counts this update.
  virtual void update(const Tensor<T>& param, const Tensor<T>& grad, ParamState<T>& state, bool first) = 0;

  // One parameter's part of a step, as update() takes it.
  struct Update {
    const Tensor<T>* param;
    Tensor<T> grad;
    ParamState<T>* state;
    bool first;
  };
  // Applies all updates of a step. The default calls update() for each; Adam and SGD update the
  // parameters of one CUDA device in one kernel launch.
  virtual void apply(std::vector<Update>& updates) {
    for (Update& u : updates) update(*u.param, u.grad, *u.state, u.first);
  }
  // Calls f(device, group) for the updates grouped by their parameters' device.
  template <class F>
  static void for_each_device(std::vector<Update>& updates, F&& f) {
    std::vector<std::pair<Device, std::vector<Update*>>> groups;
    for (Update& u : updates) {
      const Device d = u.param->device();
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == d; });
      if (it == groups.end()) it = groups.insert(groups.end(), {d, {}});
      it->second.push_back(&u);
    }
    for (auto& [d, group] : groups) f(d, group);
  }

 private:
  std::size_t index_of_state(const ParamState<T>& s) const { return std::size_t(&s - state_.data()); }
  std::size_t index_of(const std::string& param) const {
    auto it = by_name_.find(param);
    PACKD_CHECK(it != by_name_.end(), name(), ": no parameter named '", param, "'");
    return it->second;
  }

  static bool read_step(const io::RawTensor& raw, const std::string& key, std::vector<std::string>& problems,
                        int64_t& step) {
    if (raw.shape.numel() != 1) {
      std::ostringstream os;
      os << "key '" << key << "': shape " << raw.shape << ", a step is a single number";
      problems.push_back(os.str());
      return false;
    }
    const double v = raw.to_tensor<double>("'" + key + "'").item();
    if (!(v >= 0 && v < 9007199254740992.0 && v == std::floor(v))) {
      problems.push_back("key '" + key + "': step " + std::to_string(v) + " is not a non-negative integer");
      return false;
    }
    step = static_cast<int64_t>(v);
    return true;
  }

  NamedParameters<T> params_;
  std::map<std::string, std::size_t> by_name_;
  std::vector<ParamState<T>> state_;  // parallel to params_
  std::vector<std::string> slot_names_;
  bool keeps_step_;
  double lr_ = 0;
};

}  // namespace packd::optim
