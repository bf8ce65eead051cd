// The training-recipe flags (--data, --epochs, --optimizer, --set, ...) shared by the programs
// that train (cnn-finetune; the same flags as cnn-train, see share/cnn-train.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/run_main.hpp"
#include "tensor/config.hpp"

namespace cnn::cmd {

struct RecipeFlags {
  std::optional<std::string> data, validation, loss, optimizer, color_mode, class_mode,
      interpolation, on_bad_image, class_weight, schedule, early_stopping, augment;
  std::optional<double> validation_split, learning_rate, rescale, weight_decay;
  std::optional<std::size_t> epochs, batch_size, steps_per_epoch, validation_steps,
      recalibrate_bn;
  std::vector<std::size_t> target_size;
  bool no_shuffle = false;
  std::vector<std::string> sets;

  // Adds the flags to app (not --model or --weights, whose meaning differs between programs).
  void add_to(CLI::App& app);
  // The flags' names, for programs that refuse them in some modes (--resume).
  static const std::vector<std::string>& names();
  // Merges the given flags into recipe (each only when given), then --seed when given, then
  // the --set assignments in order. Throws ConfigError for flags whose JSON does not parse.
  // base_dir: the recipe file's folder (for --set augment.KEY=V on a settings file).
  void apply(json& recipe, const CLI::App& app, const CommonOptions& common,
             const std::string& base_dir = "") const;
};

}  // namespace cnn::cmd
