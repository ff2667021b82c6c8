// The packd program's data-parallel group: MPI ranks when the program was started by mpirun (and
// built with MPI: PACKD_WITH_MPI), else this process alone.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "commands.hpp"
#include "packd/backend/cuda_api.hpp"
#include "packd/dist/nccl.hpp"
#if PACKD_WITH_MPI
#include "packd/dist/mpi.hpp"
#endif

namespace packd_cli {

namespace {
std::shared_ptr<packd::dist::Communicator>& slot() {
  static std::shared_ptr<packd::dist::Communicator> world;
  return world;
}
// The launcher's rank count, from the environment (1 when not started by an MPI launcher).
int launcher_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 1;
}
}  // namespace

std::shared_ptr<packd::dist::Communicator> world() {
  auto& w = slot();
  if (w) return w;
#if PACKD_WITH_MPI
  if (packd::dist::launched_by_mpi()) w = std::make_shared<packd::dist::MpiCommunicator>();
#else
  PACKD_CHECK(launcher_size() <= 1, "started by mpirun with ", launcher_size(),
              " ranks, but this packd was built without MPI (configure with -DPACKD_MPI=ON; Debian: libopenmpi-dev)");
#endif
  if (!w) w = packd::dist::single_process();
  return w;
}

packd::dist::Communicator* world_if_created() { return slot().get(); }

packd::Device rank_device(packd::Device requested, const std::string& value) {
  if (!requested.is_cuda() || value != "cuda" || launcher_size() <= 1) return requested;
  int local = -1;
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* s = std::getenv(v)) {
      local = std::atoi(s);
      break;
    }
  if (local < 0) local = world()->rank();  // one node assumed
  return packd::Device::cuda(local % std::max(1, packd::cuda::device_count()));
}

std::shared_ptr<packd::dist::Communicator> world_for(packd::Device device) {
  std::shared_ptr<packd::dist::Communicator> w = world();
#if PACKD_WITH_NCCL
  if (device.is_cuda() && w->size() > 1 && std::string(w->backend()) != "nccl") {
    w = packd::dist::make_nccl_communicator(w, device.index);
    slot() = w;  // the NCCL group holds the MPI one; shutdown_world ends both
  }
#else
  (void)device;
#endif
  return w;
}

void single_rank_only(const char* command) {
  PACKD_CHECK(launcher_size() <= 1, "packd ", command, " runs in one process; start it without mpirun (", launcher_size(),
              " ranks were started). Data-parallel commands: train, eval");
}

void shutdown_world() { slot().reset(); }

}  // namespace packd_cli
