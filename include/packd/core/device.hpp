#pragma once
// Device: a run-time property of every tensor (cpu, or cuda with an index).
#include <cstdint>
#include <ostream>

#include "packd/config.hpp"
#include "packd/core/error.hpp"

namespace packd {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  constexpr bool is_cpu() const { return type == DeviceType::cpu; }
  constexpr bool is_cuda() const { return type == DeviceType::cuda; }
  friend constexpr bool operator==(const Device&, const Device&) = default;

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
};

inline std::ostream& operator<<(std::ostream& os, const Device& d) {
  if (d.is_cpu()) return os << "cpu";
  return os << "cuda:" << d.index;
}

// Whether this build contains a backend for the device; throws a clear error when it does not.
inline void check_device_built(Device d, const char* what) {
  if (d.is_cuda()) {
    PACKD_CHECK(PACKD_WITH_CUDA, what, ": device ", d,
                " requested, but packd was built without the CUDA backend (configure with -DPACKD_CUDA=ON)");
  }
}

}  // namespace packd
