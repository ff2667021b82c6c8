#pragma once
// optim::LrSchedule: the learning rate as a closed-form function of the epoch (or step) t >= 0;
// a trainer calls opt.set_lr(schedule.lr_at(t)) before the updates of t.
//
//   constant(lr)                      lr
//   cosine(lr0, T_max, eta_min)       torch.optim.lr_scheduler.CosineAnnealingLR:
//                                     eta_min + (lr0 - eta_min) * (1 + cos(pi * t / T_max)) / 2
//                                     (its closed form; periodic with period 2 T_max, as PyTorch's)
//   regad_cosine(lr0, E)              RegAD's adjust_learning_rate, set at the start of epoch
//                                     e = 1..E: lr0 * 0.5 * (1 + cos(pi * e / E)), so epoch E
//                                     trains with lr 0
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>

#include "packd/core/error.hpp"
#include "packd/optim/optimizer.hpp"

namespace packd::optim {

struct LrSchedule {
  enum class Kind { constant, cosine, regad_cosine };
  Kind kind = Kind::constant;
  double base_lr = 1e-3;
  int64_t t_max = 1;   // cosine: T_max; regad_cosine: the number of epochs E
  double eta_min = 0;  // cosine only

  static LrSchedule constant(double lr) {
    LrSchedule s{Kind::constant, lr, 1, 0};
    s.check();
    return s;
  }
  static LrSchedule cosine(double base_lr, int64_t t_max, double eta_min = 0) {
    LrSchedule s{Kind::cosine, base_lr, t_max, eta_min};
    s.check();
    return s;
  }
  static LrSchedule regad_cosine(double base_lr, int64_t epochs) {
    LrSchedule s{Kind::regad_cosine, base_lr, epochs, 0};
    s.check();
    return s;
  }

  void check() const {
    PACKD_CHECK(std::isfinite(base_lr) && base_lr >= 0, "LrSchedule: invalid base learning rate ", base_lr);
    PACKD_CHECK(t_max > 0, "LrSchedule: T_max (or the number of epochs) must be positive, got ", t_max);
    PACKD_CHECK(std::isfinite(eta_min) && eta_min >= 0, "LrSchedule: invalid eta_min ", eta_min);
  }

  // The lr of epoch (or step) t; the expressions are PyTorch's and RegAD's, in their order.
  double lr_at(int64_t t) const {
    PACKD_CHECK(t >= 0, "LrSchedule::lr_at: negative epoch/step ", t);
    const double pi = std::numbers::pi;
    switch (kind) {
      case Kind::constant: return base_lr;
      case Kind::cosine: return eta_min + (base_lr - eta_min) * (1 + std::cos(pi * double(t) / double(t_max))) / 2;
      case Kind::regad_cosine: return base_lr * 0.5 * (1.0 + std::cos(pi * double(t) / double(t_max)));
    }
    return base_lr;
  }

  nlohmann::json to_json() const {
    const char* names[] = {"constant", "cosine", "regad_cosine"};
    return {{"type", "lr_schedule"}, {"kind", names[int(kind)]}, {"base_lr", base_lr}, {"t_max", t_max}, {"eta_min", eta_min}};
  }
  static LrSchedule from_json(const nlohmann::json& j) {
    LrSchedule s;
    detail::read_json_object(j, "LrSchedule", "lr_schedule", [&](const std::string& key, const nlohmann::json& v) {
      if (key == "kind") {
        const std::string k = v.get<std::string>();
        if (k == "constant") s.kind = Kind::constant;
        else if (k == "cosine") s.kind = Kind::cosine;
        else if (k == "regad_cosine") s.kind = Kind::regad_cosine;
        else PACKD_CHECK(false, "LrSchedule: unknown kind '", k, "' (constant, cosine, regad_cosine)");
      } else if (key == "base_lr") s.base_lr = v.get<double>();
      else if (key == "t_max") s.t_max = v.get<int64_t>();
      else if (key == "eta_min") s.eta_min = v.get<double>();
      else PACKD_CHECK(false, "LrSchedule: unknown key '", key, "'");
    });
    s.check();
    return s;
  }
};

}  // namespace packd::optim
