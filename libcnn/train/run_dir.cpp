// open_run, read_class_indices, data_preprocessing and plan_input (see run_dir.hpp).
#include "train/run_dir.hpp"

#include <cstdio>
#include <filesystem>
#include <set>

#include "data/augment.hpp"
#include "io/architecture.hpp"
#include "train/checkpoint.hpp"
#include "train/run.hpp"

namespace cnn::train {
namespace fs = std::filesystem;

std::vector<std::string> read_class_indices(const std::string& path) {
  const json ci = io::read_json(path);
  if (!ci.is_object() || ci.empty())
    throw FormatError(path, std::nullopt,
                      "expected {\"class name\": index, ...} with at least one class");
  std::vector<std::string> names(ci.size());
  std::vector<bool> seen(ci.size(), false);
  for (auto it = ci.begin(); it != ci.end(); ++it) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() >= names.size())
      throw FormatError(path, std::nullopt,
                        "class " + quote(it.key()) + ": expected an index from 0 to " +
                            std::to_string(names.size() - 1) + ", got " + json_brief(*it));
    const auto k = it->get<std::size_t>();
    if (seen[k])
      throw FormatError(path, std::nullopt,
                        "index " + std::to_string(k) + " is given to two classes");
    seen[k] = true;
    names[k] = it.key();
  }
  return names;
}

RunDir open_run(const std::string& target, const std::string& weights, NeedWeights need) {
  RunDir r;
  std::error_code ec;
  if (fs::is_directory(target, ec)) {
    r.dir = target;
    const fs::path dir(target);
    r.model_path = (dir / "model.json").string();
    if (!fs::exists(r.model_path, ec))
      throw InputError(target,
                       "has no model.json; expected a run directory (cnn-train, "
                       "cnn-finetune) or a model directory (cnn-import)");
    const std::string final_weights = (dir / "weights.safetensors").string();
    if (!weights.empty()) {
      r.weights_path = weights;
    } else if (fs::exists(final_weights, ec)) {
      r.weights_path = final_weights;
    } else if (const auto ckpt = latest_checkpoint(target)) {
      r.weights_path = (fs::path(*ckpt) / "weights.safetensors").string();
      r.weights_note =
          "the run has no weights.safetensors (it was interrupted, or is still "
          "training): using its latest checkpoint, " +
          fs::path(*ckpt).filename().string() + " (cnn-train --resume " + target + " finishes it)";
    }
    const std::string train_json = (dir / "train.json").string();
    if (fs::exists(train_json, ec)) {
      r.recipe = io::read_json(train_json);
      r.recipe_path = train_json;
      if (!r.recipe->is_object())
        throw ConfigError(train_json, "", "", "expected a JSON object (a training recipe)");
    }
    const std::string indices = (dir / "class_indices.json").string();
    if (fs::exists(indices, ec)) r.class_names = read_class_indices(indices);
  } else {
    if (!fs::exists(target, ec)) throw InputError(target, "no such run directory or model file");
    r.model_path = target;
    r.weights_path = weights;
  }
  if (r.weights_path.empty() && need == NeedWeights::yes)
    throw InputError(r.dir.empty() ? target : r.dir + "/weights.safetensors",
                     r.dir.empty() ? "an architecture file needs --weights W.safetensors (or give "
                                     "a run directory)"
                                   : "no such file, and the run has no checkpoint; give "
                                     "--weights W.safetensors");
  return r;
}

Preprocessing data_preprocessing(const DataRecipe& d, double default_rescale,
                                 std::optional<double> augment_rescale) {
  Preprocessing p;
  const double rescale = d.rescale.value_or(default_rescale) * augment_rescale.value_or(1.0);
  p.rescale = static_cast<float>(rescale);
  p.interpolation = d.interpolation.value_or("nearest");
  return p;
}

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

InputPlan plan_input(Model& model, const RunDir& run, const std::string& data_spec,
                     const json& overrides, std::size_t threads, const std::string& mnist_dir,
                     const std::function<void(const std::string&)>& note) {
  json recipe = default_recipe();
  if (run.recipe) merge_into(recipe, *run.recipe);
  // A run trained before models recorded their preprocessing: its train.json says what it was.
  if (!model.preprocessing() && run.recipe && model.input_shape().size() == 3) {
    const Recipe trained = parse_recipe(recipe, run.recipe_path, "");
    std::optional<double> augment_rescale;
    if (!trained.augment.is_null())
      augment_rescale = data::parse_augment_settings(trained.augment, trained.augment_file).rescale;
    model.set_preprocessing(data_preprocessing(
        trained.data, data::default_rescale(trained.data.train), augment_rescale));
  }
  json& d = recipe["data"];
  if (model.preprocessing()) {
    // The model applies these itself; the data is read as raw pixels.
    d["rescale"] = nullptr;
    d["interpolation"] = nullptr;
  }
  d["train"] = data_spec;
  d["validation"] = nullptr;
  d["validation_split"] = 0.0;
  d["on_bad_image"] = "fail";
  recipe["augment"] = nullptr;
  recipe["model"] = run.model_path;
  json over = overrides.is_object() ? overrides : json::object();
  if (model.preprocessing()) {
    Preprocessing p = *model.preprocessing();
    if (over.contains("rescale") && !over.at("rescale").is_null()) {
      const double r = over.at("rescale").get<double>();
      if (note && static_cast<float>(r) != p.rescale)
        note("--rescale " + number(r) + " overrides the model's rescale " + number(p.rescale));
      p.rescale = static_cast<float>(r);
      over.erase("rescale");
    }
    if (over.contains("interpolation") && !over.at("interpolation").is_null()) {
      const std::string i = over.at("interpolation").get<std::string>();
      if (note && !p.interpolation.empty() && i != p.interpolation)
        note("--interpolation " + i + " overrides the model's " + p.interpolation);
      p.interpolation = i;
      over.erase("interpolation");
    }
    model.set_preprocessing(p);
  }
  merge_into(d, over);
  InputPlan plan{
      parse_recipe(recipe, run.recipe_path.empty() ? run.model_path : run.recipe_path, ""), {}};
  plan.options = dataset_options(plan.recipe.data, model, threads, mnist_dir);
  return plan;
}

}  // namespace cnn::train
