// Class weights: balanced ("auto"), from JSON, and per-sample lookups.
#include "train/class_weight.hpp"

#include <cmath>

#include "tensor/error.hpp"

namespace cnn::train {
namespace {

void check_label(std::int32_t label, std::size_t num_classes, std::size_t sample) {
  if (label >= 0 && static_cast<std::size_t>(label) < num_classes) return;
  throw DataError("sample " + std::to_string(sample),
                  "label " + std::to_string(label) +
                      " is out of range; expected a class id in [0, " +
                      std::to_string(num_classes) + ")");
}

float weight_value(const json& v, const std::string& file, const std::string& pointer) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0.0)
    throw ConfigError(file, pointer, "",
                      "expected a class weight (a number >= 0), got " + json_brief(v));
  return static_cast<float>(v.get<double>());
}

}  // namespace

std::vector<std::size_t> class_counts(std::span<const std::int32_t> labels,
                                      std::size_t num_classes) {
  std::vector<std::size_t> counts(num_classes, 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    check_label(labels[i], num_classes, i);
    ++counts[static_cast<std::size_t>(labels[i])];
  }
  return counts;
}

std::vector<float> balanced_class_weights(std::span<const std::int32_t> labels,
                                          std::size_t num_classes) {
  if (num_classes == 0) throw Error("balanced class weights: need at least 1 class, got 0");
  const auto counts = class_counts(labels, num_classes);
  std::vector<float> w(num_classes);
  for (std::size_t c = 0; c < num_classes; ++c) {
    if (counts[c] == 0)
      throw DataError("labels", "class " + std::to_string(c) +
                                    " has no samples; \"auto\" class weights need every class "
                                    "present (give the weights explicitly instead)");
    w[c] = static_cast<float>(static_cast<double>(labels.size()) /
                              (static_cast<double>(num_classes) * static_cast<double>(counts[c])));
  }
  return w;
}

std::vector<float> class_weights_from_json(const json& v, std::span<const std::int32_t> labels,
                                           std::size_t num_classes, const std::string& file,
                                           const std::string& pointer) {
  const std::string expected = "expected \"auto\", an object {\"0\": w0, ...} or a list of " +
                               std::to_string(num_classes) + " weights";
  if (v.is_string()) {
    if (v.get<std::string>() != "auto")
      throw ConfigError(
          file, pointer, "",
          "unknown value " + json_brief(v) + "; " + choices_hint(v.get<std::string>(), {"auto"}));
    return balanced_class_weights(labels, num_classes);
  }
  std::vector<float> w(num_classes, 0.0f);
  if (v.is_array()) {
    if (v.size() != num_classes)
      throw ConfigError(file, pointer, "",
                        "expected " + std::to_string(num_classes) +
                            " class weights (one per class), got " + std::to_string(v.size()));
    for (std::size_t c = 0; c < num_classes; ++c)
      w[c] = weight_value(v[c], file, pointer + "/" + std::to_string(c));
    return w;
  }
  if (!v.is_object()) throw ConfigError(file, pointer, "", expected + ", got " + json_brief(v));
  std::vector<bool> seen(num_classes, false);
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& key = it.key();
    const std::string key_pointer = pointer + "/" + json_pointer_token(key);
    std::size_t c = 0;
    bool ok = !key.empty() && key.size() <= 9;
    for (char ch : key) ok = ok && ch >= '0' && ch <= '9';
    if (ok) c = std::stoul(key);
    if (!ok || c >= num_classes)
      throw ConfigError(file, key_pointer, "",
                        "expected a class id in [0, " + std::to_string(num_classes) +
                            ") as the key, got \"" + key + "\"");
    w[c] = weight_value(it.value(), file, key_pointer);
    seen[c] = true;
  }
  for (std::size_t c = 0; c < num_classes; ++c)
    if (!seen[c])
      throw ConfigError(file, pointer, "",
                        "class " + std::to_string(c) + " has no weight; expected keys \"0\" to \"" +
                            std::to_string(num_classes - 1) + "\"");
  return w;
}

std::vector<float> sample_weights(std::span<const std::int32_t> labels,
                                  std::span<const float> class_weights, std::size_t first_sample) {
  std::vector<float> w(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    check_label(labels[i], class_weights.size(), first_sample + i);
    w[i] = class_weights[static_cast<std::size_t>(labels[i])];
  }
  return w;
}

}  // namespace cnn::train
