// Keras export: the model's layers as Keras 2 layer configs (the inverse of keras_model.cpp's
// mapping), and its parameters as a save_weights() HDF5 file.
#include "io/keras_export.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "io/atomic_file.hpp"
#include "io/hdf5_handle.hpp"
#include "io/import.hpp"
#include "io/keras_model.hpp"

namespace cnn::io {
namespace {

// The Keras version the files claim: the 2.x line whose layouts they follow.
constexpr const char* kKerasVersion = "2.15.0";

// A Keras initializer object for one of our initializer names.
json_ordered initializer(const std::string& name) {
  json_ordered j;
  for (const auto& [keras, ours] : keras_initializer_classes())
    if (ours == name) j["class_name"] = keras;
  if (!j.contains("class_name"))
    throw Error("keras export: no Keras initializer for '" + name + "'");
  j["config"] = json_ordered::object();
  if (name != "zeros" && name != "ones") j["config"]["seed"] = nullptr;
  return j;
}

class KerasJson {
 public:
  KerasJson(const Model& model, std::string source, std::vector<std::string>& notes)
      : model_(model), source_(std::move(source)), notes_(notes) {
    taken_.insert(model.input_name());
    for (std::size_t i = 0; i < model.size(); ++i) taken_.insert(model.layer(i).name());
  }
  json_ordered run();

 private:
  [[noreturn]] void refuse(std::size_t i, const std::string& key, const std::string& what) const {
    throw ConfigError(source_, "/layers/" + std::to_string(model_.node(i).json_index) + "/" + key,
                      model_.layer(i).name(),
                      what + " has no Keras form; export to ONNX instead (cnn-export onnx)");
  }
  void add(const std::string& cls, const std::string& name, json_ordered cfg,
           const std::vector<std::string>& inputs);
  json_ordered config(std::size_t i);

  const Model& model_;
  std::string source_;
  std::vector<std::string>& notes_;
  std::set<std::string> taken_;
  json_ordered layers_ = json_ordered::array();
};

void KerasJson::add(const std::string& cls, const std::string& name, json_ordered cfg,
                    const std::vector<std::string>& inputs) {
  cfg["name"] = name;
  cfg["trainable"] = true;
  json_ordered node = json_ordered::array();
  for (const auto& in : inputs) node.push_back({in, 0, 0, json_ordered::object()});
  json_ordered l;
  l["class_name"] = cls;
  l["config"] = cfg;
  l["name"] = name;
  l["inbound_nodes"] = inputs.empty() ? json_ordered::array() : json_ordered::array({node});
  layers_.push_back(l);
}

// A layer's Keras config: its own keys (which are Keras's), initializers as objects, the
// channels_last data_format where Keras has the key, and the refusals.
json_ordered KerasJson::config(std::size_t i) {
  const Layer& l = model_.layer(i);
  json_ordered cfg = json_ordered::object();
  l.write_config(cfg);
  const std::string& type = l.type();
  for (auto& [key, value] : cfg.items())
    if (key.ends_with("_initializer")) value = initializer(value.get<std::string>());
  if (type == "Conv2D" || type == "Dense") {
    for (const char* key : {"kernel_regularizer", "bias_regularizer", "activity_regularizer",
                            "kernel_constraint", "bias_constraint"})
      cfg[key] = nullptr;
  }
  if (type == "MaxPooling2D" || type == "AveragePooling2D") {
    if (!cfg["padding"].is_string())
      refuse(i, "padding", "explicit pooling padding [[top, bottom], [left, right]]");
    if (cfg.contains("dilation_rate")) refuse(i, "dilation_rate", "a dilated pooling window");
    if (cfg.contains("ceil_mode")) refuse(i, "ceil_mode", "ceil_mode");
  }
  if (type == "Conv2D" || type.find("Pooling2D") != std::string::npos || type == "Flatten" ||
      type == "ZeroPadding2D")
    cfg["data_format"] = "channels_last";
  if (type == "Dropout") {
    cfg["noise_shape"] = nullptr;
    cfg["seed"] = nullptr;
  }
  return cfg;
}

json_ordered KerasJson::run() {
  const Shape& in_shape = model_.input_shape();
  json_ordered input;
  json_ordered batch_shape = json_ordered::array({nullptr});
  for (auto d : in_shape) batch_shape.push_back(d);
  input["batch_input_shape"] = batch_shape;
  input["dtype"] = "float32";
  input["sparse"] = false;
  add("InputLayer", model_.input_name(), input, {});
  std::string from_input = model_.input_name();
  // The declared preprocessing: x * scale[c] + shift[c], a Rescaling layer.
  if (const auto& pre = model_.preprocessing(); pre && !pre->is_identity()) {
    if (pre->bgr)
      throw ConfigError(source_, "/preprocessing/channel_order", "",
                        "the preprocessing reverses the channels (bgr), which no Keras layer "
                        "does; export to ONNX instead (cnn-export onnx)");
    std::vector<float> scale, shift;
    pre->affine(in_shape.back(), scale, shift);
    json_ordered cfg;
    const bool one =
        std::all_of(scale.begin(), scale.end(), [&](float v) { return v == scale[0]; }) &&
        std::all_of(shift.begin(), shift.end(), [&](float v) { return v == shift[0]; });
    cfg["scale"] = one ? json_ordered(scale[0]) : json_ordered(scale);
    cfg["offset"] = one ? json_ordered(shift[0]) : json_ordered(shift);
    from_input = unique_name("preprocessing", taken_);
    add("Rescaling", from_input, cfg, {model_.input_name()});
    notes_.push_back("the model's preprocessing is the Rescaling layer '" + from_input + "'");
  }
  std::vector<std::string> out(model_.size());
  for (std::size_t i = 0; i < model_.size(); ++i) {
    const Layer& l = model_.layer(i);
    std::vector<std::string> ins;
    for (auto k : model_.node(i).inputs)
      ins.push_back(k == Model::kModelInput ? from_input : out[k]);
    json_ordered cfg = config(i);
    out[i] = l.name();
    const bool leaky = cfg.value("activation", std::string()) == "leaky_relu";
    if (l.type() == "Activation" && leaky) {
      json_ordered c;
      c["alpha"] = kernels::kLeakyReluAlpha;
      add("LeakyReLU", l.name(), c, ins);
      continue;
    }
    if (leaky) cfg["activation"] = "linear";
    add(l.type(), l.name(), cfg, ins);
    if (leaky) {
      json_ordered c;
      c["alpha"] = kernels::kLeakyReluAlpha;
      out[i] = unique_name(l.name() + "_leaky_relu", taken_);
      add("LeakyReLU", out[i], c, {l.name()});
      notes_.push_back("the leaky_relu of '" + l.name() + "' is the LeakyReLU layer '" + out[i] +
                       "'");
    }
  }
  json_ordered config;
  config["name"] = model_.name();
  config["layers"] = layers_;
  config["input_layers"] = json_ordered::array({json_ordered::array({model_.input_name(), 0, 0})});
  config["output_layers"] = json_ordered::array({json_ordered::array({out.back(), 0, 0})});
  json_ordered j;
  j["class_name"] = "Functional";
  j["config"] = config;
  j["keras_version"] = kKerasVersion;
  j["backend"] = "tensorflow";
  return j;
}

// --- HDF5 ---

[[noreturn]] void hdf5_failed(const std::string& path, const std::string& what) {
  throw IoError(path, what, "libhdf5 reported an error");
}

// A 1-D attribute of fixed-length strings (h5py's form for a NumPy array of bytes).
void string_list_attr(hid_t obj, const char* name, const std::vector<std::string>& v,
                      const std::string& path) {
  std::size_t len = 1;
  for (const auto& s : v) len = std::max(len, s.size());
  const Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), len);
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  const hsize_t n = v.size();
  const Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  const Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    H5Aclose);
  if (!attr.ok()) hdf5_failed(path, std::string("create attribute ") + name);
  std::string buf(std::max<std::size_t>(v.size(), 1) * len, '\0');
  for (std::size_t k = 0; k < v.size(); ++k) buf.replace(k * len, v[k].size(), v[k]);
  if (H5Awrite(attr.get(), type.get(), buf.data()) < 0)
    hdf5_failed(path, std::string("write attribute ") + name);
}

