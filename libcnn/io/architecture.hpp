// Architecture files: model JSON on disk (DESIGN.md "Architecture JSON").
#pragma once

#include <string>

#include "model/model.hpp"

namespace cnn::io {

// Reads and parses a JSON file through cnn::parse_json: InputError when it cannot be read,
// ConfigError "file:line:column: not valid JSON: ..." when it is not JSON.
json read_json(const std::string& path);

// Parses and builds a model from a JSON file. Syntax errors are reported as
// "file:line:column: ..."; structural ones as ConfigError naming file, layer and field.
Model load_model(const std::string& path);

// Builds a model from JSON text (file names it in errors).
Model parse_model(const std::string& text, const std::string& file);

// The text of an architecture file: model.to_json() with "cnn_version" (the writer's version,
// as Keras records "keras_version"; readers ignore it), pretty with a 2-space indent.
std::string model_file_text(const Model& model);

// Writes model_file_text(model) atomically.
void save_model(const Model& model, const std::string& path);

}  // namespace cnn::io
