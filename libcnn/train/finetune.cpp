// build_finetune_model: base -> cut -> head -> freezing; load_base_weights: by name, checked.
#include "train/finetune.hpp"

#include <filesystem>

#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "model/surgery.hpp"

namespace cnn::train {
namespace fs = std::filesystem;
namespace {

std::string shape_list(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

json_ordered ordered(const json& j) { return json_ordered::parse(j.dump()); }

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

}  // namespace

std::set<std::string> all_layer_names(const Model& model) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < model.size(); ++i) names.insert(model.node(i).layer->name());
  return names;
}

json read_head_file(const std::string& path) {
  json j = io::read_json(path);
  if (j.is_object()) {
    if (!j.contains("layers") || j.size() != 1)
      throw ConfigError(path, "", "", "expected a list of layers or {\"layers\": [...]}");
    j = j.at("layers");
  }
  if (!j.is_array() || j.empty())
    throw ConfigError(path, "", "", "expected a non-empty list of layer objects");
  return j;
}

FinetuneModel build_finetune_model(const FinetuneSpec& spec) {
  std::string model_path = spec.base;
  std::optional<std::string> weights, recipe;
  if (fs::is_directory(spec.base)) {
    model_path = (fs::path(spec.base) / "model.json").string();
    if (!fs::exists(model_path))
      throw InputError(spec.base,
                       "a base directory must hold model.json (a run directory, or "
                       "one written by cnn-import)");
    const std::string w = (fs::path(spec.base) / "weights.safetensors").string();
    if (fs::exists(w)) weights = w;
    const std::string r = (fs::path(spec.base) / "train.json").string();
    if (fs::exists(r)) recipe = r;
  }
  if (spec.weights) weights = *spec.weights;
  if (spec.head_spec && spec.head_file)
    throw ConfigError("--head", "", "", "give a head file or a head spec, not both");
  if (spec.freeze && spec.unfreeze_from)
    throw ConfigError("--freeze", "", "", "give --freeze or --unfreeze-from, not both");
  if (spec.freeze && *spec.freeze != "all" && *spec.freeze != "none")
    throw ConfigError("--freeze", "", "",
                      "unknown value '" + *spec.freeze + "'; expected one of all, none");

  const Model base = io::load_model(model_path);
  const std::size_t cut =
      spec.cut_at ? require_layer(base, *spec.cut_at, "--cut-at", model_path) : base.size() - 1;
  const json_ordered arch = cut_architecture(base, cut);
  const std::set<std::string> base_names = layer_names(arch);

  json head = json::array();
  std::string head_source;
  if (spec.head_spec) {
    head = parse_head_spec(*spec.head_spec);
    head_source = "--head";
  } else if (spec.head_file) {
    head = read_head_file(*spec.head_file);
    head_source = *spec.head_file;
  }
  if (spec.pool) {
    if (pooling_layer(*spec.pool).is_null() && *spec.pool != "none")
      throw ConfigError(
          "--pool", "", "",
          "unknown value '" + *spec.pool + "'; expected one of flatten, avg, max, none");
    if (head.empty())
      throw ConfigError("--pool", "", "", "puts a layer first in a new head; give --head too");
    if (*spec.pool != "none") head.insert(head.begin(), pooling_layer(*spec.pool));
  } else if (spec.head_spec && base.node(cut).out_shape.size() == 3 &&
             !head_starts_with_pooling(head)) {
    head.insert(head.begin(), pooling_layer("flatten"));
  }
  Model model = head.empty() ? Model::from_json(json::parse(arch.dump()), model_path)
                             : compose(arch, head, model_path, head_source, all_layer_names(base));

  if (spec.freeze && *spec.freeze == "all") freeze_layers(model, base_names);
  if (spec.freeze && *spec.freeze == "none") set_all_trainable(model, true);
  if (spec.unfreeze_from)
    unfreeze_from(model, require_layer(model, *spec.unfreeze_from, "--unfreeze-from", model_path));

  FinetuneModel out{std::move(model), model_path, weights, recipe, {}, {}, {}};
  for (std::size_t i = 0; i < out.model.size(); ++i) {
    const std::string& n = out.model.node(i).layer->name();
    (base_names.count(n) ? out.base_layers : out.new_layers).push_back(n);
  }
  json_ordered& r = out.record;
  r["base"] = absolute(model_path);
  r["weights"] = weights ? json_ordered(absolute(*weights)) : json_ordered();
  r["cut_at"] = base.node(cut).layer->name();
  r["head"] = head.empty() ? json_ordered() : ordered(head);
  r["head_source"] = head.empty() ? json_ordered()
                                  : json_ordered(spec.head_file ? absolute(head_source)
                                                                : "--head " + *spec.head_spec);
  r["freeze"] = spec.freeze ? json_ordered(*spec.freeze) : json_ordered();
  r["unfreeze_from"] = spec.unfreeze_from ? json_ordered(*spec.unfreeze_from) : json_ordered();
  r["base_layers"] = out.base_layers;
  r["new_layers"] = out.new_layers;
  r["total_params"] = out.model.param_count();
  r["trainable_params"] = out.model.trainable_param_count();
  return out;
}

io::PartialLoad load_base_weights(Model& model, const std::string& path,
                                  const std::set<std::string>& required) {
  {
    const io::SafetensorsFile f = io::read_safetensors(path);
    for (const auto& np : model.named_params()) {
      if (!required.count(np.layer->name())) continue;
      const io::SafeTensor* t = f.find(np.name);
      const std::string who = "layer '" + np.layer->name() + "': tensor '" + np.name + "'";
      const std::string hint = " (are these the weights of this model?)";
      if (!t)
        throw FormatError(path, std::nullopt,
                          who + " is missing; the model '" + model.name() +
                              "' needs it with shape " + shape_list(np.param->shape) + hint);
      if (t->shape != np.param->shape)
        throw FormatError(path, f.data_offset + t->begin,
                          who + " has shape " + shape_list(t->shape) + ", the model '" +
                              model.name() + "' needs " + shape_list(np.param->shape) + hint);
    }
  }
  return io::load_weights_partial(model, path);
}

}  // namespace cnn::train
