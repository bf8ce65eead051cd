// See keras_model.hpp. The Keras JSON is read by hand (not ConfigReader): its keys are Keras's,
// most of them are dropped or renamed, and errors point into the Keras file.
#include "io/keras_model.hpp"

#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "io/atomic_file.hpp"
#include "model/model.hpp"
#include "tensor/error.hpp"
#include "tensor/text.hpp"

namespace cnn::io {
namespace fs = std::filesystem;
namespace {

// Keras class names -> this project's layer types (same names, and Keras's aliases).
const std::map<std::string, std::string>& layer_classes() {
  static const std::map<std::string, std::string> m = {
      {"Conv2D", "Conv2D"},
      {"Convolution2D", "Conv2D"},
      {"MaxPooling2D", "MaxPooling2D"},
      {"MaxPool2D", "MaxPooling2D"},
      {"AveragePooling2D", "AveragePooling2D"},
      {"AvgPool2D", "AveragePooling2D"},
      {"GlobalAveragePooling2D", "GlobalAveragePooling2D"},
      {"GlobalAvgPool2D", "GlobalAveragePooling2D"},
      {"GlobalMaxPooling2D", "GlobalMaxPooling2D"},
      {"GlobalMaxPool2D", "GlobalMaxPooling2D"},
      {"ZeroPadding2D", "ZeroPadding2D"},
      {"Flatten", "Flatten"},
      {"Permute", "Permute"},
      {"Dense", "Dense"},
      {"Dropout", "Dropout"},
      {"Rescaling", "Rescaling"},
      {"BatchNormalization", "BatchNormalization"},
      {"Activation", "Activation"},
      {"Add", "Add"},
      {"Concatenate", "Concatenate"},
  };
  return m;
}

// A Keras name as a name this project accepts (letters, digits, '_', '-').
std::string clean_name(const std::string& name) {
  std::string out = name.empty() ? std::string("layer") : name;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) c = '_';
  return out;
}

// The name a Keras config gives layer i (of class cls, config cfg): its "name", else its config's
// "name", else cls_i.
std::string keras_layer_name(const json& l, const json& cfg, const std::string& cls,
                             std::size_t i) {
  if (l.contains("name") && l.at("name").is_string()) return l.at("name").get<std::string>();
  if (cfg.is_object() && cfg.contains("name") && cfg.at("name").is_string())
    return cfg.at("name").get<std::string>();
  return cls + "_" + std::to_string(i);
}

class Converter {
 public:
  Converter(const std::string& file, std::vector<std::string>& notes,
            std::vector<std::pair<std::string, long>>& softmax_axes)
      : file_(file), notes_(notes), softmax_axes_(softmax_axes) {}

  json_ordered run(const json& keras, std::string base);

 private:
  ConfigError error(const std::string& pointer, const std::string& layer,
                    const std::string& problem) const {
    return ConfigError(file_, pointer, layer, problem);
  }
  const json& member(const json& j, const char* key, const std::string& pointer,
                     const std::string& layer) const {
    if (!j.is_object() || !j.contains(key))
      throw error(pointer, layer, std::string("missing \"") + key + "\"");
    return j.at(key);
  }
  std::string string_at(const json& j, const char* key, const std::string& pointer,
                        const std::string& layer) const {
    const json& v = member(j, key, pointer, layer);
    if (!v.is_string())
      throw error(pointer + "/" + key, layer, "expected a string, got " + json_brief(v));
    return v.get<std::string>();
  }
  // [null, h, w, c] (batch) or [h, w, c] as the sample shape.
  json sample_shape(const json& v, bool with_batch, const std::string& pointer,
                    const std::string& layer) const;
  std::optional<json> input_shape_of(const json& cfg, const std::string& pointer,
                                     const std::string& layer) const;
  json_ordered layer_json(const std::string& cls, const json& cfg, const std::string& name,
                          const std::string& pointer);
  void copy_keys(const json& cfg, json_ordered& out, const std::string& type,
                 const std::string& pointer, const std::string& name);
  std::optional<std::string> initializer(const json& v, const std::string& pointer,
                                         const std::string& layer);
  // The names of the layers a layer's inbound_nodes read (Keras 2 lists, Keras 3 args).
  std::vector<std::string> inbound(const json& layer, const std::string& pointer,
                                   const std::string& name) const;
  std::string single_layer_ref(const json& refs, const std::string& pointer,
                               const char* what) const;

