#pragma once
// --device for every packd subcommand: "cpu", "cuda" (device 0) or "cuda:N". Parsed and checked
// before any work, so a bad value or a missing GPU is one clear packd::Error naming the flag.
#include <CLI/CLI.hpp>

#include <cctype>
#include <string>

#include "packd/backend/cuda_api.hpp"
#include "packd/core/device.hpp"
#include "packd/core/error.hpp"

namespace packd_cli {

inline constexpr const char* kDeviceHelp = "where the model runs: cpu, cuda (device 0) or cuda:N";

// The device a --device value names, checked against this build and the visible GPUs.
inline packd::Device parse_device(const std::string& value, const char* flag = "--device") {
  using packd::Device;
  if (value == "cpu") return Device::cpu();
  int index = -1;
  if (value == "cuda") {
    index = 0;
  } else if (value.rfind("cuda:", 0) == 0 && value.size() > 5 && value.size() <= 9) {
    index = 0;
    for (char c : value.substr(5)) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        index = -1;
        break;
      }
      index = index * 10 + (c - '0');
    }
  }
  PACKD_CHECK(index >= 0, flag, " ", value, ": unknown device; expected cpu, cuda or cuda:N (N a device index)");
  PACKD_CHECK(PACKD_WITH_CUDA, flag, " ", value,
              ": packd was built without the CUDA backend (configure with -DPACKD_CUDA=ON)");
  PACKD_CHECK(packd::cuda::cuda_available(), flag, " ", value, ": no CUDA device visible (cuda_available() is false)");
  const int count = packd::cuda::device_count();
  PACKD_CHECK(index < count, flag, " ", value, ": no CUDA device ", index, " (", count, " visible: cuda:0 to cuda:",
              count - 1, ")");
  return Device::cuda(index);
}

// Registers --device on a subcommand; the value is parsed when the command runs (parse_device),
// so that its error goes through packd's error path with the other checks.
inline CLI::Option* add_device_option(CLI::App& app, std::string& value) {
  return app.add_option("--device", value, kDeviceHelp)->capture_default_str();
}

}  // namespace packd_cli
