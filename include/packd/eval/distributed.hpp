#pragma once
// The few-shot protocol spread over the ranks of a dist::Communicator (`mpirun -np N packd eval`):
// the (category, k, run) tasks are split between ranks, each rank evaluates its own, and the runs
// are gathered so that every rank holds the report one process would have written (same supports,
// same maps, same numbers: a run's computation does not depend on which process does it, given the
// same thread count).
//
// Assignment: run 0 of every (category, k) stays on rank 0, which draws the overlays from run 0 and
// writes the report; every other run goes to the rank with the least work so far (a run's work is
// taken as its category's number of test images). Every rank computes the same table.
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "packd/dist/communicator.hpp"
#include "packd/eval/protocol.hpp"

namespace packd::eval {

// owner[c][ki * runs + r]: the rank evaluating run r of shots[ki] on category c.
inline std::vector<std::vector<int>> assign_runs(const std::vector<int64_t>& test_sizes, std::size_t n_shots, int64_t runs,
                                                 int ranks) {
  PACKD_CHECK(ranks >= 1, "assign_runs: ", ranks, " ranks");
  std::vector<std::vector<int>> owner(test_sizes.size(), std::vector<int>(n_shots * std::size_t(runs), 0));
  std::vector<int64_t> load(std::size_t(ranks), 0);
  for (std::size_t c = 0; c < test_sizes.size(); ++c) load[0] += test_sizes[c] * int64_t(n_shots);  // the run 0s
  for (std::size_t c = 0; c < test_sizes.size(); ++c)
    for (std::size_t ki = 0; ki < n_shots; ++ki)
      for (int64_t r = 1; r < runs; ++r) {
        int best = 0;
        for (int q = 1; q < ranks; ++q)
          if (load[std::size_t(q)] < load[std::size_t(best)]) best = q;
        owner[c][ki * std::size_t(runs) + std::size_t(r)] = best;
        load[std::size_t(best)] += test_sizes[c];
      }
  return owner;
}

namespace detail {
inline nlohmann::json metric_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }
inline double metric_from(const nlohmann::json& j) { return j.is_null() ? RunMetrics::nan : j.get<double>(); }
}  // namespace detail

// A run as JSON and back, exactly (doubles are written with round-trip precision; NaN as null).
inline nlohmann::json run_to_json(int64_t k, const RunResult& run) {
  nlohmann::json m = nlohmann::json::object();
  for (const auto& [name, field] : metric_fields()) m[name] = detail::metric_or_null(run.metrics.*field);
  return {{"k", k},     {"run", run.run}, {"seed", std::to_string(run.seed)}, {"supports", run.supports},
          {"metrics", m}, {"seconds", run.seconds}, {"notes", run.notes}};
}
inline RunResult run_from_json(const nlohmann::json& j) {
  RunResult run;
  run.run = j.at("run").get<int64_t>();
  run.seed = std::stoull(j.at("seed").get<std::string>());
  run.supports = j.at("supports").get<std::vector<std::string>>();
  for (const auto& [name, field] : metric_fields()) run.metrics.*field = detail::metric_from(j.at("metrics").at(name));
  run.seconds = j.at("seconds").get<double>();
  run.notes = j.at("notes").get<std::vector<std::string>>();
  return run;
}

// Every rank's runs of `res` (those `owner` gives it) to every rank; then the per-k summaries.
// Collective: every rank calls it for the same category in the same order.
inline void gather_runs(dist::Communicator& comm, CategoryResult& res, const std::vector<int>& owner, int64_t runs) {
  if (comm.size() > 1) {
    nlohmann::json mine = nlohmann::json::array();
    for (std::size_t ki = 0; ki < res.shots.size(); ++ki)
      for (const RunResult& run : res.shots[ki].runs)
        if (owner[ki * std::size_t(runs) + std::size_t(run.run)] == comm.rank()) mine.push_back(run_to_json(res.shots[ki].k, run));
    for (const std::string& text : dist::all_gather_strings(comm, mine.dump())) {
      for (const auto& j : nlohmann::json::parse(text)) {
        const int64_t k = j.at("k").get<int64_t>();
        for (ShotResult& shot : res.shots)
          if (shot.k == k) {
            RunResult run = run_from_json(j);
            PACKD_CHECK(run.run >= 0 && run.run < int64_t(shot.runs.size()), "gather_runs: run ", run.run, " out of range");
            shot.runs[std::size_t(run.run)] = std::move(run);
          }
      }
    }
  }
  for (ShotResult& shot : res.shots) summarize(shot);
}

}  // namespace packd::eval
