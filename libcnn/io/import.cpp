// Shared steps of the importers: imported weights into a model by name, and the output directory.
#include "io/import.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/weights.hpp"

namespace cnn::io {

namespace fs = std::filesystem;

std::string unique_name(const std::string& want, std::set<std::string>& taken) {
  std::string name = want;
  for (int k = 1; taken.count(name); ++k) name = want + "_" + std::to_string(k);
  taken.insert(name);
  return name;
}

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

std::vector<std::string> read_class_names(const std::string& path, const Model* model) {
  std::vector<std::string> lines;
  {
    std::istringstream in(read_file(path));
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
    }
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) throw DataError(path, "no class names; expected one name per line");
  std::vector<std::string> names, ids;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty())
      throw DataError(path + ":" + std::to_string(i + 1),
                      "an empty class name; expected one name per line");
    // "n01440764 tench, Tinca tinca": a WordNet id, a space, the name.
    const bool synset =
        l.size() > 10 && l[0] == 'n' && l[9] == ' ' &&
        std::all_of(l.begin() + 1, l.begin() + 9, [](char c) { return c >= '0' && c <= '9'; });
    ids.push_back(synset ? l.substr(0, 9) : "");
    names.push_back(synset ? l.substr(10) : l);
  }
  std::map<std::string, std::size_t> count;
  for (const auto& n : names) ++count[n];
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (count[names[i]] < 2) continue;
    if (ids[i].empty())
      throw DataError(
          path + ":" + std::to_string(i + 1),
          "the class name '" + names[i] + "' occurs more than once; names must be unique");
    names[i] += " (" + ids[i] + ")";
  }
  if (model) {
    const Shape& out = model->output_shape();
    const std::size_t k = out.size() == 1 ? out[0] : 0;
    const std::size_t want = k == 1 ? 2 : k;
    if (names.size() != want)
      throw DataError(path, std::to_string(names.size()) + " class names, but the model '" +
                                model->name() + "' has " +
                                (k == 0 ? "no vector output"
                                        : std::to_string(k) + " output" +
                                              (k == 1 ? " (a binary model needs 2 names)" : "s")));
  }
  return names;
}

void write_import(Model& model, const std::string& out_dir, bool overwrite,
                  const std::vector<std::string>& class_names) {
  check_output_directory(out_dir, overwrite);
  std::error_code ec;
  const bool created = !fs::exists(out_dir, ec);
  fs::create_directories(out_dir, ec);
  if (ec) throw IoError(out_dir, "create directory", ec.message());
  const std::string weights_path = (fs::path(out_dir) / "weights.safetensors").string();
  const std::string model_path = (fs::path(out_dir) / "model.json").string();
  const std::string classes_path = (fs::path(out_dir) / "class_indices.json").string();
  const bool had_weights = fs::exists(weights_path, ec), had_model = fs::exists(model_path, ec);
  const bool had_classes = fs::exists(classes_path, ec);
  try {
    save_weights(model, weights_path);
    save_model(model, model_path);
    if (!class_names.empty()) {
      nlohmann::ordered_json ci = nlohmann::ordered_json::object();
      for (std::size_t i = 0; i < class_names.size(); ++i) ci[class_names[i]] = i;
      write_file_atomically(classes_path, ci.dump(2) + "\n");
    }
  } catch (...) {
    // Leave the directory as it was: remove what this call created, never older files.
    if (!had_weights) fs::remove(weights_path, ec);
    if (!had_model) fs::remove(model_path, ec);
    if (!class_names.empty() && !had_classes) fs::remove(classes_path, ec);
    if (created) fs::remove_all(out_dir, ec);
    throw;
  }
}

}  // namespace cnn::io
