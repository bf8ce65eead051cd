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
#include "train/run_dir.hpp"

namespace cnn::viz {
namespace fs = std::filesystem;

Target load_target(const std::string& target, const std::string& weights, std::size_t threads,
                   bool allow_no_weights) {
  const train::RunDir run = train::open_run(
      target, weights, allow_no_weights ? train::NeedWeights::no : train::NeedWeights::yes);
  Model model = io::load_model(run.model_path);
  if (!run.weights_path.empty()) io::load_weights(model, run.weights_path);
  for (std::size_t i = 0; i < model.size(); ++i) model.set_trainable(i, false);
  // How a photo becomes an input: exactly as cnn-eval --images reads it.
  const train::InputPlan plan =
      train::plan_input(model, run, "<images>", json::object(), threads, "");
  Target t{std::move(model), run.model_path,  run.weights_path, run.dir, {},
           run.class_names,  run.weights_note};
  t.image_options = plan.options;
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

std::size_t find_layer(const Model& model, const std::string& name, const std::string& file) {
  if (auto i = model.find(name)) return *i;
  std::string list;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < model.size(); ++i) {
    names.push_back(model.node(i).layer->name());
    list += (i ? ", " : "") + names.back();
  }
  const std::string guess = nearest(name, names);
  throw ConfigError(file, "", "",
                    "no layer is named " + quote(name) +
                        (guess.empty() ? "" : "; did you mean " + quote(guess) + "?") +
                        " The layers are: " + list);
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
  if (!found)
    throw ConfigError(file, "", "", what + " needs a Conv2D layer, and the model has none");
  return *found;
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
    if (!fs::is_directory(dir, ec))
      throw IoError(dir, "create folder", "exists and is not a folder");
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
