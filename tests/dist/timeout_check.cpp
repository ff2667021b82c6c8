// Fault behaviour under `mpirun -np 2` (tests/CMakeLists: dist:timeout, dist:rank_dies):
//   timeout_check hang   rank 1 never joins the barrier: rank 0's watchdog must end the job after
//                        PACKD_DIST_TIMEOUT seconds, naming itself and the collective
//   timeout_check die    rank 1 exits at once with status 9: mpirun must end rank 0, which waits in
//                        the barrier, instead of letting it hang
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "packd/dist/mpi.hpp"

int main(int argc, char** argv) {
  const bool hang = argc > 1 && std::strcmp(argv[1], "hang") == 0;
  packd::dist::MpiCommunicator comm;
  if (comm.rank() == 1) {
    if (!hang) std::_Exit(9);
    std::this_thread::sleep_for(std::chrono::seconds(60));  // bounded: the job is killed long before
    return 0;
  }
  comm.barrier();
  std::printf("rank 0 passed the barrier: the fault went unnoticed\n");
  return 0;
}
