// The one reader of what a program is pointed at (DESIGN.md "Run directory"): a run directory
// written by cnn-train or cnn-finetune, a model directory written by cnn-import (model.json +
// weights.safetensors), or an architecture JSON file with separate weights. And the one
// function that decides how data becomes a model's input, for every program.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "model/model.hpp"
#include "train/recipe.hpp"

namespace cnn::train {

struct RunDir {
  std::string dir;           // the directory; empty when opened from an architecture file
  std::string model_path;    // its model.json, or the architecture file
  std::string weights_path;  // the weights to use; empty when there are none (see open_run)
  // Set when the weights are not the run's final ones: an interrupted run has no
  // weights.safetensors, and its latest checkpoint's weights are used instead.
  std::string weights_note;
  std::optional<json> recipe;  // train.json, when present
  std::string recipe_path;
  std::vector<std::string> class_names;  // class_indices.json (empty when absent)
};

enum class NeedWeights { yes, no };

// Opens target: a directory (model.json required; weights.safetensors, else the latest
// checkpoint's weights with a note; train.json and class_indices.json when present) or an
// architecture file. weights, when not empty, overrides the weights. With NeedWeights::yes a
// missing weights file is an InputError that says what to give. Every JSON file is read
// through parse_json (ConfigError "file:line:column: ..."); class_indices.json must map
// distinct names to 0..k-1 (FormatError otherwise). Throws InputError for a missing target.
RunDir open_run(const std::string& target, const std::string& weights, NeedWeights need);

// class_indices.json: {"name": index, ...} with indices 0..k-1, each once -> names by index.
std::vector<std::string> read_class_indices(const std::string& path);

// The preprocessing a data recipe implies for a model that declares none: rescale =
// data.rescale, else default_rescale (the dataset's own default: 1/255 for IDX data), times
// the augmentation settings' rescale; interpolation = data.interpolation, else nearest.
Preprocessing data_preprocessing(const DataRecipe& data, double default_rescale,
                                 std::optional<double> augment_rescale = std::nullopt);

// How data becomes this model's input: the one place every program (cnn-eval, cnn-visualize,
// cnn-extract-features, cnn-finetune) decides it.
//   - The model's declared preprocessing (recorded by cnn-train) is applied by the model
//     itself; the data is read as raw pixels. A run trained before models recorded it gets it
//     from its train.json (data_preprocessing), set on the model.
//   - overrides (a data section from flags: rescale, target_size, color_mode, interpolation,
//     classes, ...) win; a rescale or interpolation that replaces the model's own is applied
//     to the model and reported through note ("--rescale 0.5 overrides the model's rescale
//     0.00392157").
// Returns the parsed recipe (the run's train.json, or defaults, with data.train = data_spec)
// and the dataset options.
struct InputPlan {
  Recipe recipe;
  data::DatasetOptions options;
};
InputPlan plan_input(Model& model, const RunDir& run, const std::string& data_spec,
                     const json& overrides, std::size_t threads, const std::string& mnist_dir,
                     const std::function<void(const std::string&)>& note = nullptr);

}  // namespace cnn::train
