// Recipe resolution and validation.
#include "train/recipe.hpp"

#include <cctype>
#include <filesystem>

#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "tensor/text.hpp"
#include "train/loss.hpp"
#include "train/optimizer.hpp"

namespace cnn::train {
namespace {

json canonical_optimizer(const json& o, const std::string& file, std::vector<std::string>& notes) {
  // Keras accepts "rmsprop" / "adam" (any case), alone or as the type; an object's "lr" is
  // its old name of learning_rate.
  json out = o.is_string() ? json{{"type", o}} : o;
  if (out.contains("type") && out.at("type").is_string()) {
    std::string t = out.at("type").get<std::string>();
    for (const auto& name : optimizer_types())
      if (lower(name) == lower(t)) t = name;
    out["type"] = t;
  }
  if (out.contains("lr")) {
    if (out.contains("learning_rate"))
      throw ConfigError(file, "/optimizer/lr", "",
                        "give learning_rate or its old name lr, not both");
    out["learning_rate"] = out.at("lr");
    out.erase("lr");
    notes.push_back("optimizer.lr is Keras's old name of learning_rate; read as learning_rate");
  }
  return out;
}

// A path relative to base_dir, made absolute; unchanged when absolute or base_dir is empty.
std::string resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || base_dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return std::filesystem::absolute(std::filesystem::path(base_dir) / path)
      .lexically_normal()
      .string();
}

}  // namespace

json default_recipe() {
  return json::parse(R"({
    "model": null,
    "weights": null,
    "data": {"train": "fashion-mnist:train", "validation": null, "validation_split": 0.0,
             "target_size": null, "color_mode": null, "class_mode": null,
             "interpolation": null, "rescale": null, "on_bad_image": "fail",
             "check": "header", "classes": null},
    "loss": null,
    "optimizer": {"type": "RMSprop", "learning_rate": 0.001},
    "metrics": ["accuracy"],
    "top_k": 5,
    "batch_size": 32,
    "epochs": 1,
    "steps_per_epoch": null,
    "validation_steps": null,
    "shuffle": true,
    "seed": 0,
    "schedule": null,
    "early_stopping": null,
    "class_weight": null,
    "weight_decay": 0.0,
    "recalibrate_bn": 0,
    "sync_bn": false,
    "precision": "fp32",
    "augment": null
  })");
}

void merge_into(json& base, const json& patch) {
  if (!patch.is_object() || !base.is_object()) {
    base = patch;
    return;
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    auto b = base.find(it.key());
    // The optimizer is replaced whole when its type changes (other types have other fields).
    if (b != base.end() && b->is_object() && it->is_object() &&
        !(it.key() == "optimizer" && it->contains("type") && it->at("type").is_string() &&
          lower(b->value("type", "")) != lower(it->at("type").get<std::string>())))
      merge_into(*b, *it);
    else
      base[it.key()] = *it;
  }
}

void apply_assignment(json& recipe, const std::string& assignment, const std::string& base_dir) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(
        "--set", "", "",
        "expected KEY=VALUE (e.g. data.validation_split=0.2), got '" + assignment + "'");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json patch = parse_json_or_text(text);
  std::string rest = key;
  std::vector<std::string> parts;
  for (std::size_t p; (p = rest.find('.')) != std::string::npos; rest = rest.substr(p + 1))
    parts.push_back(rest.substr(0, p));
  parts.push_back(rest);
  if (parts.size() > 1 && parts[0] == "augment" && recipe.is_object() &&
      recipe.contains("augment") && recipe.at("augment").is_string())
    recipe["augment"] = io::read_json(resolve(recipe.at("augment").get<std::string>(), base_dir));
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) patch = json{{*it, patch}};
  merge_into(recipe, patch);
}

namespace {

std::optional<std::string> opt_string(ConfigReader& r, const std::string& key) {
  const json* v = r.get_raw(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) throw r.error(key, "expected a string or null, got " + json_brief(*v));
  return v->get<std::string>();
}

std::optional<std::size_t> opt_count(ConfigReader& r, const std::string& key) {
  const json* v = r.get_raw(key);
  if (!v || v->is_null()) return std::nullopt;
  return static_cast<std::size_t>(r.get_int(key, std::nullopt, 1));
}

// The data section (/data).
DataRecipe parse_data_recipe(const json& section, const std::string& file,
                             const std::string& base_dir) {
  DataRecipe r;
  ConfigReader d(section, file, "/data", "");
  auto train = opt_string(d, "train");
  if (!train) throw d.error("train", "missing: name a dataset (--data)");
  r.train = data::resolve_dataset_spec(*train, base_dir);
  r.validation = opt_string(d, "validation");
  if (r.validation) r.validation = data::resolve_dataset_spec(*r.validation, base_dir);
  r.validation_split = d.get_number("validation_split", 0.0, 0.0, 0.99);
  if (const json* ts = d.get_raw("target_size"); ts && !ts->is_null())
    r.target_size = d.get_pair("target_size", std::nullopt, 1);
  if (d.has("color_mode") && !section.at("color_mode").is_null())
    r.color_mode = d.get_choice("color_mode", std::nullopt, {"rgb", "grayscale"});
  else
    d.accept("color_mode");
  if (d.has("class_mode") && !section.at("class_mode").is_null())
    r.class_mode = d.get_choice("class_mode", std::nullopt, {"binary", "categorical", "sparse"});
  else
    d.accept("class_mode");
  if (d.has("interpolation") && !section.at("interpolation").is_null())
    r.interpolation = d.get_choice("interpolation", std::nullopt, {"nearest", "bilinear"});
  else
    d.accept("interpolation");
  if (const json* rs = d.get_raw("rescale"); rs && !rs->is_null())
    r.rescale = d.get_number("rescale", std::nullopt, 1e-12, 1e12);
  r.on_bad_image = d.get_choice("on_bad_image", std::string("fail"), {"fail", "skip"});
  r.check = d.get_choice("check", std::string("header"), {"header", "full"});
  if (const json* c = d.get_raw("classes"); c && !c->is_null()) {
    if (!c->is_array() || c->empty())
      throw d.error("classes", "expected a non-empty list of class names, got " + json_brief(*c));
    for (const auto& e : *c) {
      if (!e.is_string()) throw d.error("classes", "expected class names, got " + json_brief(*c));
      r.classes.push_back(e.get<std::string>());
    }
  }
  if (r.validation && r.validation_split > 0)
    throw d.error("validation_split",
                  "give either validation data or a validation_split, not both");
  d.finish();
  return r;
}

}  // namespace

