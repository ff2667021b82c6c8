#pragma once
// nn::Module<T>: a runtime tree of named parameters, buffers and child modules, whose dotted
// names ("layer1.0.conv1.weight") are PyTorch's state_dict keys, so that torchvision and RD4AD
// weight files load by name.
//
//   parameters   Tensor<T> leaves with requires_grad, registered in order (register_parameter)
//   buffers      tensors that are state but not trained (BN running statistics, float or int64);
//                held type-erased as TensorImpl because num_batches_tracked is int64 while the
//                module's scalar type is T
//   children     shared_ptr<Module<T>>, registered in order (register_module)
//
// state_dict() lists, for each module, its parameters, then its buffers, then its children's
// entries, which is PyTorch's order. Members hold handles to the same TensorImpls as the registry,
// so load_state_dict (an in-place copy) and to(device) (which swaps the storage inside the
// TensorImpl, as libtorch's set_data) are seen through both.
//
// A Module is not copyable (two modules would share parameters by accident); create modules with
// std::make_shared and hold them by shared_ptr. Each module class has its own non-virtual
// forward with the signature it needs; UnaryModule adds a virtual Tensor -> Tensor forward for
// the modules that Sequential chains.
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "packd/autograd/grad_mode.hpp"
#include "packd/io/safetensors.hpp"
#include "packd/ops/factory.hpp"
#include "packd/tensor.hpp"

namespace packd::nn {

// One named tensor of a state_dict. A view of the module's own tensor, not a copy.
struct NamedTensor {
  std::string name;
  std::shared_ptr<TensorImpl> tensor;
};
using StateDict = std::vector<NamedTensor>;

// Weights as read from a file (io::load_weights, io::read_safetensors(...).tensors).
using WeightMap = std::map<std::string, io::RawTensor>;

struct LoadOptions {
  bool strict = true;                         // throw on missing, unexpected or mismatched keys
  std::string prefix{};                       // take the file's keys under this prefix ("bn.", "decoder.")
  std::vector<std::string> ignore_unexpected{};  // key prefixes (after `prefix`) that may be in the file and are skipped
  std::vector<std::string> allow_missing{};      // key prefixes of the module that the file may lack (left as they are)
};

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the module
  std::vector<std::string> mismatched;  // "name: file shape (..) F32, module shape (..)"
  std::vector<std::string> loaded;
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string describe(std::size_t max_per_list = 20) const {
    std::ostringstream os;
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      os << "\n  " << v.size() << " " << what << ":";
      for (std::size_t i = 0; i < v.size() && i < max_per_list; ++i) os << "\n    " << v[i];
      if (v.size() > max_per_list) os << "\n    ... and " << v.size() - max_per_list << " more";
    };
    list("missing keys (in the model, not in the file)", missing);
    list("unexpected keys (in the file, not in the model)", unexpected);
    list("shape or dtype mismatches", mismatched);
    return os.str();
  }
};

namespace detail {
inline bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
inline bool starts_with_any(const std::string& s, const std::vector<std::string>& ps) {
  for (const auto& p : ps)
    if (starts_with(s, p)) return true;
  return false;
}

// Replaces what `dst` holds (storage, shape, strides, offset) by `src`'s, keeping dst's identity
// and autograd metadata: every handle to dst's TensorImpl sees the new data.
inline void set_data(TensorImpl& dst, const TensorImpl& src) {
  dst.storage = src.storage;
  dst.shape = src.shape;
  dst.strides = src.strides;
  dst.offset = src.offset;
}

template <Scalar T>
Tensor<T> typed(const std::shared_ptr<TensorImpl>& impl) { return Tensor<T>(impl); }

template <Scalar U>
void copy_raw_into(const std::shared_ptr<TensorImpl>& dst, const io::RawTensor& raw, const std::string& what) {
  Tensor<U> d(dst);
  Tensor<U> src = raw.template to_tensor<U>(what);
  NoGradGuard no_grad;
  d.copy_(src.to(d.device()));
}
}  // namespace detail

