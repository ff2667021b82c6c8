// Comparisons for the data-parallel CLI test (tests/dist/dist_cli.cmake):
//   dist_compare checkpoints A.safetensors B.safetensors TOL   the largest group-relative
//                difference (tests/support/checkpoint_diff.hpp) is at most TOL
//   dist_compare reports A/report.json B/report.json           equal but for the "seconds" fields
// Exit status 0 when they agree, 1 (with the first difference) when not.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "checkpoint_diff.hpp"

namespace {
void drop_seconds(nlohmann::json& j) {
  if (j.is_object()) {
    j.erase("seconds");
    for (auto& [k, v] : j.items()) drop_seconds(v);
  } else if (j.is_array()) {
    for (auto& v : j) drop_seconds(v);
  }
}
nlohmann::json read_json(const char* path) {
  std::ifstream in(path);
  PACKD_CHECK(in.good(), path, ": cannot open");
  return nlohmann::json::parse(in);
}
}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "checkpoints" && argc == 5) {
      const double d = packd::testing::checkpoint_distance(argv[2], argv[3]), tol = std::strtod(argv[4], nullptr);
      std::printf("largest group-relative difference %.3g (tolerance %.3g)\n", d, tol);
      return d <= tol && d > 0 ? 0 : 1;  // 0 would mean the two runs were one
    }
    if (mode == "reports" && argc == 4) {
      nlohmann::json a = read_json(argv[2]), b = read_json(argv[3]);
      drop_seconds(a);
      drop_seconds(b);
      if (a == b) {
        std::printf("reports agree\n");
        return 0;
      }
      const nlohmann::json patch = nlohmann::json::diff(a, b);
      std::printf("reports differ:\n%s\n", patch.dump(2).substr(0, 4000).c_str());
      return 1;
    }
    std::fprintf(stderr, "usage: dist_compare checkpoints A B TOL | dist_compare reports A B\n");
    return 2;
  } catch (const packd::Error& e) {
    std::fprintf(stderr, "dist_compare: %s\n", e.what());
    return 1;
  }
}
