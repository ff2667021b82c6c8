#pragma once
// packd checkpoints: a safetensors file whose __metadata__ records what it is, so that a file can
// be checked before its tensors are trusted and a model rebuilt from it without other input.
//
//   __metadata__ = {
//     "format":         "packd.checkpoint",
//     "format_version": "1",
//     "config":         "<JSON object: the model/run configuration>",
//     ...               any further string entries of the caller's (step, epoch, ...)
//   }
//
// Tensors use PyTorch-style dotted names (bn.*, decoder.*, ...). Written atomically (write to a
// temporary file, fsync, rename: Note [Atomic writes]), so an interrupted save leaves the previous
// checkpoint intact.
#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "packd/io/safetensors.hpp"

namespace packd::io {

inline constexpr const char* kCheckpointFormat = "packd.checkpoint";
inline constexpr int kCheckpointVersion = 1;

struct Checkpoint {
  std::map<std::string, RawTensor> tensors;
  nlohmann::json config = nlohmann::json::object();
  std::map<std::string, std::string> metadata;  // every __metadata__ entry, config included
};

inline void save_checkpoint(const std::string& path, const std::map<std::string, RawTensor>& tensors,
                            const nlohmann::json& config, std::map<std::string, std::string> extra = {}) {
  PACKD_CHECK(config.is_object(), "save_checkpoint: ", path, ": the config must be a JSON object");
  extra["format"] = kCheckpointFormat;
  extra["format_version"] = std::to_string(kCheckpointVersion);
  extra["config"] = config.dump();
  write_safetensors(path, tensors, extra);
}

// True if the file's metadata says it is a packd checkpoint.
inline bool is_checkpoint(const SafetensorsFile& f) {
  auto it = f.metadata.find("format");
  return it != f.metadata.end() && it->second == kCheckpointFormat;
}

inline Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsFile f = read_safetensors(path);
  PACKD_CHECK(is_checkpoint(f), path, ": a safetensors file, but not a packd checkpoint (its __metadata__ has no "
              "\"format\": \"", kCheckpointFormat, "\"); load plain weights with io::load_weights instead");
  const std::string version = f.metadata.count("format_version") ? f.metadata.at("format_version") : "?";
  PACKD_CHECK(version == std::to_string(kCheckpointVersion), path, ": packd checkpoint format version ", version,
              " is not supported by this build (it reads version ", kCheckpointVersion, ")");
  Checkpoint c;
  if (f.metadata.count("config")) {
    try {
      c.config = nlohmann::json::parse(f.metadata.at("config"));
    } catch (const nlohmann::json::exception& e) {
      PACKD_CHECK(false, path, ": the checkpoint's config is not valid JSON (", e.what(), ")");
    }
    PACKD_CHECK(c.config.is_object(), path, ": the checkpoint's config is not a JSON object");
  }
  c.tensors = std::move(f.tensors);
  c.metadata = std::move(f.metadata);
  return c;
}

}  // namespace packd::io