  const std::string& file_;
  std::vector<std::string>& notes_;
  std::vector<std::pair<std::string, long>>& softmax_axes_;
};

json Converter::sample_shape(const json& v, bool with_batch, const std::string& pointer,
                             const std::string& layer) const {
  if (!v.is_array() || v.size() < (with_batch ? 2u : 1u))
    throw error(pointer, layer, "expected a shape, got " + json_brief(v));
  json out = json::array();
  for (std::size_t i = with_batch ? 1 : 0; i < v.size(); ++i) {
    if (!v[i].is_number_integer() || v[i].get<long long>() < 1)
      throw error(pointer, layer,
                  "the input shape " + v.dump() +
                      " has a dimension that is not a fixed positive size; give the model a "
                      "fixed input size (e.g. Input(shape=(150, 150, 3)))");
    out.push_back(v[i]);
  }
  return out;
}

std::optional<json> Converter::input_shape_of(const json& cfg, const std::string& pointer,
                                              const std::string& layer) const {
  for (const char* key : {"batch_input_shape", "batch_shape"})
    if (cfg.contains(key) && !cfg.at(key).is_null())
      return sample_shape(cfg.at(key), true, pointer + "/" + key, layer);
  for (const char* key : {"input_shape", "shape"})
    if (cfg.contains(key) && !cfg.at(key).is_null())
      return sample_shape(cfg.at(key), false, pointer + "/" + key, layer);
  return std::nullopt;
}

std::optional<std::string> Converter::initializer(const json& v, const std::string& pointer,
                                                  const std::string& layer) {
  std::string cls;
  json cfg = json::object();
  if (v.is_string()) {
    cls = v.get<std::string>();
  } else if (v.is_object() && v.contains("class_name") && v.at("class_name").is_string()) {
    cls = v.at("class_name").get<std::string>();
    if (v.contains("config") && v.at("config").is_object()) cfg = v.at("config");
  }
  // A Keras class name, or one of ours (which Keras accepts as strings too).
  for (const auto& [keras, ours] : keras_initializer_classes())
    if (cls == keras || cls == ours) return ours;
  if (cls == "VarianceScaling") {
    auto text = [&](const char* key, const char* def) {
      return cfg.contains(key) && cfg.at(key).is_string() ? cfg.at(key).get<std::string>()
                                                          : std::string(def);
    };
    const double scale =
        cfg.contains("scale") && cfg.at("scale").is_number() ? cfg.at("scale").get<double>() : 1.0;
    const std::string mode = text("mode", "fan_in");
    const std::string dist = text("distribution", "truncated_normal");
    const bool uniform = dist == "uniform";
    if (scale == 1.0 && mode == "fan_avg") return uniform ? "glorot_uniform" : "glorot_normal";
    if (scale == 2.0 && mode == "fan_in") return uniform ? "he_uniform" : "he_normal";
  }
  notes_.push_back("layer '" + layer + "': " + pointer.substr(pointer.rfind('/') + 1) + " " +
                   json_brief(v) +
                   " has no equivalent here; the default is used if the model is trained from "
                   "its initial weights");
  return std::nullopt;
}

void Converter::copy_keys(const json& cfg, json_ordered& out, const std::string& type,
                          const std::string& pointer, const std::string& name) {
  // Keys that never change what the layer computes here, at any value.
  static const std::set<std::string> ignored = {
      "name",     "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dim",
      "autocast", "fused", "renorm_momentum",   "sparse",      "ragged",      "build_config"};
  // Keys accepted only at the value that means "nothing special".
  static const std::map<std::string, json> neutral = {{"groups", 1},
                                                      {"renorm", false},
                                                      {"synchronized", false},
                                                      {"noise_shape", nullptr},
                                                      {"lora_rank", nullptr},
                                                      {"virtual_batch_size", nullptr},
                                                      {"adjustment", nullptr},
                                                      {"renorm_clipping", nullptr},
                                                      {"quantization_config", nullptr}};
  for (const auto& [key, v] : cfg.items()) {
    const std::string at = pointer + "/" + key;
    if (ignored.count(key)) continue;
    if (const auto it = neutral.find(key); it != neutral.end()) {
      if (v != it->second)
        throw error(at, name,
                    key + " " + v.dump() + " is not supported (only " + it->second.dump() + ")");
      continue;
    }
    if (key == "data_format") {
      if (!v.is_null() && v != "channels_last")
        throw error(at, name,
                    "data_format " + v.dump() +
                        " is not supported: this project computes channels_last (NHWC)");
      continue;
    }
    if (key.ends_with("_regularizer")) {
      if (!v.is_null())
        throw error(at, name,
                    key + " " + json_brief(v) +
                        " is not supported: it changes training (use the recipe's weight_decay "
                        "for an L2 penalty on every kernel)");
      continue;
    }
    if (key.ends_with("_constraint")) {
      if (!v.is_null())
        notes_.push_back("layer '" + name + "': " + key + " dropped (it only clips weights while " +
                         "Keras trains)");
      continue;
    }
    if (key == "seed" && type == "Dropout") {
      if (!v.is_null())
        notes_.push_back("layer '" + name +
                         "': the dropout seed is dropped; a run's randomness comes from --seed");
      continue;
    }
    if (v.is_null()) continue;  // null is every key's default here
    if (key.ends_with("_initializer")) {
      if (auto init = initializer(v, at, name)) out[key] = *init;
      continue;
    }
    out[key] = v;
  }
}

json_ordered Converter::layer_json(const std::string& cls, const json& cfg, const std::string& name,
                                   const std::string& pointer) {
  json_ordered out;
  // Activation layers with options: only the forms computed here.
  if (cls == "ReLU" || cls == "Softmax" || cls == "LeakyReLU") {
    out["type"] = "Activation";
    out["name"] = name;
    auto number = [&](const char* key, double def) {
      return cfg.contains(key) && cfg.at(key).is_number() ? cfg.at(key).get<double>() : def;
    };
    if (cls == "ReLU") {
      if ((cfg.contains("max_value") && !cfg.at("max_value").is_null()) ||
          number("negative_slope", 0) != 0 || number("threshold", 0) != 0)
        throw error(pointer, name,
                    "ReLU with max_value, negative_slope or threshold is not supported (only "
                    "the plain relu)");
      out["activation"] = "relu";
    } else if (cls == "Softmax") {
      json axis = cfg.contains("axis") ? cfg.at("axis") : json(-1);
      if (axis.is_array() && axis.size() == 1) axis = axis[0];
      if (!axis.is_number_integer() || (axis != -1 && axis.get<long>() < 1))
        throw error(pointer + "/config/axis", name,
                    "Softmax over axis " + axis.dump() + " is not supported (only the last)");
      if (axis != -1) softmax_axes_.emplace_back(name, axis.get<long>());
      out["activation"] = "softmax";
    } else {
      const double slope = number("negative_slope", number("alpha", 0.3));
      if (std::fabs(slope - 0.2) > 1e-7)
        throw error(pointer, name,
                    "LeakyReLU with slope " + std::to_string(slope) +
                        " is not supported (only 0.2, tf.nn.leaky_relu's)");
      out["activation"] = "leaky_relu";
    }
    if (cfg.contains("trainable") && cfg.at("trainable").is_boolean())
      out["trainable"] = cfg.at("trainable");
    return out;
  }
  const auto it = layer_classes().find(cls);
  if (it == layer_classes().end()) {
    if (cls == "Sequential" || cls == "Model" || cls == "Functional")
      throw error(pointer, name,
                  "a model nested in the model is not supported; flatten it in Keras first "
                  "(build the outer model from the inner model's layers)");
    std::vector<std::string> known;
    for (const auto& [k, t] : layer_classes()) known.push_back(k);
    throw error(pointer, name,
                "the Keras layer " + cls + " has no equivalent here; " + choices_hint(cls, known));
  }
  out["type"] = it->second;
  out["name"] = name;
  copy_keys(cfg, out, it->second, pointer + "/config", name);
  return out;
}

std::vector<std::string> Converter::inbound(const json& layer, const std::string& pointer,
                                            const std::string& name) const {
  std::vector<std::string> refs;
  if (!layer.contains("inbound_nodes") || !layer.at("inbound_nodes").is_array())
    throw error(pointer, name, "missing \"inbound_nodes\"");
  const json& nodes = layer.at("inbound_nodes");
  if (nodes.empty()) throw error(pointer + "/inbound_nodes", name, "the layer is not connected");
  if (nodes.size() > 1)
    throw error(pointer + "/inbound_nodes", name,
                "the layer is called " + std::to_string(nodes.size()) +
                    " times (a shared layer); shared layers are not supported");
  const json& node = nodes[0];
  // Keras 3: {"args": [...], "kwargs": {...}} with keras tensors in args.
  std::function<void(const json&)> tensors = [&](const json& v) {
    if (v.is_array()) {
      for (const auto& e : v) tensors(e);
    } else if (v.is_object() && v.contains("class_name") &&
               v.at("class_name") == "__keras_tensor__") {
      const json* h = v.contains("config") && v.at("config").is_object() &&
                              v.at("config").contains("keras_history")
                          ? &v.at("config").at("keras_history")
                          : nullptr;
      if (!h || !h->is_array() || h->empty() || !(*h)[0].is_string())
        throw error(pointer + "/inbound_nodes", name, "a keras tensor without keras_history");
      const json& hist = *h;
      if (hist.size() > 1 && hist[1] != 0)
        throw error(pointer + "/inbound_nodes", name, "reads a shared layer's second call");
      refs.push_back(hist[0].get<std::string>());
    }
  };
  if (node.is_object()) {
    if (node.contains("args")) tensors(node.at("args"));
  } else if (node.is_array()) {
    // Keras 2: [[name, node_index, tensor_index, kwargs], ...]
    for (const auto& ref : node) {
      if (!ref.is_array() || ref.empty() || !ref[0].is_string())
        throw error(pointer + "/inbound_nodes", name, "expected [layer, node, tensor, kwargs]");
      if (ref.size() > 1 && ref[1] != 0)
        throw error(pointer + "/inbound_nodes", name, "reads a shared layer's second call");
      refs.push_back(ref[0].get<std::string>());
    }
  }
  if (refs.empty()) throw error(pointer + "/inbound_nodes", name, "the layer reads no tensor");
  return refs;
}

std::string Converter::single_layer_ref(const json& refs, const std::string& pointer,
                                        const char* what) const {
  // [[name, 0, 0]] (a list of one), or [name, 0, 0] (Keras 3 with one).
  const json* ref = &refs;
  if (refs.is_array() && !refs.empty() && refs[0].is_array()) {
    if (refs.size() != 1)
      throw error(pointer, "",
                  std::string("a model with ") + std::to_string(refs.size()) + " " + what +
                      "s is not supported (one " + what + ")");
    ref = &refs[0];
  }
  if (!ref->is_array() || ref->empty() || !(*ref)[0].is_string())
    throw error(pointer, "",
                std::string("expected the ") + what + " layer, got " + json_brief(refs));
  return (*ref)[0].get<std::string>();
}

json_ordered Converter::run(const json& keras, std::string base) {
  const json* top = &keras;
  if (top->is_object() && top->contains("model_config")) {
    top = &top->at("model_config");
    base += "/model_config";
  }
  const std::string cls = string_at(*top, "class_name", base, "");
  if (cls != "Sequential" && cls != "Model" && cls != "Functional")
    throw error(base + "/class_name", "",
                "expected a Keras model (Sequential, Model or Functional), got " + cls);
  const json& config = member(*top, "config", base, "");
  const bool sequential = cls == "Sequential";
  // Keras 2.0 wrote a Sequential's config as the list of its layers.
  const json& layers = config.is_array() ? config : member(config, "layers", base + "/config", "");
  const std::string layers_at = base + (config.is_array() ? "/config" : "/config/layers");
  if (!layers.is_array() || layers.empty())
    throw error(layers_at, "", "expected a non-empty list of layers");

  json_ordered arch;
  const std::string model_name =
      config.is_object() && config.contains("name") && config.at("name").is_string()
          ? config.at("name").get<std::string>()
          : std::string("model");
  arch["name"] = clean_name(model_name);
  std::optional<json> input_shape;
  std::string input_name = "input_1";
  std::map<std::string, std::string> renamed;  // Keras name -> ours
  json_ordered out_layers = json_ordered::array();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string at = layers_at + "/" + std::to_string(i);
    const json& l = layers[i];
    const std::string lcls = string_at(l, "class_name", at, "");
    const json& cfg = member(l, "config", at, "");
    if (!cfg.is_object())
      throw error(at + "/config", "", "expected an object, got " + json_brief(cfg));
    const std::string keras_name = keras_layer_name(l, cfg, lcls, i);
    const std::string name = clean_name(keras_name);
    if (name != keras_name)
      notes_.push_back("layer '" + keras_name + "' is named '" + name + "' here");
    renamed[keras_name] = name;
    if (lcls == "InputLayer") {
      if (input_shape)
        throw error(at, name, "a model with several inputs is not supported (one input)");
      input_shape = input_shape_of(cfg, at + "/config", name);
      if (!input_shape) throw error(at + "/config", name, "the InputLayer has no shape");
      input_name = name;
      continue;
    }
    if (sequential && !input_shape) {
      input_shape = input_shape_of(cfg, at + "/config", name);
      if (!input_shape)
        throw error(at + "/config", name,
                    "the first layer has no input shape (batch_input_shape); build the model "
                    "with an Input or an input_shape before saving it");
    }
    json_ordered lj = layer_json(lcls, cfg, name, at);
    if (!sequential) {
      json_ordered inputs = json_ordered::array();
      for (const auto& r : inbound(l, at, name)) inputs.push_back(r);
      lj["inputs"] = inputs.size() == 1 ? inputs[0] : inputs;
    }
    out_layers.push_back(lj);
  }
  if (!input_shape) throw error(layers_at, "", "the model has no input layer");
  if (out_layers.empty()) throw error(layers_at, "", "the model has no layers after its input");
  // Inputs by our names.
  auto ours = [&](const std::string& keras_name, const std::string& pointer) {
    const auto it = renamed.find(keras_name);
    if (it == renamed.end()) throw error(pointer, "", "no layer named '" + keras_name + "'");
    return it->second;
  };
  for (auto& lj : out_layers) {
    if (!lj.contains("inputs")) continue;
    json_ordered& in = lj["inputs"];
    if (in.is_string())
      in = ours(in.get<std::string>(), layers_at);
    else
      for (auto& e : in) e = ours(e.get<std::string>(), layers_at);
  }
  arch["input_shape"] = *input_shape;
  arch["input_name"] = input_name;
  arch["layers"] = out_layers;
  if (!sequential) {
    if (config.contains("input_layers")) {
      const std::string in =
          ours(single_layer_ref(config.at("input_layers"), base + "/config/input_layers", "input"),
               base + "/config/input_layers");
      if (in != input_name)
        throw error(base + "/config/input_layers", "", "the input is not the InputLayer");
    }
    arch["output"] = ours(single_layer_ref(member(config, "output_layers", base + "/config", ""),
                                           base + "/config/output_layers", "output"),
                          base + "/config/output_layers");
  }
  return arch;
}

}  // namespace

