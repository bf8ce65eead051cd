// Cutting, head appending and freezing on architecture JSON and built models.
#include "model/surgery.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <numeric>

#include "kernels/activation.hpp"
#include "tensor/text.hpp"

namespace cnn {
namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto p = s.find(sep, start);
    out.push_back(trim(s.substr(start, p == std::string::npos ? std::string::npos : p - start)));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

}  // namespace

std::vector<std::string> nearby_layer_names(const Model& model, const std::string& word,
                                            std::size_t k) {
  std::vector<std::pair<std::size_t, std::size_t>> scored;  // (distance, index)
  for (std::size_t i = 0; i < model.size(); ++i)
    scored.emplace_back(edit_distance(word, model.node(i).layer->name()), i);
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && i < k; ++i)
    out.push_back(model.node(scored[i].second).layer->name());
  return out;
}

std::size_t require_layer(const Model& model, const std::string& name, const std::string& what,
                          const std::string& file) {
  if (auto i = model.find(name)) return *i;
  std::vector<std::string> all;
  for (std::size_t i = 0; i < model.size(); ++i) all.push_back(model.node(i).layer->name());
  std::string m = "no layer named '" + name + "' in model '" + model.name() + "'";
  const std::string guess = nearest(name, all);
  if (!guess.empty()) m += "; did you mean '" + guess + "'?";
  m += " nearby names: ";
  const auto near = nearby_layer_names(model, name);
  for (std::size_t i = 0; i < near.size(); ++i) m += (i ? ", " : "") + near[i];
  m += " (" + std::to_string(model.size()) + " layers in all)";
  throw ConfigError(file, what, "", m);
}

json_ordered cut_architecture(const Model& model, std::size_t index) {
  json_ordered arch = model.to_json();
  const json_ordered& layers = arch.at("layers");
  const std::size_t n = model.size();
  std::vector<bool> keep(n, false);
  keep.at(index) = true;
  for (std::size_t i = index + 1; i-- > 0;)
    if (keep[i])
      for (std::size_t j : model.node(i).inputs)
        if (j != Model::kModelInput) keep[j] = true;

  json_ordered out = json_ordered::array();
  std::size_t prev = Model::kModelInput;  // the previous kept layer: the implied input
  for (std::size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    json_ordered l = layers.at(i);
    l.erase("inputs");
    const auto& in = model.node(i).inputs;
    if (in.size() != 1 || in[0] != prev) {
      json_ordered names = json_ordered::array();
      for (std::size_t j : in)
        names.push_back(j == Model::kModelInput ? model.input_name() : model.node(j).layer->name());
      l["inputs"] = names.size() == 1 ? names[0] : names;
    }
    out.push_back(std::move(l));
    prev = i;
  }
  arch.erase("output");
  arch["layers"] = std::move(out);
  return arch;
}

std::set<std::string> layer_names(const json_ordered& arch) {
  std::set<std::string> names;
  for (const auto& l : arch.at("layers"))
    if (l.contains("name") && l.at("name").is_string())
      names.insert(l.at("name").get<std::string>());
  return names;
}

json parse_head_spec(const std::string& spec) {
  const auto items = split(spec, ',');
  std::size_t last_dense = items.size();
  for (std::size_t i = 0; i < items.size(); ++i)
    if (lower(split(items[i], ':')[0]) == "dense") last_dense = i;
  static const std::vector<std::string> kinds{"dense", "dropout", "flatten",
                                              "avg",   "max",     "batchnorm"};
  json head = json::array();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    auto bad = [&](const std::string& problem) {
      const bool example = problem.find("e.g.") == std::string::npos;
      return ConfigError(
          "--head", "", "",
          "item " + std::to_string(i + 1) + " '" + item + "': " + problem +
              (example ? " (e.g. --head dense:256,dropout:0.5,dense:1:sigmoid)" : ""));
    };
    if (item.empty()) throw bad("empty item");
    const auto parts = split(item, ':');
    const std::string kind = lower(parts[0]);
    const std::size_t args = parts.size() - 1;
    auto want_args = [&](std::size_t lo, std::size_t hi, const std::string& form) {
      if (args < lo || args > hi) throw bad("expected " + form);
    };
    if (kind == "dense") {
      want_args(1, 2, "dense:UNITS or dense:UNITS:ACTIVATION");
      long units = 0;
      const std::string& u = parts[1];
      const auto r = std::from_chars(u.data(), u.data() + u.size(), units);
      if (r.ec != std::errc() || r.ptr != u.data() + u.size() || units < 1 || units > (1L << 30))
        throw bad("expected a whole number of units >= 1, got '" + u + "'");
      std::string act = args == 2 ? lower(parts[2]) : "";
      if (act.empty()) {
        if (i == last_dense)
          throw bad(
              "the last Dense layer needs its activation, e.g. dense:1:sigmoid (two "
              "classes), dense:10:softmax or dense:1:linear");
        act = "relu";
      }
      const auto& names = kernels::act_names();
      if (std::find(names.begin(), names.end(), act) == names.end())
        throw bad("unknown activation '" + act + "'; " + choices_hint(act, names));
      head.push_back({{"type", "Dense"}, {"units", units}, {"activation", act}});
    } else if (kind == "dropout") {
      want_args(1, 1, "dropout:RATE");
      const std::string& t = parts[1];
      double rate = -1;
      std::size_t used = 0;
      try {
        rate = std::stod(t, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != t.size() || t.empty() || !(rate >= 0 && rate < 1))
        throw bad("expected a rate in [0, 1), got '" + t + "'");
      head.push_back({{"type", "Dropout"}, {"rate", rate}});
    } else if (kind == "flatten" || kind == "avg" || kind == "max" || kind == "batchnorm") {
      want_args(0, 0, kind + " without arguments");
      head.push_back(kind == "batchnorm" ? json{{"type", "BatchNormalization"}}
                                         : pooling_layer(kind));
    } else {
      throw bad("unknown layer '" + parts[0] + "'; " + choices_hint(kind, kinds));
    }
  }
  return head;
}