template <FloatScalar T>
class Module {
 public:
  using scalar_type = T;

  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // ---- registration (called by constructors) ------------------------------------------------
  Tensor<T>& register_parameter(const std::string& name, Tensor<T> t, bool requires_grad = true) {
    check_new_name(name);
    if (requires_grad) t.requires_grad_(true);
    params_.emplace_back(name, std::move(t));
    return params_.back().second;
  }
  template <Scalar U>
  Tensor<U> register_buffer(const std::string& name, Tensor<U> t) {
    check_new_name(name);
    buffers_.push_back({name, t.impl_ptr()});
    return t;
  }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    static_assert(std::is_base_of_v<Module<T>, M>, "register_module: not a Module of the same scalar type");
    check_new_name(name);
    PACKD_CHECK(m != nullptr, "register_module: '", name, "' is null");
    children_.emplace_back(name, m);
    return m;
  }

  // ---- introspection --------------------------------------------------------------------------
  // All parameters, depth first, with dotted names.
  std::vector<std::pair<std::string, Tensor<T>>> named_parameters() const {
    std::vector<std::pair<std::string, Tensor<T>>> out;
    visit("", [&](const std::string& prefix, const Module& m) {
      for (const auto& [n, p] : m.params_) out.emplace_back(prefix + n, p);
    });
    return out;
  }
  std::vector<Tensor<T>> parameters() const {
    std::vector<Tensor<T>> out;
    for (auto& [n, p] : named_parameters()) out.push_back(p);
    return out;
  }
  std::vector<NamedTensor> named_buffers() const {
    std::vector<NamedTensor> out;
    visit("", [&](const std::string& prefix, const Module& m) {
      for (const auto& b : m.buffers_) out.push_back({prefix + b.name, b.tensor});
    });
    return out;
  }
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  // Every module below this one (not itself), depth first, with dotted names.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const {
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
    for (const auto& [n, c] : children_) {
      out.emplace_back(n, c);
      for (auto& [cn, cc] : c->named_modules()) out.emplace_back(n + "." + cn, cc);
    }
    return out;
  }
  int64_t num_parameters() const {
    int64_t n = 0;
    for (const auto& [name, p] : named_parameters()) n += p.numel();
    return n;
  }

  // ---- modes ------------------------------------------------------------------------------------
  void train(bool on = true) {
    training_ = on;
    for (auto& [n, c] : children_) c->train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Turns requires_grad on or off for every parameter (a frozen teacher needs no gradients).
  void requires_grad_(bool on) {
    for (auto& [n, p] : named_parameters()) p.requires_grad_(on);
  }
  void zero_grad() {
    for (auto& [n, p] : named_parameters()) p.zero_grad();
  }

  // Moves every parameter and buffer to `device` in place.
  void to(Device device) {
    for (auto& [n, p] : named_parameters()) move_impl(p.impl_ptr(), device);
    for (auto& b : named_buffers()) move_impl(b.tensor, device);
  }

  // ---- state ------------------------------------------------------------------------------------
  StateDict state_dict() const {
    StateDict out;
    visit("", [&](const std::string& prefix, const Module& m) {
      for (const auto& [n, p] : m.params_) out.push_back({prefix + n, p.impl_ptr()});
      for (const auto& b : m.buffers_) out.push_back({prefix + b.name, b.tensor});
    });
    return out;
  }

  // Copies the file's tensors into this module's parameters and buffers by name (converting
  // float16/bfloat16/float32/float64 to T). Strict by default: any missing, unexpected or
  // mismatched key is an error that lists them all, and nothing is changed. Non-strict loads
  // what matches and returns the report.
  LoadReport load_state_dict(const WeightMap& weights, const LoadOptions& opt = {}, const std::string& source = "weights") {
    LoadReport r;
    StateDict mine = state_dict();
    std::map<std::string, const std::shared_ptr<TensorImpl>*> by_name;
    for (const auto& e : mine) by_name[e.name] = &e.tensor;
    std::vector<std::pair<const std::shared_ptr<TensorImpl>*, const io::RawTensor*>> plan;
    std::map<std::string, bool> seen;
    for (const auto& [key, raw] : weights) {
      if (!detail::starts_with(key, opt.prefix)) continue;
      const std::string name = key.substr(opt.prefix.size());
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        if (!detail::starts_with_any(name, opt.ignore_unexpected)) r.unexpected.push_back(key);
        continue;
      }
      seen[name] = true;
      const TensorImpl& dst = **it->second;
      const bool float_ok = dst.dtype != DType::int64 && raw.dtype != DType::int64;
      const bool dtype_ok = float_ok || (dst.dtype == DType::int64 && raw.dtype == DType::int64);
      if (!(raw.shape == dst.shape) || !dtype_ok) {
        std::ostringstream os;
        os << key << ": file " << raw.shape << " " << dtype_name(raw.dtype) << ", model " << dst.shape << " "
           << dtype_name(dst.dtype);
        r.mismatched.push_back(os.str());
        continue;
      }
      plan.emplace_back(it->second, &raw);
      r.loaded.push_back(name);
    }
    for (const auto& e : mine)
      if (!seen.count(e.name) && !detail::starts_with_any(e.name, opt.allow_missing)) r.missing.push_back(opt.prefix + e.name);
    PACKD_CHECK(!opt.strict || r.ok(), "load_state_dict: ", source, " does not match the model", r.describe(),
                "\n  (pass LoadOptions{.strict = false} to load the matching keys only)");
    for (const auto& [dst, raw] : plan) {
      const std::string what = "'" + opt.prefix + "' key in " + source;
      if ((*dst)->dtype == DType::int64)
        detail::copy_raw_into<int64_t>(*dst, *raw, what);
      else
        detail::copy_raw_into<T>(*dst, *raw, what);
    }
    return r;
  }

  // Host copies of the state, for writing with io::write_safetensors.
  WeightMap state_dict_raw(const std::string& prefix = "") const {
    WeightMap out;
    for (const auto& e : state_dict()) {
      if (e.tensor->dtype == DType::int64)
        out[prefix + e.name] = io::raw_tensor(Tensor<int64_t>(e.tensor));
      else
        out[prefix + e.name] = io::raw_tensor(Tensor<T>(e.tensor).detach());
    }
    return out;
  }

 protected:
  // f(prefix, module) for this module and every module below it, parents first.
  template <class F>
  void visit(const std::string& prefix, F&& f) const {
    f(prefix, *this);
    for (const auto& [n, c] : children_) c->visit(prefix + n + ".", f);
  }

 private:
  struct Buffer {
    std::string name;
    std::shared_ptr<TensorImpl> tensor;
  };

  void check_new_name(const std::string& name) const {
    PACKD_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module: invalid name '", name,
                "' (must be non-empty and contain no '.')");
    for (const auto& [n, p] : params_) PACKD_CHECK(n != name, "Module: '", name, "' is already registered");
    for (const auto& b : buffers_) PACKD_CHECK(b.name != name, "Module: '", name, "' is already registered");
    for (const auto& [n, c] : children_) PACKD_CHECK(n != name, "Module: '", name, "' is already registered");
  }

  static void move_impl(const std::shared_ptr<TensorImpl>& impl, Device device) {
    if (impl->storage->device() == device) return;
    auto moved = [&]<Scalar U>() {
      Tensor<U> src(impl);
      NoGradGuard no_grad;
      Tensor<U> dst = src.detach().to(device);
      detail::set_data(*impl, dst.impl());
    };
    switch (impl->dtype) {
      case DType::float32: moved.template operator()<float>(); break;
      case DType::float64: moved.template operator()<double>(); break;
      case DType::int64: moved.template operator()<int64_t>(); break;
      default: PACKD_CHECK(false, "Module::to: unsupported dtype ", dtype_name(impl->dtype));
    }
    impl->storage->bump_version();
  }

  bool training_ = true;
  std::vector<std::pair<std::string, Tensor<T>>> params_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// A module with one input and one output, chainable in Sequential.
template <FloatScalar T>
class UnaryModule : public Module<T> {
 public:
  virtual Tensor<T> forward(const Tensor<T>& x) = 0;
  Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }
};

}  // namespace packd::nn