KerasModel keras_architecture(const json& keras, const std::string& file) {
  KerasModel k;
  Converter c(file, k.imported.notes, k.softmax_axes);
  k.imported.architecture =
      is_tfjs_model(keras) ? c.run(keras.at("modelTopology"), "/modelTopology") : c.run(keras, "");
  return k;
}

void check_softmax_axes(const Model& model, const KerasModel& keras, const std::string& file) {
  for (const auto& [layer, axis] : keras.softmax_axes) {
    const auto i = model.find(layer);
    if (!i) continue;
    const long last = static_cast<long>(model.node(*i).out_shape.size());
    if (axis != last)
      throw ConfigError(file, "", layer,
                        "Softmax over axis " + std::to_string(axis) + " of an input of rank " +
                            std::to_string(last + 1) + " is not supported (only the last, " +
                            std::to_string(last) + ")");
  }
}

bool is_tfjs_model(const json& j) { return j.is_object() && j.contains("modelTopology"); }

KerasModel import_tfjs_model(const json& j, const std::string& path) {
  if (!is_tfjs_model(j))
    throw FormatError(path, std::nullopt,
                      "not a TensorFlow.js layers model (no \"modelTopology\")");
  KerasModel k = keras_architecture(j, path);
  ImportedModel& im = k.imported;
  if (!j.contains("weightsManifest") || !j.at("weightsManifest").is_array())
    throw FormatError(path, std::nullopt, "no \"weightsManifest\": the model has no weights");
  const fs::path dir = fs::path(path).parent_path();
  for (const auto& group : j.at("weightsManifest")) {
    if (!group.is_object() || !group.contains("paths") || !group.contains("weights"))
      throw FormatError(path, std::nullopt, "a weightsManifest entry without paths or weights");
    std::vector<std::uint8_t> bytes;
    for (const auto& p : group.at("paths")) {
      if (!p.is_string() || !is_plain_name(p.get<std::string>()))
        throw FormatError(
            path, std::nullopt,
            "weight shard " + json_brief(p) + " is not a file name beside model.json");
      const auto shard = read_regular_file_bytes((dir / p.get<std::string>()).string());
      bytes.insert(bytes.end(), shard.begin(), shard.end());
    }
    std::size_t offset = 0;
    for (const auto& w : group.at("weights")) {
      if (!w.is_object() || !w.contains("name") || !w.at("name").is_string() ||
          !w.contains("shape") || !w.at("shape").is_array())
        throw FormatError(path, std::nullopt, "a weight without name or shape: " + json_brief(w));
      const std::string wname = w.at("name").get<std::string>();
      if (w.value("dtype", std::string("float32")) != "float32" || w.contains("quantization"))
        throw FormatError(path, std::nullopt,
                          "weight '" + wname + "' is not plain float32 (quantized weights are " +
                              "not supported)");
      HostTensor t;
      std::size_t n = 1;
      for (const auto& d : w.at("shape")) {
        if (!d.is_number_unsigned() || d.get<std::uint64_t>() > (1u << 30))
          throw FormatError(path, std::nullopt, "weight '" + wname + "' has a bad shape");
        t.shape.push_back(d.get<std::size_t>());
        n *= t.shape.back();
        if (n > (std::size_t{1} << 32)) throw FormatError(path, std::nullopt, "weight too large");
      }
      if (bytes.size() < offset || bytes.size() - offset < n * 4)
        throw FormatError(path, std::nullopt,
                          "the weight shards end inside weight '" + wname + "' (" +
                              std::to_string(bytes.size()) + " bytes)");
      t.data.resize(n);
      std::memcpy(t.data.data(), bytes.data() + offset, n * 4);
      offset += n * 4;
      // "layer/param" (or "model/layer/param"): this project's "layer.param".
      const auto slash = wname.rfind('/');
      if (slash == std::string::npos || slash == 0)
        throw FormatError(path, std::nullopt, "weight name '" + wname + "' is not layer/param");
      const auto prev = wname.rfind('/', slash - 1);
      const std::string layer = wname.substr(prev == std::string::npos ? 0 : prev + 1,
                                             slash - (prev == std::string::npos ? 0 : prev + 1));
      const std::string key = clean_name(layer) + "." + wname.substr(slash + 1);
      if (!im.weights.emplace(key, std::move(t)).second)
        throw FormatError(path, std::nullopt, "weight '" + wname + "' appears twice");
    }
    if (offset != bytes.size())
      throw FormatError(path, std::nullopt,
                        "the weight shards hold " + std::to_string(bytes.size() - offset) +
                            " bytes more than the manifest's weights");
  }
  return k;
}

