#pragma once
// PackdConfig: every decision of packd-method.md (D1-D17) as a switch, with the paper's values
// and this project's defaults. Settable by name ("integrate=decoder") from the command line and
// recorded as JSON in checkpoints, so an ablation of the paper's Table 3 is a flag.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "packd/core/error.hpp"

namespace packd::models {

struct PackdConfig {
  // D1: where prototypes guide the decoder: "all" (both decoder inputs + the refine block at the
  // finest stage), "decoder" (the two decoder inputs), "none" (plain RD: the paper's baseline).
  std::string integrate = "all";
  std::string proto_bn = "off";          // D2: "on" puts a BN after each prototype conv
  std::string proto_pool = "per_view";   // D3: "per_view" (L per support view) or "joint" (L over all views)
  std::string orth = "frobenius";        // D4: ||P^ P^T - I||_F^2 / L^2, or "offdiag_abs"
  std::string prob_map = "mean";         // D5: "mean" or "sum" of the similarities
  std::string guide = "hard";            // D6: "hard" (argmax prototype) or "soft" (softmax / tau)
  std::string proj = "head";             // D7: projection heads g_i, or "none"
  std::string corr_dot = "frobenius";    // D8: <A, B>_F / N^2, or "cosine" of the flattened matrices
  int64_t negatives = 0;                 // D9: 0 = every other-category query of the batch, else at most N
  std::string nce_positive_in_denominator = "off";  // D16
  std::string aug = "rot90";             // D12: "rot90" (4 views per support), "regad" (22), "none"
  int64_t prototypes = 20;               // L, per stage (paper)
  double tau = 0.05;                     // paper
  double lambda1 = 0.5, lambda2 = 0.5;   // Eq. 7 (paper)

  int64_t views_per_support() const { return aug == "rot90" ? 4 : aug == "regad" ? 22 : 1; }
  bool integrates() const { return integrate != "none"; }

  // The allowed values of every string switch.
  static const std::map<std::string, std::vector<std::string>>& choices() {
    static const std::map<std::string, std::vector<std::string>> c{
        {"integrate", {"all", "decoder", "none"}},
        {"proto_bn", {"off", "on"}},
        {"proto_pool", {"per_view", "joint"}},
        {"orth", {"frobenius", "offdiag_abs"}},
        {"prob_map", {"mean", "sum"}},
        {"guide", {"hard", "soft"}},
        {"proj", {"head", "none"}},
        {"corr_dot", {"frobenius", "cosine"}},
        {"nce_positive_in_denominator", {"off", "on"}},
        {"aug", {"rot90", "regad", "none"}}};
    return c;
  }

  nlohmann::json to_json() const {
    return {{"integrate", integrate},   {"proto_bn", proto_bn},     {"proto_pool", proto_pool},
            {"orth", orth},             {"prob_map", prob_map},     {"guide", guide},
            {"proj", proj},             {"corr_dot", corr_dot},     {"negatives", negatives},
            {"nce_positive_in_denominator", nce_positive_in_denominator},
            {"aug", aug},               {"prototypes", prototypes}, {"tau", tau},
            {"lambda1", lambda1},       {"lambda2", lambda2}};
  }

  // Sets one switch from its text form; unknown names and values are errors that list the choices.
  void set(const std::string& name, const std::string& value) {
    auto it = choices().find(name);
    if (it != choices().end()) {
      bool ok = false;
      for (const auto& v : it->second) ok = ok || v == value;
      std::string list;
      for (const auto& v : it->second) list += (list.empty() ? "" : ", ") + v;
      PACKD_CHECK(ok, "switch ", name, "=", value, ": unknown value (choices: ", list, ")");
      string_field(name) = value;
      return;
    }
    auto number = [&](auto& field) {
      try {
        std::size_t used = 0;
        if constexpr (std::is_same_v<std::decay_t<decltype(field)>, int64_t>)
          field = std::stoll(value, &used);
        else
          field = std::stod(value, &used);
        PACKD_CHECK(used == value.size(), "");
      } catch (...) {
        PACKD_CHECK(false, "switch ", name, "=", value, ": not a number");
      }
    };
    if (name == "negatives") return number(negatives);
    if (name == "prototypes") return number(prototypes);
    if (name == "tau") return number(tau);
    if (name == "lambda1") return number(lambda1);
    if (name == "lambda2") return number(lambda2);
    std::string known;
    for (const auto& [n, v] : choices()) known += n + ", ";
    PACKD_CHECK(false, "unknown switch '", name, "' (known: ", known, "negatives, prototypes, tau, lambda1, lambda2)");
  }
  // "name=value"
  void set(const std::string& assignment) {
    const auto eq = assignment.find('=');
    PACKD_CHECK(eq != std::string::npos && eq > 0, "switch '", assignment, "': expected name=value");
    set(assignment.substr(0, eq), assignment.substr(eq + 1));
  }

  static PackdConfig from_json(const nlohmann::json& j) {
    PackdConfig c;
    PACKD_CHECK(j.is_object(), "PackdConfig: expected a JSON object");
    for (auto& [k, v] : j.items()) c.set(k, v.is_string() ? v.get<std::string>() : v.dump());
    c.validate();
    return c;
  }

  void validate() const {
    PACKD_CHECK(prototypes > 0, "switch prototypes=", prototypes, ": must be positive");
    PACKD_CHECK(tau > 0, "switch tau=", tau, ": must be positive");
    PACKD_CHECK(negatives >= 0, "switch negatives=", negatives, ": must be >= 0 (0 = all)");
    PACKD_CHECK(lambda1 >= 0 && lambda2 >= 0, "switches lambda1, lambda2 must be >= 0");
  }

 private:
  std::string& string_field(const std::string& name) {
    if (name == "integrate") return integrate;
    if (name == "proto_bn") return proto_bn;
    if (name == "proto_pool") return proto_pool;
    if (name == "orth") return orth;
    if (name == "prob_map") return prob_map;
    if (name == "guide") return guide;
    if (name == "proj") return proj;
    if (name == "corr_dot") return corr_dot;
    if (name == "nce_positive_in_denominator") return nce_positive_in_denominator;
    return aug;
  }
};

}  // namespace packd::models
