#pragma once
// The NCCL communicator: all-reduce, broadcast, all-gather and reduce-scatter of CUDA tensors over
// NCCL (NVLink / PCIe / InfiniBand), as PyTorch's DDP and Horovod do. It is bootstrapped through a
// host communicator (normally dist::MpiCommunicator): rank 0 creates the NCCL unique id and
// broadcasts it over the host group. CPU memory and the barrier go through the host communicator.
//
// Declared here, defined in cuda/dist/nccl.cu (built into packd_cuda when CMake finds NCCL:
// PACKD_WITH_NCCL=1). No CUDA or NCCL header is included here.
#include <memory>

#include "packd/config.hpp"
#include "packd/dist/communicator.hpp"

#ifndef PACKD_WITH_NCCL
#define PACKD_WITH_NCCL 0
#endif

namespace packd::dist {

#if PACKD_WITH_NCCL
// One rank's NCCL communicator on CUDA device `device` (usually the node-local rank). Collectives
// run on the communicator's own stream and are waited for with a deadline of timeout_s
// (<= 0: PACKD_DIST_TIMEOUT or 1800 s); past it the rank aborts NCCL and exits with code 3.
std::shared_ptr<Communicator> make_nccl_communicator(std::shared_ptr<Communicator> host, int device,
                                                     double timeout_s = 0);
#endif

}  // namespace packd::dist
