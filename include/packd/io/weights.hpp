#pragma once
// One entry point for weight files: a .pth checkpoint (either torch.save format) or a
// safetensors file, told apart by content rather than by extension, returned as tensors by
// dotted name (a nested checkpoint is flattened: {'bn': sd, 'decoder': sd} gives "bn.*" and
// "decoder.*"; see flatten_state_dict). Anything else throws packd::Error naming the file and
// what it looks like.
#include <map>
#include <string>
#include <vector>

#include "packd/io/pth.hpp"
#include "packd/io/safetensors.hpp"

namespace packd::io {

enum class WeightsFormat : uint8_t { pth_zip, pth_legacy, safetensors, unknown };

inline WeightsFormat detect_weights_format(const uint8_t* data, std::size_t size) {
  switch (detect_pth_format(data, size)) {
    case PthFormat::zip: return WeightsFormat::pth_zip;
    case PthFormat::legacy: return WeightsFormat::pth_legacy;
    case PthFormat::unknown: break;
  }
  return detail::looks_like_safetensors(data, size) ? WeightsFormat::safetensors : WeightsFormat::unknown;
}

namespace detail {
inline std::map<std::string, RawTensor> nonempty_weights(std::map<std::string, RawTensor> w, const std::string& name) {
  PACKD_CHECK(!w.empty(), name, ": the file holds no tensors");
  return w;
}
inline std::map<std::string, RawTensor> flatten_checkpoint(const PyValue& root, const std::string& name) {
  PACKD_CHECK(root.is_dict(), name, ": the checkpoint holds a ", root.type_name(), ", not a dict of tensors (a state_dict)");
  return nonempty_weights(flatten_state_dict(root), name);
}
}  // namespace detail

// The tensors in the weight file held in data[0, size); `name` names it in errors.
inline std::map<std::string, RawTensor> parse_weights(const uint8_t* data, std::size_t size, const std::string& name) {
  switch (detect_weights_format(data, size)) {
    case WeightsFormat::pth_zip:
    case WeightsFormat::pth_legacy: return detail::flatten_checkpoint(parse_pth(data, size, name), name);
    case WeightsFormat::safetensors: return detail::nonempty_weights(parse_safetensors(data, size, name).tensors, name);
    case WeightsFormat::unknown: break;
  }
  PACKD_CHECK(false, name, ": not a weight file packd reads (a .pth from torch.save, or safetensors): it looks like ",
              detail::describe_contents(data, size));
  return {};
}

inline std::map<std::string, RawTensor> load_weights(const std::string& path) {
  std::vector<uint8_t> bytes = detail::read_file_bytes(path);
  if (detect_weights_format(bytes.data(), bytes.size()) == WeightsFormat::safetensors)
    return detail::nonempty_weights(parse_safetensors(bytes.data(), bytes.size(), path).tensors, path);
  if (detect_pth_format(bytes.data(), bytes.size()) == PthFormat::unknown) return parse_weights(bytes.data(), bytes.size(), path);
  // The tensors are copies: free the file's bytes before flattening copies them again.
  const PyValue root = parse_pth(bytes.data(), bytes.size(), path);
  std::vector<uint8_t>().swap(bytes);
  return detail::flatten_checkpoint(root, path);
}

}  // namespace packd::io
