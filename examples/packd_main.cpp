// The packd program. Subcommands arrive with the issues that build them (demo, train, eval,
// infer, features); until then each says so and exits with status 2.
#include <packd/config.hpp>

#include <cstdio>
#include <cstring>
#include <string>

namespace {
void usage() {
  std::printf(
      "packd %d.%d.%d: few-shot anomaly detection by Prototype-Aware Contrastive Knowledge Distillation\n\n"
      "usage: packd <command> [options]\n\n"
      "commands:\n"
      "  demo       run PACKD end to end on an embedded example (not yet available)\n"
      "  train      meta-train PACKD (not yet available)\n"
      "  eval       evaluate the few-shot protocol (not yet available)\n"
      "  infer      score images against k support images (not yet available)\n"
      "  features   dump teacher/student features (not yet available)\n"
      "  version    print the version and build configuration\n",
      PACKD_VERSION_MAJOR, PACKD_VERSION_MINOR, PACKD_VERSION_PATCH);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "version" || cmd == "--version") {
    std::printf("packd %d.%d.%d (CUDA backend: %s)\n", PACKD_VERSION_MAJOR, PACKD_VERSION_MINOR, PACKD_VERSION_PATCH,
                PACKD_WITH_CUDA ? "built" : "not built");
    return 0;
  }
  for (const char* c : {"demo", "train", "eval", "infer", "features"}) {
    if (cmd == c) {
      std::fprintf(stderr, "packd %s: not yet available in this version (the core library is; see README.md)\n", c);
      return 2;
    }
  }
  std::fprintf(stderr, "packd: unknown command '%s'\n\n", cmd.c_str());
  usage();
  return 2;
}
