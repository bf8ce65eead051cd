// Loading models and images for the visualisations, and writing their outputs (see source.hpp).
#include "viz/source.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/weights.hpp"
#include "train/recipe.hpp"
#include "train/run.hpp"

namespace cnn::viz {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> read_class_indices(const std::string& path) {
  std::vector<std::string> names;
  try {
    const json ci = json::parse(io::read_file(path));
    names.resize(ci.size());
    for (auto it = ci.begin(); it != ci.end(); ++it) {
      const auto k = it->get<std::size_t>();
      if (k >= names.size())
        throw FormatError(path, std::nullopt, "class index " + std::to_string(k) + " is out of range");
      names[k] = it.key();
    }
  } catch (const json::exception& e) {
    throw FormatError(path, std::nullopt, std::string("expected {\"class name\": index, ...}: ") + e.what());
  }
  return names;
}

}  // namespace

Target load_target(const std::string& target, const std::string& weights, std::size_t threads,
                   bool allow_no_weights) {
  std::string model_path = target, weights_path = weights, run_dir;
  json recipe = train::default_recipe();
  std::vector<std::string> classes;
  if (fs::is_directory(target)) {
    run_dir = target;
    model_path = (fs::path(target) / "model.json").string();
    if (weights_path.empty()) weights_path = (fs::path(target) / "weights.safetensors").string();
    const std::string train_json = (fs::path(target) / "train.json").string();
    if (fs::exists(train_json)) {
      json saved;
      try {
        saved = json::parse(io::read_file(train_json));
      } catch (const json::parse_error& e) {
        throw FormatError(train_json, e.byte, "not valid JSON");
      }
      train::merge_into(recipe, saved);
    }
    const std::string indices = (fs::path(target) / "class_indices.json").string();
    if (fs::exists(indices)) classes = read_class_indices(indices);
  } else if (weights_path.empty() && !allow_no_weights) {
    throw InputError(target, "an architecture JSON needs --weights (or give a run directory)");
  }
  Model model = io::load_model(model_path);
  if (!weights_path.empty()) io::load_weights(model, weights_path);
  for (std::size_t i = 0; i < model.size(); ++i) model.set_trainable(i, false);

  // The run's data section decides how a photo becomes an input (as cnn-eval --images).
  recipe["model"] = model_path;
  recipe["data"]["train"] = "<images>";
  recipe["data"]["validation"] = nullptr;
  recipe["data"]["validation_split"] = 0.0;
  recipe["data"]["on_bad_image"] = "fail";
  const train::Recipe r =
      train::parse_recipe(recipe, run_dir.empty() ? model_path : run_dir + "/train.json", "");
  Target t{std::move(model), model_path, weights_path, run_dir, {}, std::move(classes)};
  t.image_options = train::dataset_options(r.data, t.model, threads, "");
  return t;
}

Tensor load_input(const Target& t, const std::string& image) {
  std::vector<std::string> names = t.class_names;
  if (names.empty()) names = {"0", "1"};
  data::DatasetOptions o = t.image_options;
  o.classes.clear();
  const data::ImageFilesDataset ds({image}, o, names);
  if (ds.sample_shape() != t.model.input_shape())
    throw DataError(image, "read as " + shape_str(ds.sample_shape()) + ", but the model expects " +
                               shape_str(t.model.input_shape()));
  Tensor x;
  ensure_shape(x, batch_shape(1, t.model.input_shape()));
  std::int32_t label = 0;
  ds.load(0, x.data(), label, 0);
  return x;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::size_t find_layer(const Model& model, const std::string& name, const std::string& file) {
  if (auto i = model.find(name)) return *i;
  std::string list, nearest;
  std::size_t best = static_cast<std::size_t>(-1);
  for (std::size_t i = 0; i < model.size(); ++i) {
    const std::string& n = model.node(i).layer->name();
    list += (i ? ", " : "") + n;
    if (const std::size_t d = edit_distance(name, n); d < best) best = d, nearest = n;
  }
  throw ConfigError(file, "", "", "no layer is named " + quote(name) + "; did you mean " +
                                      quote(nearest) + "? The layers are: " + list);
}

std::size_t find_conv_layer(const Model& model, const std::optional<std::string>& name,
                            const std::string& file, bool first, const std::string& what) {
  if (name) {
    const std::size_t i = find_layer(model, *name, file);
    const std::string type = model.node(i).layer->type();
    if (type != "Conv2D")
      throw ConfigError(file, "", *name, what + " needs a Conv2D layer, and this one is " + type);
    return i;
  }
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < model.size(); ++i)
    if (model.node(i).layer->type() == "Conv2D" && (!found || !first)) found = i;
  if (!found) throw ConfigError(file, "", "", what + " needs a Conv2D layer, and the model has none");
  return *found;
}

std::vector<std::string> read_class_names(const std::string& path) {
  std::istringstream in(io::read_file(path));
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) throw DataError(path, "has no class names; expected one name per line");
  return names;
}

void Outputs::check_file(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (fs::is_directory(path)) throw IoError(path, "write", "is a directory");
  io::check_writable_directory(dir.string());
}

void Outputs::prepare_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw IoError(dir, "create folder", "exists and is not a folder");
  } else {
    if (!fs::create_directory(dir, ec) || ec) throw IoError(dir, "create folder", ec.message());
    created_dir_ = dir;
  }
  io::check_writable_directory(dir);
}

void Outputs::add(std::string path, std::vector<std::uint8_t> bytes) {
  files_.emplace_back(std::move(path), std::move(bytes));
}

void Outputs::add(std::string path, const std::string& text) {
  add(std::move(path), std::vector<std::uint8_t>(text.begin(), text.end()));
}

std::vector<std::string> Outputs::commit() {
  std::vector<std::string> written;
  try {
    for (const auto& [path, bytes] : files_) {
      io::write_file_atomically(
          path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
      written.push_back(path);
    }
  } catch (...) {
    std::error_code ec;
    for (const auto& p : written) fs::remove(p, ec);
    throw;
  }
  committed_ = true;
  return written;
}

Outputs::~Outputs() {
  // A folder created for outputs that were never written is removed (when still empty).
  if (!committed_ && !created_dir_.empty()) {
    std::error_code ec;
    fs::remove(created_dir_, ec);
  }
}

}  // namespace cnn::viz
