#pragma once
// packd::dist: the communicator that data-parallel training and evaluation talk through.
//
// A Communicator is one process's handle on a group of `size()` ranks. Its collectives are
// called by every rank in the same order with the same counts (as in MPI and NCCL); they block
// until this rank's part is done. Three implementations:
//   SingleProcess  (here)                   size 1, every collective a copy or nothing: what every
//                                           program gets by default, so nothing changes without MPI
//   MpiCommunicator (dist/mpi.hpp)          Open MPI, CPU memory; needs PACKD_WITH_MPI
//   NCCL (dist/nccl.hpp, cuda/nccl.cu)      GPU memory, bootstrapped over MPI; needs CUDA and NCCL
//
// The raw collectives take a pointer, a count and the Device the memory is on; the tensor-level
// helpers below (bucketed all-reduce, broadcast of a tensor list, gathering strings, checking that
// every rank has the same configuration) are written once on top of them.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "packd/core/device.hpp"
#include "packd/core/dtype.hpp"
#include "packd/core/error.hpp"
#include "packd/core/tensor.hpp"

namespace packd::dist {

enum class ReduceOp { sum, avg };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "single", "mpi", "nccl"

  // data (count elements of `dtype`, on `device`) becomes the element-wise sum (or mean) over ranks.
  virtual void all_reduce(void* data, std::size_t count, DType dtype, ReduceOp op, Device device) = 0;
  // root's `bytes` bytes at data are copied to every rank's data.
  virtual void broadcast(void* data, std::size_t bytes, int root, Device device) = 0;
  // recv (size() * bytes) gets every rank's `bytes` bytes of send, rank r's at offset r * bytes.
  virtual void all_gather(const void* send, void* recv, std::size_t bytes, Device device) = 0;
  // send holds size() blocks of `count` elements; recv (count) gets the sum over ranks of block rank().
  virtual void reduce_scatter_sum(const void* send, void* recv, std::size_t count, DType dtype, Device device) = 0;
  virtual void barrier() = 0;
  // Ends the whole job at once (every rank), after printing `why`: for an error on one rank that
  // the others would otherwise wait for until the timeout.
  [[noreturn]] virtual void abort(const std::string& why, int code) = 0;
};

// One process, no peers.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "single"; }
  void all_reduce(void*, std::size_t, DType, ReduceOp, Device) override {}
  void broadcast(void*, std::size_t, int root, Device) override {
    PACKD_CHECK(root == 0, "broadcast: root rank ", root, " does not exist in a single-process group");
  }
  void all_gather(const void* send, void* recv, std::size_t bytes, Device device) override {
    PACKD_CHECK(device.is_cpu(), "SingleProcess::all_gather: CPU memory only");
    if (send != recv && bytes) std::memmove(recv, send, bytes);
  }
  void reduce_scatter_sum(const void* send, void* recv, std::size_t count, DType dtype, Device device) override {
    PACKD_CHECK(device.is_cpu(), "SingleProcess::reduce_scatter_sum: CPU memory only");
    const std::size_t bytes = count * std::size_t(dtype_size(dtype));
    if (send != recv && bytes) std::memmove(recv, send, bytes);
  }
  void barrier() override {}
  [[noreturn]] void abort(const std::string& why, int code) override {
    std::fprintf(stderr, "%s\n", why.c_str());
    std::fflush(stderr);
    std::_Exit(code);
  }
};

inline std::shared_ptr<Communicator> single_process() { return std::make_shared<SingleProcess>(); }

// A collective's time limit in seconds: `requested` when positive, else PACKD_DIST_TIMEOUT, else
// 1800 (PyTorch's default). Shared by the MPI and NCCL communicators.
inline double collective_timeout_s(double requested) {
  if (requested > 0) return requested;
  const char* env = std::getenv("PACKD_DIST_TIMEOUT");
  if (!env) return 1800.0;
  const double t = std::strtod(env, nullptr);
  PACKD_CHECK(t > 0, "PACKD_DIST_TIMEOUT='", env, "' is not a positive number of seconds");
  return t;
}

// ---- tensor-level helpers -------------------------------------------------------------------------

namespace detail {
inline void* impl_data(const TensorImpl& t) {
  return static_cast<char*>(t.storage->data()) + t.offset * dtype_size(t.dtype);
}
inline std::size_t impl_bytes(const TensorImpl& t) { return std::size_t(t.shape.numel() * dtype_size(t.dtype)); }
inline bool impl_contiguous(const TensorImpl& t) { return t.strides == contiguous_strides(t.shape); }
}  // namespace detail