const std::vector<std::pair<std::string, std::string>>& keras_initializer_classes() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"GlorotUniform", "glorot_uniform"},
      {"GlorotNormal", "glorot_normal"},
      {"HeNormal", "he_normal"},
      {"HeUniform", "he_uniform"},
      {"Zeros", "zeros"},
      {"Ones", "ones"}};
  return table;
}

std::map<std::string, std::string> keras3_weight_groups(const json& keras) {
  std::map<std::string, std::string> groups;
  if (!keras.is_object() || !keras.contains("config") || !keras.at("config").is_object())
    return groups;
  const json& cfg = keras.at("config");
  if (!cfg.contains("layers") || !cfg.at("layers").is_array()) return groups;
  std::map<std::string, int> used;
  const json& layers = cfg.at("layers");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const json& l = layers[i];
    if (!l.is_object() || !l.contains("class_name") || !l.at("class_name").is_string()) continue;
    const std::string cls = l.at("class_name").get<std::string>();
    const std::string name =
        keras_layer_name(l, l.contains("config") ? l.at("config") : json(), cls, i);
    const std::string base = keras_snake_case(cls);
    const auto it = used.find(base);
    std::string unique = base;
    if (it == used.end())
      used[base] = 0;
    else
      unique = base + "_" + std::to_string(++it->second);
    groups[clean_name(name)] = "layers/" + unique;
  }
  return groups;
}

}  // namespace cnn::io
