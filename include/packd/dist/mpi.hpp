#pragma once
// The MPI communicator (Open MPI; any MPI-3 implementation should do): CPU memory, ranks started
// by `mpirun -np N`. Include this header only in programs that link packd::mpi (CMake: PACKD_MPI,
// which defines PACKD_WITH_MPI=1 and links MPI::MPI_CXX).
//
// Timeouts: a blocking collective whose peer died or took another path would wait forever. A
// watchdog thread arms a deadline around every collective; when it passes, the rank prints which
// collective it was waiting in and ends the process with exit code 3, and mpirun then terminates
// the other ranks ("a process exited with a non-zero status"). The collectives themselves stay the
// implementation's tuned blocking ones (no polling loop eating the CPU the other ranks compute on).
// The limit: MpiOptions::timeout_s, or PACKD_DIST_TIMEOUT (seconds), default 1800 (as PyTorch's).
//
// Threading: only the thread that created the communicator calls MPI (MPI_THREAD_FUNNELED); the
// watchdog calls no MPI function.
#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "packd/core/storage.hpp"
#include "packd/dist/communicator.hpp"

namespace packd::dist {

struct MpiOptions {
  double timeout_s = 0;  // <= 0: PACKD_DIST_TIMEOUT or 1800
};

// Whether this process was started by an MPI launcher (mpirun, srun with PMI/PMIx).
inline bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const MpiOptions& opt = {}) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_init_ = true;
    }
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    // Errors come back as codes (turned into packd::Error) rather than aborting inside MPI.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    timeout_s_ = collective_timeout_s(opt.timeout_s);
    watchdog_ = std::thread([this] { watch(); });
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    watchdog_.join();
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_init_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }
  double timeout_s() const { return timeout_s_; }
  MPI_Comm handle() const { return comm_; }

  // CUDA memory goes through a host copy (copy_bytes): packd does not assume a CUDA-aware MPI. The
  // NCCL communicator (nccl.hpp) moves GPU memory directly and is what `packd train --device cuda`
  // uses under mpirun when packd is built with NCCL.
  void all_reduce(void* data, std::size_t count, DType dtype, ReduceOp op, Device device) override {
    if (device.is_cuda()) {
      std::vector<std::byte> h = to_host(data, count * std::size_t(dtype_size(dtype)), device);
      all_reduce(h.data(), count, dtype, op, Device::cpu());
      return from_host(data, h, device);
    }
    Armed a(*this, "all_reduce");
    for (std::size_t done = 0; done < count;) {  // MPI counts are int
      const std::size_t n = std::min(count - done, kMaxCount);
      void* p = static_cast<char*>(data) + done * std::size_t(dtype_size(dtype));
      check(MPI_Allreduce(MPI_IN_PLACE, p, int(n), mpi_type(dtype), MPI_SUM, comm_), "MPI_Allreduce");
      done += n;
    }
    if (op == ReduceOp::avg) scale(data, count, dtype, 1.0 / double(size_));
  }
  void broadcast(void* data, std::size_t bytes, int root, Device device) override {
    if (device.is_cuda()) {
      std::vector<std::byte> h = to_host(data, bytes, device);
      broadcast(h.data(), bytes, root, Device::cpu());
      return from_host(data, h, device);
    }
    PACKD_CHECK(root >= 0 && root < size_, "broadcast: root rank ", root, " is not in [0, ", size_, ")");
    Armed a(*this, "broadcast");
    for (std::size_t done = 0; done < bytes;) {
      const std::size_t n = std::min(bytes - done, kMaxCount);
      check(MPI_Bcast(static_cast<char*>(data) + done, int(n), MPI_BYTE, root, comm_), "MPI_Bcast");
      done += n;
    }
  }
  void all_gather(const void* send, void* recv, std::size_t bytes, Device device) override {
    if (device.is_cuda()) {
      std::vector<std::byte> hs = to_host(send, bytes, device), hr(bytes * std::size_t(size_));
      all_gather(hs.data(), hr.data(), bytes, Device::cpu());
      return from_host(recv, hr, device);
    }
    PACKD_CHECK(bytes <= kMaxCount, "all_gather: ", bytes, " bytes per rank is more than one MPI call moves");
    Armed a(*this, "all_gather");
    check(MPI_Allgather(send, int(bytes), MPI_BYTE, recv, int(bytes), MPI_BYTE, comm_), "MPI_Allgather");
  }
  void reduce_scatter_sum(const void* send, void* recv, std::size_t count, DType dtype, Device device) override {
    if (device.is_cuda()) {
      const std::size_t bytes = count * std::size_t(dtype_size(dtype));
      std::vector<std::byte> hs = to_host(send, bytes * std::size_t(size_), device), hr(bytes);
      reduce_scatter_sum(hs.data(), hr.data(), count, dtype, Device::cpu());
      return from_host(recv, hr, device);
    }
    PACKD_CHECK(count <= kMaxCount, "reduce_scatter_sum: ", count, " elements per rank is more than one MPI call moves");
    Armed a(*this, "reduce_scatter");
    check(MPI_Reduce_scatter_block(send, recv, int(count), mpi_type(dtype), MPI_SUM, comm_), "MPI_Reduce_scatter_block");
  }
  void barrier() override {
    Armed a(*this, "barrier");
    check(MPI_Barrier(comm_), "MPI_Barrier");
  }
  [[noreturn]] void abort(const std::string& why, int code) override {
    std::fprintf(stderr, "%s\n", why.c_str());
    std::fflush(stderr);
    MPI_Abort(comm_, code);
    std::_Exit(code);
  }

 private:
  static constexpr std::size_t kMaxCount = std::size_t(1) << 30;

  // Arms the watchdog for the lifetime of one collective.
  struct Armed {
    Armed(MpiCommunicator& c, const char* what) : c_(c) { c_.arm(what); }
    ~Armed() { c_.disarm(); }
    MpiCommunicator& c_;
  };
  void arm(const char* what) {
    std::lock_guard<std::mutex> lock(mu_);
    what_ = what;
    ++serial_;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                       std::chrono::duration<double>(timeout_s_));
    armed_ = true;
    cv_.notify_all();
  }
  void disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
  }
  void watch() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (!armed_) {
        cv_.wait(lock);
        continue;
      }
      const uint64_t serial = serial_;
      if (cv_.wait_until(lock, deadline_, [&] { return stop_ || !armed_ || serial_ != serial; })) continue;
      std::fprintf(stderr,
                   "packd: rank %d of %d: %s (collective #%llu) did not complete within %g s: another rank died, hangs, "
                   "or ran a different sequence of collectives. Aborting the job (PACKD_DIST_TIMEOUT sets the limit).\n",
                   rank_, size_, what_, (unsigned long long)serial, timeout_s_);
      std::fflush(stderr);
      std::_Exit(3);
    }
  }

  void check(int rc, const char* call) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    PACKD_CHECK(false, "rank ", rank_, " of ", size_, ": ", call, " failed: ", std::string(text, std::size_t(len)));
  }
  static std::vector<std::byte> to_host(const void* p, std::size_t bytes, Device device) {
    std::vector<std::byte> h(bytes);
    copy_bytes(h.data(), Device::cpu(), p, device, bytes);
    return h;
  }
  static void from_host(void* p, const std::vector<std::byte>& h, Device device) {
    copy_bytes(p, device, h.data(), Device::cpu(), h.size());
  }
  static MPI_Datatype mpi_type(DType d) {
    switch (d) {
      case DType::float32: return MPI_FLOAT;
      case DType::float64: return MPI_DOUBLE;
      case DType::int64: return MPI_INT64_T;
      default: PACKD_CHECK(false, "MPI communicator: no reduction for dtype ", dtype_name(d));
    }
    return MPI_BYTE;
  }
  static void scale(void* data, std::size_t count, DType d, double s) {
    if (d == DType::float32) {
      float* p = static_cast<float*>(data);
      for (std::size_t i = 0; i < count; ++i) p[i] = float(double(p[i]) * s);
    } else if (d == DType::float64) {
      double* p = static_cast<double*>(data);
      for (std::size_t i = 0; i < count; ++i) p[i] *= s;
    } else {
      PACKD_CHECK(false, "all_reduce: the mean of ", dtype_name(d), " values is not defined; use the sum");
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool owns_init_ = false;
  double timeout_s_ = 1800;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread watchdog_;
  bool stop_ = false, armed_ = false;
  const char* what_ = "";
  uint64_t serial_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
};

}  // namespace packd::dist
