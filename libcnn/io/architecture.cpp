// Architecture JSON files: parse with line:column errors, build, write atomically.
#include "io/architecture.hpp"

#include <algorithm>

#include "io/atomic_file.hpp"
#include "tensor/version.hpp"

namespace cnn::io {

json read_json(const std::string& path) { return parse_json(read_file(path), path); }

Model parse_model(const std::string& text, const std::string& file) {
  return Model::from_json(parse_json(text, file), file);
}

Model load_model(const std::string& path) { return parse_model(read_file(path), path); }

std::string model_file_text(const Model& model) {
  json_ordered j = model.to_json();
  j["cnn_version"] = version();
  return j.dump(2) + "\n";
}

void save_model(const Model& model, const std::string& path) {
  write_file_atomically(path, model_file_text(model));
}

}  // namespace cnn::io
