#pragma once
// The packd program's subcommands: each registers its options on the CLI11 app and returns the
// function that runs it. One file per command (features.cpp, ...), so each compiles on its own.
#include <CLI/CLI.hpp>

#include <functional>

namespace packd_cli {

using Run = std::function<int()>;

Run add_features(CLI::App& app);
Run add_eval(CLI::App& app);
Run add_infer(CLI::App& app);
Run add_train(CLI::App& app);
Run add_demo(CLI::App& app);

}  // namespace packd_cli
