#pragma once
// The packd program's subcommands: each registers its options on the CLI11 app and returns the
// function that runs it. One file per command (features.cpp, ...), so each compiles on its own.
#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>

#include "packd/core/device.hpp"
#include "packd/dist/communicator.hpp"

namespace packd_cli {

using Run = std::function<int()>;

Run add_features(CLI::App& app);
Run add_eval(CLI::App& app);
Run add_infer(CLI::App& app);
Run add_train(CLI::App& app);
Run add_demo(CLI::App& app);

// The data-parallel group (dist.cpp): the MPI ranks when started by mpirun in an MPI build, else
// this process alone. Created on first use, ended by shutdown_world() (MPI_Finalize).
std::shared_ptr<packd::dist::Communicator> world();
packd::dist::Communicator* world_if_created();  // null until world() was called
// This rank's device: under mpirun, "--device cuda" (no index) is the node-local rank's GPU (local
// rank modulo the visible GPUs), one GPU per process; "cuda:N" and single processes keep theirs.
packd::Device rank_device(packd::Device requested, const std::string& value);
// The group for work on `device`: with CUDA tensors on several ranks, NCCL bootstrapped over the
// MPI ranks when packd is built with NCCL (GPU memory moves directly); otherwise world() (the MPI
// communicator stages GPU memory through the host).
std::shared_ptr<packd::dist::Communicator> world_for(packd::Device device);
void shutdown_world();
// Throws when started by mpirun with several ranks: `command` does not run distributed.
void single_rank_only(const char* command);

}  // namespace packd_cli