ResolvedRecipe resolve_recipe(const RecipeSources& sources) {
  ResolvedRecipe r{default_recipe(), "<flags>", ""};
  if (sources.file) {
    json j = io::read_json(*sources.file);
    if (j.is_object())
      for (const auto& key : sources.ignore_from_file) j.erase(key);
    merge_into(r.recipe, j);
    r.file = *sources.file;
    r.base_dir = std::filesystem::path(*sources.file).parent_path().string();
  }
  merge_into(r.recipe, sources.flags);
  for (const auto& a : sources.assignments) apply_assignment(r.recipe, a, r.base_dir);
  return r;
}

Recipe parse_recipe(const json& j, const std::string& file, const std::string& base_dir) {
  Recipe r;
  r.file = file;
  ConfigReader top(j, file, "", "");
  auto model = opt_string(top, "model");
  if (!model) throw top.error("model", "missing: name an architecture JSON file (--model)");
  r.model = resolve(*model, base_dir);
  if (auto w = opt_string(top, "weights")) r.weights = resolve(*w, base_dir);

  const json* data = top.get_raw("data");
  if (!data) throw top.error("data", "missing required field");
  r.data = parse_data_recipe(*data, file, base_dir);

  if (const json* l = top.get_raw("loss"); l && !l->is_null())
    r.loss = top.get_choice("loss", std::nullopt, loss_names());
  const json* o = top.get_raw("optimizer");
  if (!o || !(o->is_object() || o->is_string()))
    throw top.error("optimizer",
                    "expected a name such as \"rmsprop\" or an object like "
                    "{\"type\": \"RMSprop\", \"learning_rate\": 0.001}");
  r.optimizer = parse_optimizer(canonical_optimizer(*o, file, r.notes), file, "/optimizer");
  if (const json* m = top.get_raw("metrics")) {
    if (!m->is_array()) throw top.error("metrics", "expected a list, got " + json_brief(*m));
    for (const auto& e : *m) {
      const std::vector<std::string> known = {"accuracy", "top_k_categorical_accuracy"};
      if (!e.is_string() ||
          std::find(known.begin(), known.end(), e.get<std::string>()) == known.end())
        throw top.error("metrics",
                        "unknown metric " + json_brief(e) + "; " +
                            choices_hint(e.is_string() ? e.get<std::string>() : "", known));
      r.metrics.push_back(e.get<std::string>());
    }
  }
  r.top_k = static_cast<std::size_t>(top.get_int("top_k", 5, 1));
  r.batch_size = static_cast<std::size_t>(top.get_int("batch_size", 32, 1, 1 << 20));
  r.epochs = static_cast<std::size_t>(top.get_int("epochs", 1, 1, 1000000));
  r.steps_per_epoch = opt_count(top, "steps_per_epoch");
  r.validation_steps = opt_count(top, "validation_steps");
  r.shuffle = top.get_bool("shuffle", true);
  r.seed = static_cast<std::uint64_t>(top.get_int("seed", 0, 0));
  if (const json* s = top.get_raw("schedule"); s && !s->is_null())
    r.schedule = parse_schedule(*s, file, "/schedule");
  if (const json* e = top.get_raw("early_stopping"); e && !e->is_null())
    r.early_stopping = parse_early_stopping(*e, file, "/early_stopping");
  if (const json* c = top.get_raw("class_weight")) r.class_weight = *c;
  r.weight_decay = top.get_number("weight_decay", 0.0, 0.0, 1e6);
  r.recalibrate_bn = static_cast<std::size_t>(top.get_int("recalibrate_bn", 0, 0, 1 << 30));
  r.sync_bn = top.get_bool("sync_bn", false);
  r.precision = top.get_choice("precision", std::string("fp32"), {"fp32", "bf16"}) == "bf16"
                    ? kernels::Precision::Bf16
                    : kernels::Precision::Fp32;
  if (const json* a = top.get_raw("augment"); a && !a->is_null()) {
    if (a->is_string()) {
      // A settings file (configs/augment/*.json), relative to the recipe.
      r.augment_file = resolve(a->get<std::string>(), base_dir);
      r.augment = io::read_json(r.augment_file);
      data::parse_augment_settings(r.augment, r.augment_file);
    } else if (a->is_object()) {
      r.augment = *a;
      r.augment_file = file;
      data::parse_augment_settings(r.augment, file, "/augment");
    } else {
      throw top.error("augment",
                      "expected ImageDataGenerator settings (an object) or the path "
                      "of a settings file, got " +
                          json_brief(*a));
    }
  }
  top.finish();
  return r;
}

}  // namespace cnn::train
