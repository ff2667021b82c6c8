#pragma once
// Optimisers with torch.optim 1.13's semantics (Adam, SGD) and learning-rate schedules.
#include <memory>
#include <string>

#include "packd/optim/adam.hpp"
#include "packd/optim/optimizer.hpp"
#include "packd/optim/schedule.hpp"
#include "packd/optim/sgd.hpp"

namespace packd::optim {

// The optimiser that hyperparameters() described ({"type": "adam" | "sgd", ...}), e.g. to resume
// from a checkpoint: make_optimizer(params, hyper) then load_state_dict(tensors, prefix).
template <FloatScalar T>
std::unique_ptr<Optimizer<T>> make_optimizer(NamedParameters<T> params, const nlohmann::json& hyperparameters) {
  const std::string type =
      hyperparameters.is_object() && hyperparameters.contains("type") && hyperparameters["type"].is_string()
          ? hyperparameters["type"].get<std::string>()
          : "";
  if (type == "adam") return std::make_unique<Adam<T>>(std::move(params), AdamOptions::from_json(hyperparameters));
  if (type == "sgd") return std::make_unique<SGD<T>>(std::move(params), SgdOptions::from_json(hyperparameters));
  PACKD_CHECK(false, "make_optimizer: hyper-parameters of an unknown optimiser (\"type\" must be \"adam\" or \"sgd\"): ",
              hyperparameters.dump());
  return nullptr;
}

}  // namespace packd::optim
