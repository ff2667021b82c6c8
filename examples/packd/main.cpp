// The packd program: subcommands over the packd library (one file per subcommand).
#include <packd/config.hpp>
#include <packd/core/error.hpp>
#include <packd/dist/nccl.hpp>

#include <cstdio>
#include <map>
#include <string>

#ifndef PACKD_WITH_MPI
#define PACKD_WITH_MPI 0
#endif

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"packd: few-shot anomaly detection by Prototype-Aware Contrastive Knowledge Distillation"};
  app.require_subcommand(1);
  std::map<CLI::App*, packd_cli::Run> runs;
  auto add = [&](CLI::App* sub, packd_cli::Run run) { runs[sub] = std::move(run); };

  CLI::App* version = app.add_subcommand("version", "print the version and build configuration");
  add(version, [] {
    std::printf("packd %d.%d.%d (CUDA backend: %s; NCCL: %s; MPI: %s)\n", PACKD_VERSION_MAJOR, PACKD_VERSION_MINOR,
                PACKD_VERSION_PATCH, PACKD_WITH_CUDA ? "built" : "not built", PACKD_WITH_NCCL ? "built" : "not built",
                PACKD_WITH_MPI ? "built" : "not built");
    return 0;
  });
  CLI::App* features = app.add_subcommand("features", "write teacher (and student) features of an image or tensor");
  add(features, packd_cli::add_features(*features));
  CLI::App* train = app.add_subcommand("train", "meta-train PACKD on the training categories of a data set");
  add(train, packd_cli::add_train(*train));
  CLI::App* eval = app.add_subcommand("eval", "few-shot evaluation of a trained run: k supports, runs, metrics, reports");
  add(eval, packd_cli::add_eval(*eval));
  CLI::App* infer = app.add_subcommand("infer", "anomaly maps and scores of your own images, given a few normal ones");
  add(infer, packd_cli::add_infer(*infer));
  CLI::App* demo = app.add_subcommand("demo", "PACKD end to end on a built-in synthetic data set (no downloads)");
  add(demo, packd_cli::add_demo(*demo));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, run] : runs) {
    if (!sub->parsed()) continue;
    try {
      const int rc = run();
      packd_cli::shutdown_world();
      return rc;
    } catch (const packd::Error& e) {
      packd::dist::Communicator* w = packd_cli::world_if_created();
      if (w && w->size() > 1)  // the other ranks would wait for this one until the timeout
        w->abort("packd " + sub->get_name() + ": rank " + std::to_string(w->rank()) + " of " + std::to_string(w->size()) +
                     ": error: " + e.what(), 1);
      std::fprintf(stderr, "packd %s: error: %s\n", sub->get_name().c_str(), e.what());
      return 1;
    }
  }
  return 2;
}
