#pragma once
// Storage: a reference-counted block of bytes on one device, shared by every view of it.
//
// Note [Version counter]: each Storage carries a version counter that every in-place write
// through any of its views increments. Autograd records the version when it saves a tensor for
// backward and compares on use, so an in-place change to a saved tensor (through any view of
// the same memory) is an error instead of a silently wrong gradient.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>

#include "packd/backend/cuda_api.hpp"
#include "packd/core/allocator.hpp"
#include "packd/core/device.hpp"

namespace packd {

class Storage {
 public:
  // Allocates nbytes on the device (64-byte aligned on CPU, from the caching allocator).
  Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
    check_device_built(device, "Storage");
    if (device.is_cpu()) {
      data_ = cpu_allocator().allocate(nbytes);
    } else {
#if PACKD_WITH_CUDA
      data_ = cuda::device_allocate(nbytes, device.index);
#endif
    }
  }
  // Wraps memory owned elsewhere; `deleter` (may be empty) runs when the last view is gone.
  Storage(void* data, std::size_t nbytes, Device device, std::function<void(void*)> deleter)
      : data_(data), nbytes_(nbytes), device_(device), external_(true), deleter_(std::move(deleter)) {}

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (external_) {
      if (deleter_) deleter_(data_);
    } else if (device_.is_cpu()) {
      cpu_allocator().deallocate(data_, nbytes_);
    } else {
#if PACKD_WITH_CUDA
      cuda::device_deallocate(data_, nbytes_, device_.index);
#endif
    }
  }

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  bool external_ = false;
  std::function<void(void*)> deleter_;
  uint64_t version_ = 0;
};

// Copies bytes between any two devices this build supports.
inline void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, std::size_t n) {
  if (n == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, n);
    return;
  }
#if PACKD_WITH_CUDA
  if (dst_dev.is_cuda() && src_dev.is_cpu()) return cuda::copy_host_to_device(dst, src, n, dst_dev.index);
  if (dst_dev.is_cpu() && src_dev.is_cuda()) return cuda::copy_device_to_host(dst, src, n, src_dev.index);
  if (dst_dev == src_dev) return cuda::copy_device_to_device(dst, src, n, dst_dev.index);  // ordered on its stream
  // GPU to GPU: the copy runs on the target's stream, which is not ordered after the source's (src
  // may still be being written there, and its next user there would not wait for the copy): drain both.
  cuda::synchronize(src_dev.index);
  cuda::copy_device_to_device(dst, src, n, dst_dev.index);
  cuda::synchronize(dst_dev.index);
#else
  PACKD_CHECK(false, "copy between ", src_dev, " and ", dst_dev, ": packd was built without the CUDA backend");
#endif
}

}  // namespace packd
