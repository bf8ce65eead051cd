// Shared steps of the importers: imported weights into a model by name, and the output directory.
#include "io/import.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "io/architecture.hpp"
#include "io/weights.hpp"

namespace cnn::io {

namespace fs = std::filesystem;

std::string shape_list(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Model build_imported(const ImportedModel& imported, const std::string& source) {
  Model model = Model::from_json(json(imported.architecture), source);
  std::set<std::string> used;
  for (const auto& np : model.named_params()) {
    const auto it = imported.weights.find(np.name);
    if (it == imported.weights.end())
      throw FormatError(
          source, std::nullopt,
          "no weights for parameter '" + np.name + "' (shape " + shape_list(np.param->shape) + ")");
    if (it->second.shape != np.param->shape || it->second.data.size() != np.param->size())
      throw FormatError(source, std::nullopt,
                        "tensor for '" + np.name + "' has shape " + shape_list(it->second.shape) +
                            ", the layer needs " + shape_list(np.param->shape));
    std::copy(it->second.data.begin(), it->second.data.end(), np.param->value);
    used.insert(np.name);
  }
  for (const auto& [name, t] : imported.weights)
    if (!used.count(name))
      throw FormatError(source, std::nullopt,
                        "tensor '" + name + "' is not a parameter of the imported model");
  return model;
}

void check_output_directory(const std::string& out_dir, bool overwrite) {
  std::error_code ec;
  if (!fs::exists(out_dir, ec)) return;
  if (!fs::is_directory(out_dir, ec))
    throw InputError(out_dir, "the output exists and is not a directory; choose another -o");
  if (!fs::is_empty(out_dir, ec) && !overwrite)
    throw InputError(out_dir,
                     "the output directory already has files; choose another -o or pass "
                     "--overwrite");
}

void write_import(Model& model, const std::string& out_dir, bool overwrite) {
  check_output_directory(out_dir, overwrite);
  std::error_code ec;
  const bool created = !fs::exists(out_dir, ec);
  fs::create_directories(out_dir, ec);
  if (ec) throw IoError(out_dir, "create directory", ec.message());
  const std::string weights_path = (fs::path(out_dir) / "weights.safetensors").string();
  const std::string model_path = (fs::path(out_dir) / "model.json").string();
  const bool had_weights = fs::exists(weights_path, ec), had_model = fs::exists(model_path, ec);
  try {
    save_weights(model, weights_path);
    save_model(model, model_path);
  } catch (...) {
    // Leave the directory as it was: remove what this call created, never older files.
    if (!had_weights) fs::remove(weights_path, ec);
    if (!had_model) fs::remove(model_path, ec);
    if (created) fs::remove_all(out_dir, ec);
    throw;
  }
}

}  // namespace cnn::io
