// A whole training run as cnn-train performs it: resolve the recipe, open the model and data,
// check that they fit, create the run directory (DESIGN.md "Run directory"), train, and write
// the results. Resuming continues a run directory from its latest checkpoint.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "train/fit.hpp"
#include "train/recipe.hpp"

namespace cnn::train {

struct RunOptions {
  json recipe;              // resolved (default_recipe + file + overrides); ignored on resume
  std::string recipe_file;  // names the recipe in messages ("<flags>" when there is none)
  std::string base_dir;     // relative model/weights paths are relative to it
  std::string run_dir;
  bool resume = false;                     // continue run_dir (its train.json and model.json)
  json resume_overrides = json::object();  // on resume: fields that may change (epochs)
  bool overwrite = false;                  // reuse a run_dir that already has files
  std::size_t threads = 1;                 // data decoding threads
  std::string mnist_dir;                   // where "mnist:" datasets live
  const std::atomic<bool>* stop = nullptr;
  std::function<void(const std::string&)> log;  // one informational line (no newline)
  std::function<void(const StepProgress&)> on_step;
  std::function<void(const EpochRecord&)> on_epoch;
  // cnn-finetune (all three ignored on resume): the architecture to train instead of loading
  // recipe.model (which then only names it in train.json); a step run after the initialisers
  // and recipe.weights, before the run directory is created (a partial load of pretrained
  // weights); more files written into the new run directory next to model.json (name ->
  // content).
  std::optional<json> model_arch;
  std::function<void(Model&)> init_weights;
  std::map<std::string, std::string> extra_files;
};

struct RunResult {
  std::string run_dir;
  Recipe recipe;
  FitResult fit;
  std::size_t train_samples = 0, validation_samples = 0;
  std::vector<std::string> skipped_images;
};

// Dataset options from a recipe's data section, with the defaults derived from the model:
// target size and color mode from its input, class mode binary for one output else sparse.
data::DatasetOptions dataset_options(const DataRecipe& data, const Model& model,
                                     std::size_t threads, const std::string& mnist_dir);
// The loss that goes with a class mode (binary / categorical / sparse cross-entropy).
std::string default_loss(data::ClassMode mode);
// Throws DataError naming spec when the dataset's samples or classes do not fit the model.
void check_fit(const Model& model, const data::Dataset& dataset, const std::string& spec);

// Throws ConfigError/ShapeError/DataError/FormatError/InputError (exit 3) for bad inputs, all
// before the run directory is created; IoError for outputs. A failure before the first
// checkpoint removes the run directory it created.
RunResult run_training(const RunOptions& options);

// Writes history.json and history.csv into run_dir.
void write_history(const std::string& run_dir, const std::vector<EpochRecord>& history);

}  // namespace cnn::train
