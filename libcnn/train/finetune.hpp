// Fine-tuning as cnn-finetune performs it: a pretrained base (an architecture file, or a run or
// import directory), cut at a named layer, a new head appended, layers frozen or unfrozen by
// name, and the base's weights loaded by name. Training itself is train::run_training.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/weights.hpp"
#include "model/model.hpp"

namespace cnn::train {

struct FinetuneSpec {
  std::string base;                      // model.json, or a directory holding model.json
  std::optional<std::string> weights;    // default: BASE/weights.safetensors for a directory
  std::optional<std::string> cut_at;     // default: the base's output layer
  std::optional<std::string> head_spec;  // "dense:256,dropout:0.5,dense:1:sigmoid"
  std::optional<std::string> head_file;  // a JSON list of layers (or {"layers": [...]})
  // Put first in a new head: "flatten", "avg", "max" or "none". Default: flatten for a head
  // given by --head flags when the base's output is [h, w, c] and the head does not start with
  // a flatten/pooling item; nothing for a head file.
  std::optional<std::string> pool;
  std::optional<std::string> freeze;         // "all" (the base's layers) or "none"
  std::optional<std::string> unfreeze_from;  // a layer of the composed model
};

struct FinetuneModel {
  Model model;             // cut, head appended, freezing applied; parameters not yet initialised
  std::string base_model;  // the base's architecture file
  std::optional<std::string> base_weights;           // --weights, or the directory's weights file
  std::optional<std::string> base_recipe;            // BASE/train.json when BASE is a run directory
  std::vector<std::string> base_layers, new_layers;  // names, in execution order
  // What finetune.json in the run directory records: base, weights, cut_at, head, freezing.
  json_ordered record;
};

// Validates the spec (the base, the layer names of --cut-at and --unfreeze-from, the head)
// and builds the model, without reading weights or data. Throws ConfigError naming the file
// or flag (an unknown layer name lists the nearest names), InputError for a missing base.
FinetuneModel build_finetune_model(const FinetuneSpec& spec);

// A head file: a JSON list of layer objects, or {"layers": [...]}. Throws ConfigError naming
// the file (file:line:column for invalid JSON), InputError if it cannot be read.
json read_head_file(const std::string& path);

// Loads weights into model by name. Every parameter of the layers in `required` must be in the
// file with the shape the model gives it: otherwise FormatError naming the file, the layer and
// the tensor. Other parameters (a new head) are taken when present and keep their initialised
// values otherwise. Tensors of layers the model lacks (cut off) are ignored (listed in unused).
io::PartialLoad load_base_weights(Model& model, const std::string& path,
                                  const std::set<std::string>& required);

// The layers of a model, by name.
std::set<std::string> all_layer_names(const Model& model);

}  // namespace cnn::train
