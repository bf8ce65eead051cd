// Architecture files: model JSON on disk (DESIGN.md "Architecture JSON").
#pragma once

#include <string>

#include "model/model.hpp"

namespace cnn::io {

// Parses JSON text; a syntax error is a ConfigError located "file:line:column: not valid JSON:
// ..." (nlohmann's byte offset turned into a line and column).
json parse_json(const std::string& text, const std::string& file);

// Parses and builds a model from a JSON file. Syntax errors are reported as
// "file:line:column: ..."; structural ones as ConfigError naming file, layer and field.
Model load_model(const std::string& path);

// Builds a model from JSON text (file names it in errors).
Model parse_model(const std::string& text, const std::string& file);

// Writes model.to_json() (pretty, 2-space indent) atomically.
void save_model(const Model& model, const std::string& path);

}  // namespace cnn::io
