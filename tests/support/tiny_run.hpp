#pragma once
// The tiny training run the trainer, protocol, CLI and data-parallel tests share: a width-2
// WideResNet50-2 teacher (random) and student, 64x64 images, k = 1, batches of 4 queries from 2
// categories, 4 prototypes, no progress line. Each test changes what it is about (steps, lr, seed).
#include <string>

#include "packd/train/trainer.hpp"

namespace packd::testing {

inline train::TrainOptions tiny_train_options(const std::string& out, int64_t max_steps, int64_t checkpoint_every) {
  train::TrainOptions o;
  o.backbone = "wide_resnet50_2";
  o.base_planes = 2;
  o.image_size = 64;
  o.shots = 1;
  o.batch_size = 4;
  o.cats_per_batch = 2;
  o.epochs = 0;
  o.max_steps = max_steps;
  o.checkpoint_every = checkpoint_every;
  o.out = out;
  o.progress = false;
  o.method.prototypes = 4;
  return o;
}

}  // namespace packd::testing