bool head_starts_with_pooling(const json& head) {
  if (!head.is_array() || head.empty() || !head.at(0).is_object()) return false;
  const json& t = head.at(0).value("type", json());
  return t == "Flatten" || t == "GlobalAveragePooling2D" || t == "GlobalMaxPooling2D";
}

json pooling_layer(const std::string& pool) {
  if (pool == "flatten") return {{"type", "Flatten"}};
  if (pool == "avg") return {{"type", "GlobalAveragePooling2D"}};
  if (pool == "max") return {{"type", "GlobalMaxPooling2D"}};
  return json();
}

Model compose(const json_ordered& base_arch, const json& head, const std::string& base_file,
              const std::string& head_source, const std::set<std::string>& reserved) {
  json arch = json::parse(base_arch.dump());
  json& layers = arch.at("layers");
  const std::size_t base_count = layers.size();
  std::set<std::string> taken = layer_names(base_arch);
  taken.insert(arch.value("input_name", std::string("input_1")));
  for (std::size_t j = 0; j < head.size(); ++j) {
    const json& l = head.at(j);
    const std::string ptr = "/layers/" + std::to_string(j);
    if (!l.is_object())
      throw ConfigError(head_source, ptr, "", "expected a layer object, got " + json_brief(l));
    if (l.contains("name") && l.at("name").is_string() &&
        taken.count(l.at("name").get<std::string>()))
      throw ConfigError(head_source, ptr + "/name", "",
                        "'" + l.at("name").get<std::string>() +
                            "' is already a layer of the base; give the new layer another name");
    layers.push_back(l);
  }
  // Default names for unnamed head layers, as Model::from_json gives them (a counter per
  // stem, skipping names in use), but also skipping the reserved names.
  for (const auto& l : head)
    if (l.contains("name") && l.at("name").is_string())
      taken.insert(l.at("name").get<std::string>());
  taken.insert(reserved.begin(), reserved.end());
  std::map<std::string, int> counters;
  for (std::size_t j = 0; j < head.size(); ++j) {
    json& l = layers.at(base_count + j);
    if (l.contains("name") || !l.contains("type") || !l.at("type").is_string()) continue;
    const std::string stem = keras_snake_case(l.at("type").get<std::string>());
    std::string candidate;
    do {
      const int k = counters[stem]++;
      candidate = k == 0 ? stem : stem + "_" + std::to_string(k);
    } while (taken.count(candidate));
    taken.insert(candidate);
    l["name"] = candidate;
  }
  try {
    return Model::from_json(arch, base_file);
  } catch (const ConfigError& e) {
    // Point errors in head layers at the head and its own numbering.
    const std::string& p = e.pointer();
    const std::string prefix = "/layers/";
    if (p.rfind(prefix, 0) != 0) throw;
    std::size_t k = 0;
    const char* b = p.data() + prefix.size();
    const auto r = std::from_chars(b, p.data() + p.size(), k);
    if (r.ec != std::errc() || k < base_count) throw;
    throw ConfigError(head_source, prefix + std::to_string(k - base_count) + std::string(r.ptr),
                      e.layer(), e.problem());
  }
}

void freeze_layers(Model& model, const std::set<std::string>& names) {
  for (std::size_t i = 0; i < model.size(); ++i)
    model.set_trainable(i, !names.count(model.node(i).layer->name()));
}

void unfreeze_from(Model& model, std::size_t index) {
  for (std::size_t i = 0; i < model.size(); ++i) model.set_trainable(i, i >= index);
}

void set_all_trainable(Model& model, bool trainable) {
  for (std::size_t i = 0; i < model.size(); ++i) model.set_trainable(i, trainable);
}

}  // namespace cnn