void string_attr(hid_t obj, const char* name, const std::string& v, const std::string& path) {
  const Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<std::size_t>(v.size(), 1));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  const Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  const Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    H5Aclose);
  std::string buf = v.empty() ? std::string(1, '\0') : v;
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), buf.data()) < 0)
    hdf5_failed(path, std::string("write attribute ") + name);
}

// The weights, layer by layer in model order (Keras's load_weights pairs layers by order).
std::size_t write_weights(const Model& model, const std::string& path) {
  silence_hdf5();
  const Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) hdf5_failed(path, "create");
  std::vector<std::string> names;
  for (std::size_t i = 0; i < model.size(); ++i) names.push_back(model.layer(i).name());
  string_list_attr(file.get(), "layer_names", names, path);
  string_attr(file.get(), "backend", "tensorflow", path);
  string_attr(file.get(), "keras_version", kKerasVersion, path);
  const Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  std::size_t tensors = 0;
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = model.layer(i);
    const Handle group(
        H5Gcreate2(file.get(), l.name().c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!group.ok()) hdf5_failed(path, "create group " + l.name());
    std::vector<std::string> weight_names;
    for (const Param& p : l.params()) weight_names.push_back(l.name() + "/" + p.name + ":0");
    string_list_attr(group.get(), "weight_names", weight_names, path);
    for (std::size_t k = 0; k < l.params().size(); ++k) {
      const Param& p = l.params()[k];
      std::vector<hsize_t> dims(p.shape.begin(), p.shape.end());
      const Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                         H5Sclose);
      const Handle set(H5Dcreate2(group.get(), weight_names[k].c_str(), H5T_IEEE_F32LE, space.get(),
                                  lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                       H5Dclose);
      if (!set.ok() ||
          H5Dwrite(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.value) < 0)
        hdf5_failed(path, "write dataset " + weight_names[k]);
      ++tensors;
    }
  }
  if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) hdf5_failed(path, "flush");
  return tensors;
}

}  // namespace

json_ordered keras_model_json(const Model& model, const std::string& source,
                              std::vector<std::string>* notes) {
  std::vector<std::string> n;
  json_ordered j = KerasJson(model, source, n).run();
  if (notes) *notes = std::move(n);
  return j;
}

KerasExportResult export_keras(const Model& model, const std::string& source,
                               const std::string& h5_path, const std::string& json_path) {
  KerasExportResult r;
  const json_ordered arch = keras_model_json(model, source, &r.notes);
  // libhdf5 writes by file name: a temporary name beside the file, renamed into place.
  const std::string temp = h5_path + ".tmp." + std::to_string(::getpid());
  try {
    r.tensors = write_weights(model, temp);
    std::optional<AtomicFile> json_file;
    if (!json_path.empty()) {
      json_file.emplace(json_path);
      json_file->write(arch.dump() + "\n");
    }
    std::error_code ec;
    std::filesystem::rename(temp, h5_path, ec);
    if (ec) throw IoError(h5_path, "rename into place", ec.message());
    if (json_file) json_file->commit();
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw;
  }
  r.layers = model.size();
  return r;
}

}  // namespace cnn::io
