// Checkpoints of a training run: weights, optimizer state, and the loop's state (epoch, step,
// RNG, schedule, early stopping, history) in RUN_DIR/checkpoint/. Each checkpoint is a fresh
// folder written file by file (each atomically), then published by atomically replacing
// checkpoint/latest; the previous checkpoint is kept, older ones removed. A crash at any point
// leaves the last published checkpoint intact.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "train/optimizer.hpp"

namespace cnn::train {

// Writes a checkpoint named by step (unique and increasing within a run). best, when not
// empty, is a copy of the weight arena kept by early stopping (restore_best_weights).
void write_checkpoint(const std::string& run_dir, std::uint64_t step, Model& model,
                      const Optimizer& optimizer, const json& state,
                      const std::vector<float>& best);

// Whether RUN_DIR has a published checkpoint.
bool has_checkpoint(const std::string& run_dir);
// The folder of the latest published checkpoint (RUN_DIR/checkpoint/step-...), or nullopt.
// FormatError when checkpoint/latest names anything but a step-<digits> folder.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// The progress the latest checkpoint records: epochs completed, and steps into the next one.
// InputError when there is no checkpoint, FormatError when its state.json is damaged.
struct CheckpointProgress {
  std::size_t epoch = 0, step = 0;
};
CheckpointProgress checkpoint_progress(const std::string& run_dir);

// Loads the latest checkpoint into model and optimizer; returns the loop state and fills best
// (empty when the checkpoint has none). Throws InputError when there is none, FormatError for
// damaged files.
json read_checkpoint(const std::string& run_dir, Model& model, Optimizer& optimizer,
                     std::vector<float>& best);

}  // namespace cnn::train
