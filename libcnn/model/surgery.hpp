// Model surgery for transfer learning, on architecture JSON and built models: cutting a model at a
// named layer (keeping that layer's ancestors, so DAGs such as SqueezeNet's fire modules stay
// whole), appending a new head, and freezing or unfreezing layers by name. Used by
// cnn-extract-features and cnn-finetune.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace cnn {

// The index (execution order) of the layer called name. Throws ConfigError(file, "", "", ...)
// for an unknown name with one sentence naming `what` (e.g. "--layer") and the nearest layer
// names of the model, e.g. "vgg16.json: --layer: no layer named 'block5_conv0' in model 'vgg16';
// did you mean 'block5_conv1'? nearby names: block5_conv1, block4_conv1, ... (19 layers)".
std::size_t require_layer(const Model& model, const std::string& name, const std::string& what,
                          const std::string& file);

// The names of the k layers closest to word by edit distance (ties in execution order).
std::vector<std::string> nearby_layer_names(const Model& model, const std::string& word,
                                            std::size_t k = 5);

// model.to_json() cut at layer `index`: that layer and every layer it reads from, directly or
// not, in execution order; other top-level keys (name, input_shape, input_name, preprocessing)
// are kept, an "output" key is dropped (the cut layer is the last, hence the output). Layers
// whose implied input (the previous layer) changed get explicit "inputs".
json_ordered cut_architecture(const Model& model, std::size_t index);

// Names of the layers of an architecture JSON written by Model::to_json (every layer named).
std::set<std::string> layer_names(const json_ordered& arch);

// A new head: architecture layer objects appended after a base's output. The first head layer
// without "inputs" reads the base's output; unnamed head layers get Keras's default names,
// unique against the base (dense, dense_1, ... skipping the base's names).
//
// The head flag of cnn-finetune, a comma-separated list of items:
//   dense:UNITS[:ACTIVATION]   Dense; ACTIVATION defaults to relu except for the last item,
//                              which must name it (sigmoid, softmax, linear, ...)
//   dropout:RATE               Dropout, 0 <= RATE < 1
//   flatten | avg | max        Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D
//   batchnorm                  BatchNormalization
// e.g. "dense:256,dropout:0.5,dense:1:sigmoid". Throws ConfigError("--head", "", "", "item 2
// 'dens:3': ...") naming the item and what was expected.
json parse_head_spec(const std::string& spec);

// Whether a head layer list starts with a layer that reduces [h, w, c] to a vector (Flatten,
// GlobalAveragePooling2D, GlobalMaxPooling2D).
bool head_starts_with_pooling(const json& head);

// The layer object of a --pool choice: "flatten", "avg", "max" (Flatten,
// GlobalAveragePooling2D, GlobalMaxPooling2D); null json for "none".
json pooling_layer(const std::string& pool);

// Builds base_arch + head into a model. Unnamed head layers get Keras's default names, skipping
// the base's names and `reserved` (the names of layers cut off the base: their tensors are
// still in the base's weights file, so a new "dense" would pick up the old classifier's
// weights). Explicit head names that are already base names are errors; every error in a head
// layer is reported against head_source ("--head" or the head file) with the head's own layer
// index (/layers/j). Errors in the base are reported against base_file.
Model compose(const json_ordered& base_arch, const json& head, const std::string& base_file,
              const std::string& head_source, const std::set<std::string>& reserved = {});

// Freezing, in execution order. freeze_layers: exactly the named layers become frozen, every
// other layer trainable (cnn-finetune --freeze all: the base's layers). unfreeze_from: layers
// before index frozen, index and after trainable (Keras's "set_trainable" loop from
// block5_conv1). set_all_trainable: everything trainable (--freeze none).
void freeze_layers(Model& model, const std::set<std::string>& names);
void unfreeze_from(Model& model, std::size_t index);
void set_all_trainable(Model& model, bool trainable);

}  // namespace cnn
