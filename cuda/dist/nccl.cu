// dist::make_nccl_communicator (include/packd/dist/nccl.hpp): NCCL collectives on CUDA memory.
//
// The collectives run on the communicator's own non-blocking stream, ordered against packd's
// stream (cuda::current_stream()) by events both ways: the NCCL stream waits for everything packd
// queued before the call (the gradients a backward just wrote), and packd's stream waits for the
// collective, so kernels queued afterwards read its result. The host then waits too (polling, to
// detect a dead peer), so the buffers are complete when the call returns.
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "packd/cuda/common.cuh"
#include "packd/dist/nccl.hpp"

#define PACKD_NCCL_CHECK(call)                                                                            \
  do {                                                                                                    \
    const ncclResult_t packd_nccl_status_ = (call);                                                       \
    if (packd_nccl_status_ != ncclSuccess)                                                                \
      throw ::packd::CudaError(::packd::detail::concat(#call, " failed at " __FILE__ ":", __LINE__, ": ", \
                                                       ncclGetErrorString(packd_nccl_status_)));          \
  } while (0)

namespace packd::dist {

namespace {

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::float32: return ncclFloat32;
    case DType::float64: return ncclFloat64;
    case DType::int64: return ncclInt64;
    default: PACKD_CHECK(false, "NCCL communicator: no reduction for dtype ", dtype_name(d));
  }
  return ncclUint8;
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<Communicator> host, int device, double timeout_s)
      : host_(std::move(host)), device_(device), timeout_s_(collective_timeout_s(timeout_s)) {
    PACKD_CHECK(host_ != nullptr, "make_nccl_communicator: no host communicator to bootstrap over");
    PACKD_CHECK(device_ >= 0 && device_ < cuda::device_count(), "make_nccl_communicator: rank ", host_->rank(),
                " asked for CUDA device ", device_, " but sees ", cuda::device_count());
    PACKD_CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id{};
    if (host_->rank() == 0) PACKD_NCCL_CHECK(ncclGetUniqueId(&id));
    host_->broadcast(&id, sizeof id, 0, Device::cpu());
    PACKD_NCCL_CHECK(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()));
    PACKD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    PACKD_CUDA_CHECK(cudaEventCreateWithFlags(&packd_done_, cudaEventDisableTiming));
    PACKD_CUDA_CHECK(cudaEventCreateWithFlags(&nccl_done_, cudaEventDisableTiming));
  }
  ~NcclCommunicator() override {
    if (packd_done_) cudaEventDestroy(packd_done_);
    if (nccl_done_) cudaEventDestroy(nccl_done_);
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  const char* backend() const override { return "nccl"; }

  void all_reduce(void* data, std::size_t count, DType dtype, ReduceOp op, Device device) override {
    if (device.is_cpu()) return host_->all_reduce(data, count, dtype, op, device);
    on_mine(device, "all_reduce");
    cuda::DeviceGuard guard(device_);
    after_packd();
    PACKD_NCCL_CHECK(ncclAllReduce(data, data, count, nccl_type(dtype), op == ReduceOp::avg ? ncclAvg : ncclSum, comm_, stream_));
    before_packd();
    wait("all_reduce");
  }
  void broadcast(void* data, std::size_t bytes, int root, Device device) override {
    if (device.is_cpu()) return host_->broadcast(data, bytes, root, device);
    on_mine(device, "broadcast");
    cuda::DeviceGuard guard(device_);
    after_packd();
    PACKD_NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_));
    before_packd();
    wait("broadcast");
  }
  void all_gather(const void* send, void* recv, std::size_t bytes, Device device) override {
    if (device.is_cpu()) return host_->all_gather(send, recv, bytes, device);
    on_mine(device, "all_gather");
    cuda::DeviceGuard guard(device_);
    after_packd();
    PACKD_NCCL_CHECK(ncclAllGather(send, recv, bytes, ncclUint8, comm_, stream_));
    before_packd();
    wait("all_gather");
  }
  void reduce_scatter_sum(const void* send, void* recv, std::size_t count, DType dtype, Device device) override {
    if (device.is_cpu()) return host_->reduce_scatter_sum(send, recv, count, dtype, device);
    on_mine(device, "reduce_scatter");
    cuda::DeviceGuard guard(device_);
    after_packd();
    PACKD_NCCL_CHECK(ncclReduceScatter(send, recv, count, nccl_type(dtype), ncclSum, comm_, stream_));
    before_packd();
    wait("reduce_scatter");
  }
  void barrier() override { host_->barrier(); }
  [[noreturn]] void abort(const std::string& why, int code) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    host_->abort(why, code);
    std::_Exit(code);  // not reached: the host communicator's abort ends the process
  }

 private:
  void on_mine(Device device, const char* what) const {
    PACKD_CHECK(device.is_cuda() && device.index == device_, "NCCL communicator of rank ", rank(), ": ", what,
                " on a tensor of another device (this rank's GPU is cuda:", device_, ")");
  }
  // The NCCL stream waits for the work packd queued so far (on this device's packd stream).
  void after_packd() {
    PACKD_CUDA_CHECK(cudaEventRecord(packd_done_, cuda::current_stream()));
    PACKD_CUDA_CHECK(cudaStreamWaitEvent(stream_, packd_done_, 0));
  }
  // packd's stream waits for the collective just queued on the NCCL stream.
  void before_packd() {
    PACKD_CUDA_CHECK(cudaEventRecord(nccl_done_, stream_));
    PACKD_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(), nccl_done_, 0));
  }
  // Waits for the stream, polling so that a peer that never joins ends the job instead of hanging.
  void wait(const char* what) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    for (;;) {
      const cudaError_t st = cudaStreamQuery(stream_);
      if (st == cudaSuccess) return;
      if (st != cudaErrorNotReady) PACKD_CUDA_CHECK(st);
      ncclResult_t async = ncclSuccess;
      PACKD_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
      PACKD_CHECK(async == ncclSuccess, "rank ", rank(), ": NCCL ", what, " failed: ", ncclGetErrorString(async));
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "packd: rank %d of %d: NCCL %s did not complete within %g s: another rank died or hangs. "
                     "Aborting the job (PACKD_DIST_TIMEOUT sets the limit).\n", rank(), size(), what, timeout_s_);
        std::fflush(stderr);
        ncclCommAbort(comm_);
        std::_Exit(3);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  std::shared_ptr<Communicator> host_;
  int device_ = 0;
  double timeout_s_ = 1800;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t packd_done_ = nullptr;  // recorded on packd's stream before a collective
  cudaEvent_t nccl_done_ = nullptr;   // recorded on the NCCL stream after it
};

}  // namespace

std::shared_ptr<Communicator> make_nccl_communicator(std::shared_ptr<Communicator> host, int device, double timeout_s) {
  return std::make_shared<NcclCommunicator>(std::move(host), device, timeout_s);
}

}  // namespace packd::dist
