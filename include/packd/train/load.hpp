#pragma once
// A trained run, rebuilt for evaluation and inference from its checkpoint alone:
//
//   load_trained(RUN_DIR or RUN_DIR/checkpoint.safetensors, device, weights_override)
//     1. reads the checkpoint and rebuilds TrainOptions from its config JSON (train_options_from_json)
//     2. builds PackdStudent<float> exactly as the Trainer did: Generator(seed), no SkipInitGuard,
//        so a random teacher (no ImageNet weights, or base_planes < 64) is the very teacher the run
//        trained against
//     3. the teacher's ImageNet weights: an explicit override if given (a user's --weights), else
//        the config's path if that file exists, else a RANDOM teacher with a loud warning (the
//        student then faces a teacher it never saw: the numbers mean nothing)
//     4. the student's weights from the checkpoint (strict; the "optim.*" Adam state is skipped)
//     5. eval mode, on `device` (built and loaded on the host, then moved)
//
// Warnings are printed to stderr (unless quiet) and kept in LoadedRun::warnings for reports.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "packd/io/checkpoint.hpp"
#include "packd/io/sha256.hpp"
#include "packd/io/weights.hpp"
#include "packd/models/packd.hpp"
#include "packd/train/trainer.hpp"

namespace packd::train {

// TrainOptions from TrainOptions::to_json() output. backbone, base_planes, image_size and method
// are required (a model cannot be rebuilt without them); other fields keep their defaults when
// absent. Wrong types are errors naming the field and `source`. Fields to_json does not write
// (out, resume, progress) keep their defaults.
inline TrainOptions train_options_from_json(const nlohmann::json& j, const std::string& source = "config") {
  PACKD_CHECK(j.is_object(), source, ": the run configuration is not a JSON object");
  TrainOptions o;
  auto field = [&](const char* key, auto& out, bool required) {
    if (!j.contains(key)) {
      PACKD_CHECK(!required, source, ": the run configuration has no '", key, "' (not a packd training checkpoint?)");
      return;
    }
    try {
      j.at(key).get_to(out);
    } catch (const nlohmann::json::exception& e) {
      PACKD_CHECK(false, source, ": the run configuration's '", key, "' is ", j.at(key).dump(), ": ", e.what());
    }
  };
  field("backbone", o.backbone, true);
  field("base_planes", o.base_planes, true);
  field("weights", o.weights, false);
  field("image_size", o.image_size, true);
  field("shots", o.shots, false);
  field("batch_size", o.batch_size, false);
  field("cats_per_batch", o.cats_per_batch, false);
  field("epochs", o.epochs, false);
  field("max_steps", o.max_steps, false);
  field("lr", o.lr, false);
  field("betas", o.betas, false);
  field("seed", o.seed, false);
  field("checkpoint_every", o.checkpoint_every, false);
  field("sync_bn", o.sync_bn, false);
  if (j.contains("device")) {  // where the run trained (informational; absent before CUDA training)
    std::string device;
    field("device", device, false);
    o.device = device_from_name(device, source + ": the run configuration's 'device'");
  }
  PACKD_CHECK(j.contains("method"), source, ": the run configuration has no 'method' (the PACKD switches)");
  o.method = models::PackdConfig::from_json(j.at("method"));
  PACKD_CHECK(o.image_size >= 32 && o.image_size % 32 == 0, source, ": image_size ", o.image_size,
              " is not a positive multiple of 32");
  return o;
}

struct LoadedRun {
  TrainOptions options;                 // as trained (options.weights: the config's path, as recorded)
  std::string checkpoint;               // the file read
  int64_t step = 0;                     // training steps done
  std::shared_ptr<models::PackdStudent<float>> model;  // eval mode, on the requested device
  std::string teacher;                  // where the teacher's weights came from, in words
  std::string teacher_weights;          // the file loaded, "" for a random teacher
  bool teacher_random = false;          // no ImageNet weights loaded
  bool teacher_as_trained = true;       // false: the run trained with ImageNet weights that were not loaded
  std::vector<std::string> warnings;
};

// RUN_DIR (holding checkpoint.safetensors) or the checkpoint file itself -> the checkpoint file.
inline std::string checkpoint_file(const std::string& run_dir_or_checkpoint) {
  namespace fs = std::filesystem;
  std::error_code ec;
  PACKD_CHECK(!run_dir_or_checkpoint.empty(), "--checkpoint: empty path");
  PACKD_CHECK(fs::exists(run_dir_or_checkpoint, ec), "--checkpoint ", run_dir_or_checkpoint, ": no such file or directory");
  if (!fs::is_directory(run_dir_or_checkpoint, ec)) return run_dir_or_checkpoint;
  const std::string f = (fs::path(run_dir_or_checkpoint) / "checkpoint.safetensors").string();
  PACKD_CHECK(fs::is_regular_file(f, ec), "--checkpoint ", run_dir_or_checkpoint,
              ": a directory without checkpoint.safetensors (not a packd training run, or the run saved nothing yet)");
  return f;
}

inline LoadedRun load_trained(const std::string& run_dir_or_checkpoint, Device device = Device::cpu(),
                              const std::string& weights_override = "", bool quiet = false) {
  check_device_built(device, "load_trained");
  LoadedRun r;
  r.checkpoint = checkpoint_file(run_dir_or_checkpoint);
  io::Checkpoint c = io::load_checkpoint(r.checkpoint);
  if (c.metadata.count("kind"))
    PACKD_CHECK(c.metadata.at("kind") == "packd.train", r.checkpoint, ": a packd checkpoint of kind '",
                c.metadata.at("kind"), "', not a training run (packd.train)");
  r.options = train_options_from_json(c.config, r.checkpoint);
  if (c.metadata.count("step")) {
    try {
      r.step = std::stoll(c.metadata.at("step"));
    } catch (...) {
      PACKD_CHECK(false, r.checkpoint, ": metadata step '", c.metadata.at("step"), "' is not a number");
    }
  }
  const TrainOptions& o = r.options;
  auto warn = [&](const std::string& w) {
    r.warnings.push_back(w);
    if (!quiet) std::fprintf(stderr, "packd: WARNING: %s\n", w.c_str());
  };

  // The teacher: which weights, decided before anything is built.
  const bool trained_random = o.weights.empty();
  std::error_code ec;
  const bool config_file_there = !o.weights.empty() && std::filesystem::is_regular_file(o.weights, ec);
  if (!weights_override.empty()) {
    PACKD_CHECK(!trained_random, "--weights ", weights_override, ": the run ", r.checkpoint,
                " was trained against a random teacher (",
                o.base_planes < 64 ? "base_planes " + std::to_string(o.base_planes) + " narrows the backbone"
                                   : std::string("no ImageNet weights"),
                "); ImageNet weights would give its student a teacher it never saw");
    PACKD_CHECK(std::filesystem::is_regular_file(weights_override, ec), "--weights ", weights_override,
                ": no such file");
    r.teacher_weights = weights_override;
    const std::string trained_name = std::filesystem::path(o.weights).filename().string();
    if (std::filesystem::path(weights_override).filename().string() != trained_name)
      warn("--weights " + weights_override + " is not the file the run trained with (" + o.weights +
           "); make sure it holds the same " + o.backbone + " ImageNet weights");
  } else if (config_file_there) {
    r.teacher_weights = o.weights;
  }

  Generator gen(o.seed);  // as the Trainer: the teacher's random values come first from this generator
  const models::ResNetSpec ts = teacher_spec(o);
  r.model = std::make_shared<models::PackdStudent<float>>(ts, models::rd_spec(ts), o.method, gen);
  if (!r.teacher_weights.empty()) {
    io::check_torchvision_hash(r.teacher_weights);
    r.model->teacher->load_state_dict(io::load_weights(r.teacher_weights), {}, r.teacher_weights);
    r.teacher = o.backbone + " ImageNet weights from " + r.teacher_weights;
  } else if (trained_random) {
    r.teacher_random = true;
    r.teacher = "random " + o.backbone + (o.base_planes < 64 ? " narrowed to base_planes " + std::to_string(o.base_planes) : "") +
                ", rebuilt from the run's seed " + std::to_string(o.seed) + " (the teacher it trained against)";
    warn("a random-teacher run (" +
         (o.base_planes < 64 ? "base_planes " + std::to_string(o.base_planes) + " < 64 narrows the backbone"
                             : std::string("trained without ImageNet weights")) +
         "): its numbers show that the pipeline runs, not what PACKD achieves");
  } else {
    r.teacher_random = true;
    r.teacher_as_trained = false;
    r.teacher = "RANDOM " + o.backbone + " (the run's ImageNet weights " + o.weights + " were not found)";
    warn("the run trained against the ImageNet weights " + o.weights +
         ", which do not exist here, and no --weights was given: the teacher is RANDOM, the student faces a teacher "
         "it never saw, and every number below is MEANINGLESS. Pass --weights with the same file.");
  }

  nn::WeightMap student;
  for (auto& [k, v] : c.tensors)
    if (k.rfind("optim.", 0) != 0) student.emplace(k, std::move(v));
  r.model->load_state_dict(student, {}, r.checkpoint);
  r.model->eval();
  r.model->teacher->eval();
  if (!device.is_cpu()) r.model->to(device);  // student and teacher
  return r;
}

}  // namespace packd::train