// Every tensor (contiguous, same device) gets rank root's values: one broadcast per bucket of at
// most `bucket_bytes` (small tensors, such as BN statistics, travel together).
inline void broadcast_tensors(Communicator& comm, const std::vector<std::shared_ptr<TensorImpl>>& tensors, int root = 0,
                              std::size_t bucket_bytes = std::size_t(32) << 20) {
  if (comm.size() == 1) return;
  std::vector<char> bucket;
  std::vector<const TensorImpl*> members;
  auto flush = [&] {
    if (members.empty()) return;
    std::size_t off = 0;
    if (comm.rank() == root) {
      for (const TensorImpl* t : members) {
        std::memcpy(bucket.data() + off, detail::impl_data(*t), detail::impl_bytes(*t));
        off += detail::impl_bytes(*t);
      }
    }
    comm.broadcast(bucket.data(), bucket.size(), root, Device::cpu());
    off = 0;
    for (const TensorImpl* t : members) {
      std::memcpy(detail::impl_data(*t), bucket.data() + off, detail::impl_bytes(*t));
      off += detail::impl_bytes(*t);
    }
    bucket.clear();
    members.clear();
  };
  for (const auto& t : tensors) {
    PACKD_CHECK(t && detail::impl_contiguous(*t), "broadcast_tensors: tensors must be defined and contiguous");
    const std::size_t n = detail::impl_bytes(*t);
    if (!t->storage->device().is_cpu()) {  // device memory goes directly (no host bucket)
      flush();
      comm.broadcast(detail::impl_data(*t), n, root, t->storage->device());
      continue;
    }
    if (!bucket.empty() && bucket.size() + n > bucket_bytes) flush();
    bucket.resize(bucket.size() + n);
    members.push_back(t.get());
  }
  flush();
}

// The gradient all-reduce of data-parallel training: every tensor (float, contiguous) becomes its
// mean over ranks. Small tensors are packed into buckets of at most `bucket_bytes`, so that a
// model's few hundred gradients cost a handful of collectives (as DDP's 25 MiB buckets), and the
// mean's scaling happens while unpacking; a tensor of half a bucket or more is reduced where it
// lies (no copy). CUDA tensors go one by one to the communicator (NCCL averages on the device).
template <FloatScalar T>
void all_reduce_mean(Communicator& comm, const std::vector<Tensor<T>>& tensors, std::size_t bucket_bytes = std::size_t(32) << 20) {
  if (comm.size() == 1) return;
  const std::size_t cap = std::max<std::size_t>(1, bucket_bytes / sizeof(T));
  const T scale = T(1.0 / double(comm.size()));
  std::vector<T> bucket;
  std::vector<const Tensor<T>*> members;
  auto flush = [&] {
    if (members.empty()) return;
    comm.all_reduce(bucket.data(), bucket.size(), dtype_of<T>, ReduceOp::sum, Device::cpu());
    const T* src = bucket.data();
    for (const Tensor<T>* t : members) {
      T* dst = t->data();
      for (int64_t i = 0; i < t->numel(); ++i) dst[i] = src[i] * scale;
      src += t->numel();
    }
    bucket.clear();
    members.clear();
  };
  for (const Tensor<T>& t : tensors) {
    PACKD_CHECK(t.defined() && t.is_contiguous(), "all_reduce_mean: tensors must be defined and contiguous, got shape ",
                t.defined() ? t.shape() : Shape{});
    const auto n = std::size_t(t.numel());
    if (!t.device().is_cpu() || 2 * n >= cap) {
      comm.all_reduce(t.data(), n, dtype_of<T>, ReduceOp::avg, t.device());
      continue;
    }
    if (!bucket.empty() && bucket.size() + n > cap) flush();
    bucket.insert(bucket.end(), t.data(), t.data() + t.numel());
    members.push_back(&t);
  }
  flush();
}

// Every rank's string, in rank order (lengths first, then the padded bytes).
inline std::vector<std::string> all_gather_strings(Communicator& comm, const std::string& mine) {
  if (comm.size() == 1) return {mine};
  const auto R = std::size_t(comm.size());
  uint64_t len = mine.size();
  std::vector<uint64_t> lens(R);
  comm.all_gather(&len, lens.data(), sizeof len, Device::cpu());
  const std::size_t width = std::size_t(*std::max_element(lens.begin(), lens.end()));
  std::string padded = mine;
  padded.resize(width, '\0');
  std::string all(width * R, '\0');
  if (width) comm.all_gather(padded.data(), all.data(), width, Device::cpu());
  std::vector<std::string> out(R);
  for (std::size_t r = 0; r < R; ++r) out[r] = all.substr(r * width, std::size_t(lens[r]));
  return out;
}

// Throws the same packd::Error on every rank when the ranks' `what` (a JSON object: switches, data
// roots, model sizes...) differ, naming the ranks and the keys that differ. Every rank must call it.
inline void check_same_everywhere(Communicator& comm, const std::string& what, const nlohmann::json& mine) {
  if (comm.size() == 1) return;
  const std::vector<std::string> all = all_gather_strings(comm, mine.dump());
  const nlohmann::json ref = nlohmann::json::parse(all[0]);
  std::string diff;
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r] == all[0]) continue;
    const nlohmann::json other = nlohmann::json::parse(all[r]);
    std::string keys;
    for (const auto& [k, v] : ref.items())
      if (!other.contains(k) || other[k] != v) keys += (keys.empty() ? "" : ", ") + k;
    for (const auto& [k, v] : other.items())
      if (!ref.contains(k)) keys += (keys.empty() ? "" : ", ") + k;
    diff += "\n  rank " + std::to_string(r) + " differs from rank 0 in: " + keys;
  }
  PACKD_CHECK(diff.empty(), "the ", comm.size(), " ranks disagree on the ", what,
              " (every rank must run the same command on the same data and model):", diff);
}

}  // namespace packd::dist
