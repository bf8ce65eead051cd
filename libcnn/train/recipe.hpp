// Training recipes (configs/train/*.json): which model, which data, optimizer, loss, batch size,
// epochs, schedules, seed. A recipe is resolved from defaults, a file, and overrides (flags),
// validated field by field, and saved whole in the run directory (train.json).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "kernels/gemm.hpp"
#include "tensor/config.hpp"
#include "train/optimizer.hpp"
#include "train/schedule.hpp"

namespace cnn::train {

// Data section: the datasets and how images are read (Keras flow_from_directory keys).
struct DataRecipe {
  std::string train;  // dataset spec (data/dataset.hpp open_dataset)
  std::optional<std::string> validation;
  double validation_split = 0.0;                   // Keras ImageDataGenerator(validation_split)
  std::optional<std::array<long, 2>> target_size;  // default: the model's input height, width
  std::optional<std::string> color_mode;           // default: from the model's input channels
  std::optional<std::string> class_mode;           // default: binary for 1 output, else sparse
  // default: the model's preprocessing.interpolation, else "nearest" (Keras's default)
  std::optional<std::string> interpolation;
  std::optional<double> rescale;  // default: 1/255 for IDX data, 1 for image folders
  std::string on_bad_image = "fail";
  std::string check = "header";
  std::vector<std::string> classes;  // default: sorted sub-folder names / known names
};

struct Recipe {
  std::string file;                    // where the recipe came from (messages)
  std::string model;                   // architecture JSON path
  std::optional<std::string> weights;  // initial weights (not a resume)
  DataRecipe data;
  std::optional<std::string> loss;  // default: from the class mode
  OptimizerConfig optimizer;
  std::vector<std::string> metrics;  // "accuracy", "top_k_categorical_accuracy"
  std::size_t top_k = 5;
  std::size_t batch_size = 32, epochs = 1;
  std::optional<std::size_t> steps_per_epoch, validation_steps;
  bool shuffle = true;
  std::uint64_t seed = 0;
  std::optional<ScheduleConfig> schedule;  // none: the optimizer's constant learning rate
  std::optional<EarlyStoppingConfig> early_stopping;
  // Per-class weights by class name or index: read against the training data's classes
  // (class_weights_from_json) once the data is open; null when absent.
  json class_weight;
  double weight_decay = 0.0;
  // After each epoch, re-estimate BatchNormalization's moving statistics for the epoch's final
  // weights over this many training batches (0: no). See FitOptions::recalibrate_bn.
  std::size_t recalibrate_bn = 0;
  // Data-parallel training: BatchNormalization's batch statistics over every process's part of
  // the batch (FitOptions::sync_bn).
  bool sync_bn = false;
  // The training steps' matrix products (kernels/gemm.hpp Precision): "fp32", or "bf16" (mixed
  // precision: bfloat16 operands, float sums, float weights and optimizer state).
  kernels::Precision precision = kernels::Precision::Fp32;
  // ImageDataGenerator settings for the training data (data/augment.hpp), as a JSON object
  // (a path in the recipe is read and replaced by its content); null: no augmentation.
  json augment;
  std::string augment_file;  // where the settings came from (messages)
  // What parse_recipe read differently from how it was written, for the log: Keras spellings
  // it accepted ("optimizer.lr is Keras's old name of learning_rate").
  std::vector<std::string> notes;
};

// Every field with its default (null for "derived" defaults).
json default_recipe();

// Recursively merges patch into base (objects merge key by key; anything else replaces).
void merge_into(json& base, const json& patch);

// Applies "key.sub=value" (value parsed as JSON, or taken as a string when it is not JSON).
// A setting inside "augment" when the recipe names a settings file (a path, relative to
// base_dir) first reads that file, so the assignment changes one setting and keeps the others.
// Throws ConfigError for a malformed assignment.
void apply_assignment(json& recipe, const std::string& assignment,
                      const std::string& base_dir = "");

// Where a recipe's fields come from, lowest first: default_recipe() < file < flags <
// assignments. resolve_recipe merges them once, for every program that trains.
struct RecipeSources {
  std::optional<std::string> file;  // a recipe file (configs/train/*.json, a run's train.json)
  std::vector<std::string> ignore_from_file;  // its top-level keys not taken (finetune: model)
  json flags = json::object();                // the flags' values, as a patch
  std::vector<std::string> assignments;       // "key.sub=value" (--set), in order
};

struct ResolvedRecipe {
  json recipe;
  std::string file;      // names the recipe in messages: the file, or "<flags>"
  std::string base_dir;  // the file's folder: its relative paths are relative to it
};

// Throws InputError for an unreadable file, ConfigError for malformed JSON or assignments.
ResolvedRecipe resolve_recipe(const RecipeSources& sources);

// Validates a resolved recipe (unknown keys, types, ranges) into a Recipe, the optimizer,
// schedule and early stopping included: a recipe that parses is one that runs. Relative paths of
// model/weights and of the datasets (data.train, data.validation) are taken relative to
// base_dir (the recipe file's folder), and become absolute; an empty base_dir leaves them as
// they are.
Recipe parse_recipe(const json& resolved, const std::string& file, const std::string& base_dir);

}  // namespace cnn::train
