// Model: architecture JSON -> validated DAG (names, inputs, cycles, shapes), parameter arenas,
// forward in topological order and backward in reverse.
#include "model/model.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <limits>
#include <map>
#include <queue>
#include <regex>
#include <set>

#include "kernels/threading.hpp"
#include "layers/conv2d.hpp"
#include "layers/quantized.hpp"
#include "layers/registry.hpp"
#include "tensor/budget.hpp"

namespace cnn {

std::string keras_snake_case(const std::string& class_name) {
  // The two substitutions Keras's generic_utils.to_snake_case makes.
  static const std::regex first("(.)([A-Z][a-z]+)");
  static const std::regex second("([a-z])([A-Z])");
  std::string s = std::regex_replace(class_name, first, "$1_$2");
  s = std::regex_replace(s, second, "$1_$2");
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

namespace {

bool valid_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

// The per-layer facts gathered before layers are configured.
struct Pending {
  std::string type, name, pointer;
  std::vector<std::string> input_names;  // empty: the previous layer (or the model input)
  bool trainable = true;
};

Preprocessing read_preprocessing(const json& obj, const std::string& file, const Shape& input) {
  ConfigReader cfg(obj, file, "/preprocessing", "");
  if (!obj.is_object())
    throw cfg.error("", "expected an object such as {\"rescale\": 0.00392156862745098}");
  Preprocessing p;
  p.rescale = static_cast<float>(cfg.get_number("rescale", 1.0, 1e-12, 1e12));
  const std::size_t c = input.back();
  const auto read_list = [&](const char* key, bool positive) {
    std::vector<float> v;
    const json* raw = cfg.get_raw(key);
    if (!raw) return v;
    if (!raw->is_array() || (raw->size() != c && raw->size() != 1))
      throw cfg.error(key, "expected a list of " + std::to_string(c) +
                               " numbers (one per input channel) or of one, got " +
                               json_brief(*raw));
    for (const auto& e : *raw) {
      if (!e.is_number() || (positive && e.get<double>() <= 0))
        throw cfg.error(key, std::string("expected ") + (positive ? "positive " : "") +
                                 "numbers, got " + json_brief(*raw));
      v.push_back(e.get<float>());
    }
    if (v.size() == 1) v.assign(c, v[0]);
    return v;
  };
  p.mean = read_list("mean", false);
  p.std = read_list("std", true);
  p.bgr = cfg.get_choice("channel_order", std::string("rgb"), {"rgb", "bgr"}) == "bgr";
  if (p.bgr && c != 3)
    throw cfg.error("channel_order",
                    "\"bgr\" needs 3 input channels, the input has " + std::to_string(c));
  if (cfg.has("interpolation"))
    p.interpolation = cfg.get_choice("interpolation", std::nullopt, {"nearest", "bilinear"});
  cfg.finish();
  return p;
}

}  // namespace

namespace {

// Per channel (in model order): x = p * scale[c] + shift[c].
void preprocessing_affine(const Preprocessing& pre, std::size_t c, std::vector<float>& scale,
                          std::vector<float>* shift) {
  scale.resize(c);
  if (shift) shift->resize(c);
  for (std::size_t k = 0; k < c; ++k) {
    const float inv = pre.std.empty() ? 1.0f : 1.0f / pre.std[k];
    scale[k] = pre.rescale * inv;
    if (shift) (*shift)[k] = pre.mean.empty() ? 0.0f : -pre.mean[k] * inv;
  }
}

}  // namespace

void Preprocessing::affine(std::size_t c, std::vector<float>& scale,
                           std::vector<float>& shift) const {
  preprocessing_affine(*this, c, scale, &shift);
}

bool Preprocessing::is_identity() const {
  const auto all = [](const std::vector<float>& v, float x) {
    return std::all_of(v.begin(), v.end(), [x](float e) { return e == x; });
  };
  return rescale == 1.0f && all(mean, 0.0f) && all(std, 1.0f) && !bgr;
}

void Model::set_preprocessing(std::optional<Preprocessing> p) {
  if (p) {
    const std::size_t c = input_shape_.back();
    for (const auto* v : {&p->mean, &p->std})
      if (!v->empty() && v->size() != c)
        throw ConfigError("", "/preprocessing", "",
                          "expected one mean and std per input channel (" + std::to_string(c) +
                              "), got " + std::to_string(v->size()));
    if (p->bgr && c != 3)
      throw ConfigError("", "/preprocessing/channel_order", "",
                        "\"bgr\" needs 3 input channels, the input has " + std::to_string(c));
  }
  preprocessing_ = std::move(p);
}

void Preprocessing::apply(const float* in, float* out, std::size_t pixels, std::size_t c) const {
  std::vector<float> sc, sh;
  preprocessing_affine(*this, c, sc, &sh);
  // Blocks of kRun pixels in parallel (each value by the same two operations however the
  // pixels are split). Within a block the channels' scales and shifts repeat every c floats:
  // laid out kRun pixels long, the loop is one contiguous run that the compiler vectorises.
  constexpr std::size_t kRun = 16, kBlock = 4096;
  std::vector<float> scr(kRun * c), shr(kRun * c);
  for (std::size_t i = 0; i < kRun * c; ++i) {
    scr[i] = sc[i % c];
    shr[i] = sh[i % c];
  }
  kernels::parallel_for(0, (pixels + kBlock - 1) / kBlock, [&](std::size_t b) {
    const std::size_t p0 = b * kBlock, p1 = std::min(pixels, p0 + kBlock);
    const float* src = in + p0 * c;
    float* dst = out + p0 * c;
    if (bgr) {
      for (std::size_t i = p0; i < p1; ++i, src += c, dst += c) {
        const float r = src[0], g = src[1], bl = src[2];
        dst[0] = bl * sc[0] + sh[0];
        dst[1] = g * sc[1] + sh[1];
        dst[2] = r * sc[2] + sh[2];
      }
      return;
    }
    std::size_t i = p0;
    const float* a = scr.data();
    const float* d = shr.data();
    for (; i + kRun <= p1; i += kRun, src += kRun * c, dst += kRun * c)
      for (std::size_t j = 0; j < kRun * c; ++j) dst[j] = src[j] * a[j] + d[j];
    for (; i < p1; ++i, src += c, dst += c)
      for (std::size_t k = 0; k < c; ++k) dst[k] = src[k] * sc[k] + sh[k];
  });
}

void Preprocessing::backward_add(const float* grad_out, float* grad_in, std::size_t pixels,
                                 std::size_t c) const {
  std::vector<float> sc;
  preprocessing_affine(*this, c, sc, nullptr);
  for (std::size_t i = 0; i < pixels; ++i, grad_out += c, grad_in += c) {
    if (bgr) {
      grad_in[2] += grad_out[0] * sc[0];
      grad_in[1] += grad_out[1] * sc[1];
      grad_in[0] += grad_out[2] * sc[2];
    } else {
      for (std::size_t k = 0; k < c; ++k) grad_in[k] += grad_out[k] * sc[k];
    }
  }
}

namespace {

constexpr std::size_t kModelInput = Model::kModelInput;
// planned_ldy_ of a node whose step has nothing to do: a Concatenate assembled in place, a
// layer sharing its input's place.
constexpr std::size_t kNoStep = static_cast<std::size_t>(-1);

// Pass 1 over the layers: types, explicit names (unique), then Keras's default names for the
// rest (conv2d, conv2d_1, ... skipping the explicit ones).
struct LayerNames {
  std::vector<Pending> pend;
  std::set<std::string> taken;  // every name, the model input's included
  std::map<std::string, std::size_t> index_of;
};

LayerNames read_layer_names(const json& layers, const std::string& file,
                            const std::string& input_name) {
  const std::size_t count = layers.size();
  LayerNames names;
  names.pend.resize(count);
  std::vector<Pending>& pend = names.pend;
  std::set<std::string>& taken = names.taken;
  taken.insert(input_name);
  for (std::size_t i = 0; i < count; ++i) {
    Pending& p = pend[i];
    p.pointer = "/layers/" + std::to_string(i);
    ConfigReader cfg(layers[i], file, p.pointer, "");
    p.type = cfg.get_string("type", std::nullopt);
    if (!is_layer_type(p.type))
      throw cfg.error(
          "type", "unknown layer type '" + p.type + "'; " + choices_hint(p.type, layer_types()));
    if (cfg.has("name")) {
      p.name = cfg.get_string("name", std::nullopt);
      if (!valid_name(p.name))
        throw cfg.error("name",
                        "expected a name of letters, digits, '_' or '-', got '" + p.name + "'");
      if (!taken.insert(p.name).second)
        throw cfg.error("name", "duplicate layer name '" + p.name + "'; names must be unique");
    }
  }
  // Default names as Keras gives them: conv2d, conv2d_1, ... skipping explicit names.
  std::map<std::string, int> counters;
  for (auto& p : pend) {
    if (!p.name.empty()) continue;
    const std::string stem = keras_snake_case(p.type);
    std::string candidate;
    do {
      const int k = counters[stem]++;
      candidate = k == 0 ? stem : stem + "_" + std::to_string(k);
    } while (taken.count(candidate));
    p.name = candidate;
    taken.insert(candidate);
  }
  for (std::size_t i = 0; i < count; ++i) names.index_of[pend[i].name] = i;
  return names;
}

// Pass 2: each layer configured from its fields, and its inputs resolved to layer indices
// (kModelInput for the model's input).
struct ConfiguredLayers {
  std::vector<std::unique_ptr<Layer>> layers;
  std::vector<std::vector<std::size_t>> inputs;
};

ConfiguredLayers configure_layers(const json& layers, const std::string& file,
                                  const std::string& input_name, LayerNames& names) {
  const std::size_t count = layers.size();
  ConfiguredLayers c;
  c.layers.resize(count);
  c.inputs.resize(count);
  auto& built = c.layers;
  auto& inputs = c.inputs;
  for (std::size_t i = 0; i < count; ++i) {
    Pending& p = names.pend[i];
    ConfigReader cfg(layers[i], file, p.pointer, p.name);
    cfg.accept("type");
    cfg.accept("name");
    p.trainable = cfg.get_bool("trainable", true);
    if (const json* in = cfg.get_raw("inputs")) {
      if (in->is_string()) {
        p.input_names.push_back(in->get<std::string>());
      } else if (in->is_array() && !in->empty() &&
                 std::all_of(in->begin(), in->end(), [](const json& e) { return e.is_string(); })) {
        for (const auto& e : *in) p.input_names.push_back(e.get<std::string>());
      } else {
        throw cfg.error("inputs",
                        "expected a layer name or a list of layer names, got " + json_brief(*in));
      }
    }
    auto layer = make_layer(p.type);
    layer->set_name(p.name);
    layer->set_trainable(p.trainable);
    layer->configure(cfg);
    cfg.finish();
    if (p.input_names.empty()) {
      inputs[i].push_back(i == 0 ? kModelInput : i - 1);
    } else {
      for (const auto& n : p.input_names) {
        if (n == input_name) {
          inputs[i].push_back(kModelInput);
          continue;
        }
        auto it = names.index_of.find(n);
        if (it == names.index_of.end())
          throw cfg.error("inputs",
                          "no layer named '" + n + "'; " +
                              choices_hint(n, std::vector<std::string>(names.taken.begin(),
                                                                       names.taken.end())));
        inputs[i].push_back(it->second);
      }
    }
    const std::size_t k = inputs[i].size();
    if (k < layer->min_inputs() || k > layer->max_inputs()) {
      const std::string want = layer->min_inputs() == layer->max_inputs()
                                   ? std::to_string(layer->min_inputs())
                                   : "at least " + std::to_string(layer->min_inputs());
      throw cfg.error("inputs", p.type + " takes " + want + " input" +
                                    (layer->min_inputs() == 1 ? "" : "s") + ", got " +
                                    std::to_string(k));
    }
    built[i] = std::move(layer);
  }
  return c;
}

// Topological order (Kahn): of the layers whose inputs are placed, the first in the file goes
// next (a min-heap of ready indices: O(n log n) for any order of the file). Leftovers form a
// cycle, reported along its data flow.
std::vector<std::size_t> topological_order(const std::vector<std::vector<std::size_t>>& inputs,
                                           const std::vector<Pending>& pend,
                                           const std::string& file) {
  const std::size_t count = inputs.size();
  std::vector<std::size_t> order;
  order.reserve(count);
  std::vector<bool> placed(count, false);
  std::vector<std::size_t> waiting(count, 0);  // inputs not placed yet
  std::vector<std::vector<std::size_t>> readers(count);
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t j : inputs[i])
      if (j != kModelInput) {
        ++waiting[i];
        readers[j].push_back(i);
      }
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t i = 0; i < count; ++i)
    if (waiting[i] == 0) ready.push(i);
  while (!ready.empty()) {
    const std::size_t i = ready.top();
    ready.pop();
    placed[i] = true;
    order.push_back(i);
    for (std::size_t r : readers[i])
      if (--waiting[r] == 0) ready.push(r);
  }
  if (order.size() < count) {
    // Walk back along unplaced inputs from the first unplaced layer until a layer repeats.
    std::size_t cur = 0;
    while (placed[cur]) ++cur;
    std::vector<std::size_t> path;
    std::vector<int> seen(count, -1);
    while (seen[cur] < 0) {
      seen[cur] = static_cast<int>(path.size());
      path.push_back(cur);
      for (std::size_t j : inputs[cur])
        if (j != kModelInput && !placed[j]) {
          cur = j;
          break;
        }
    }
    // The cycle in data-flow order (path runs against it), long ones shortened in the middle.
    std::vector<std::size_t> ring(path.rbegin(), path.rend() - seen[cur]);
    ring.insert(ring.begin(), cur);
    std::string cycle;
    for (std::size_t q = 0; q < ring.size(); ++q) {
      if (ring.size() > 12 && q == 6) {
        cycle += " -> ... (" + std::to_string(ring.size() - 12) + " more)";
        q = ring.size() - 6;
      }
      cycle += (q ? " -> " : "") + pend[ring[q]].name;
    }
    throw ConfigError(file, pend[cur].pointer + "/inputs", pend[cur].name,
                      "the inputs form a cycle: " + cycle);
  }
  return order;
}

// Every layer must feed the output.
void check_all_feed(std::size_t out, const std::vector<std::size_t>& order,
                    const std::vector<std::vector<std::size_t>>& inputs,
                    const std::vector<Pending>& pend, const std::string& file) {
  const std::size_t count = inputs.size();
  std::vector<bool> feeds(count, false);
  feeds[out] = true;
  for (auto it = order.rbegin(); it != order.rend(); ++it)
    if (feeds[*it])
      for (std::size_t j : inputs[*it])
        if (j != kModelInput) feeds[j] = true;
  for (std::size_t i = 0; i < count; ++i)
    if (!feeds[i])
      throw ConfigError(
          file, pend[i].pointer, pend[i].name,
          "the layer's output is never used; the model's output is '" + pend[out].name + "'");
}

}  // namespace

Model Model::from_json(const json& arch, const std::string& file) {
  Model m;
  ConfigReader top(arch, file, "", "");
  m.name_ = top.get_string("name", std::string("model"));
  if (!valid_name(m.name_))
    throw top.error("name",
                    "expected a name of letters, digits, '_' or '-', got '" + m.name_ + "'");
  for (long d : top.get_int_list("input_shape", std::nullopt, 1))
    m.input_shape_.push_back(static_cast<std::size_t>(d));
  if (m.input_shape_.empty()) throw top.error("input_shape", "expected at least one dimension");
  m.input_name_ = top.get_string("input_name", std::string("input_1"));
  if (const json* pre = top.get_raw("preprocessing"))
    m.preprocessing_ = read_preprocessing(*pre, file, m.input_shape_);
  const json* layers = top.get_raw("layers");
  if (!layers) throw top.error("layers", "missing required field");
  if (!layers->is_array() || layers->empty())
    throw top.error("layers", "expected a non-empty list of layers");
  std::optional<std::string> output_name;
  if (top.has("output")) output_name = top.get_string("output", std::nullopt);
  top.get_string("cnn_version", std::string());  // the writer's version: informative only
  top.finish();

  LayerNames names = read_layer_names(*layers, file, m.input_name_);
  const std::vector<Pending>& pend = names.pend;
  ConfiguredLayers configured = configure_layers(*layers, file, m.input_name_, names);
  auto& built = configured.layers;
  const auto& inputs = configured.inputs;
  const std::size_t count = pend.size();

  // The output (the last layer unless named), which every layer must feed.
  std::size_t out = count - 1;
  if (output_name) {
    auto it = names.index_of.find(*output_name);
    if (it == names.index_of.end()) {
      std::vector<std::string> known(names.taken.begin(), names.taken.end());
      throw ConfigError(
          file, "/output", "",
          "no layer named '" + *output_name + "'; " + choices_hint(*output_name, known));
    }
    out = it->second;
  }

  const std::vector<std::size_t> order = topological_order(inputs, pend, file);
  check_all_feed(out, order, inputs, pend, file);

  // Build the nodes in order and infer shapes.
  if (!checked_numel(m.input_shape_, kMaxSampleValues))
    throw ConfigError(file, "/input_shape", "",
                      "more than 2^31 values per sample (the limit; share/limits.md)");
  std::size_t params = 0;
  std::vector<std::size_t> position(count);
  for (std::size_t k = 0; k < order.size(); ++k) position[order[k]] = k;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = order[k];
    Node n;
    n.layer = std::move(built[i]);
    n.json_index = i;
    std::vector<Shape> in_shapes;
    for (std::size_t j : inputs[i]) {
      n.inputs.push_back(j == kModelInput ? kModelInput : position[j]);
      in_shapes.push_back(j == kModelInput ? m.input_shape_ : m.nodes_[position[j]].out_shape);
    }
    try {
      n.out_shape = n.layer->infer_shape(in_shapes);
    } catch (const ShapeError& e) {
      throw ConfigError(file, pend[i].pointer, pend[i].name, e.problem());
    } catch (const ConfigError& e) {
      throw e.with_file(file);
    }
    // Sizes from a file are checked before anything is allocated (share/limits.md).
    if (!checked_numel(n.out_shape, kMaxSampleValues))
      throw ConfigError(file, pend[i].pointer, pend[i].name,
                        "the output " + shape_str(n.out_shape) +
                            " has more than 2^31 values per "
                            "sample (the limit; share/limits.md)");
    for (const Param& p : n.layer->params()) {
      const auto size = checked_numel(p.shape, kMaxParams);
      if (!size || *size > kMaxParams - params)
        throw ConfigError(file, pend[i].pointer, pend[i].name,
                          "the parameter " + p.name + " " + shape_str(p.shape) +
                              " takes the model past 2^32 parameters (the limit; share/limits.md)");
      params += *size;
    }
    m.nodes_.push_back(std::move(n));
  }
  m.allocate_params();
  return m;
}

void Model::allocate_params() {
  std::size_t total = 0;
  for (auto& n : nodes_)
    for (auto& p : n.layer->params()) total += p.size();
  // Two arenas of total floats: checked against the budget before the request (share/limits.md).
  check_memory(
      total, 2 * sizeof(float),
      "model " + quote(name_) + ": " + std::to_string(total) + " parameters and their gradients");
  values_ = detail::ParamArena(total);
  grads_ = detail::ParamArena(total);
  std::size_t off = 0;
  for (auto& n : nodes_)
    for (auto& p : n.layer->params()) {
      p.value = values_.data() + off;
      p.grad = p.trainable ? grads_.data() + off : nullptr;
      off += p.size();
    }
  acts_.resize(nodes_.size());
  act_grads_.resize(nodes_.size());
}

void Model::check_activation_memory(std::size_t n, bool training) const {
  // Each output is below 2^31 values (from_json), so the sum cannot overflow.
  std::size_t per_sample = numel(input_shape_);
  for (const Node& node : nodes_) per_sample += numel(node.out_shape);
  // Called on every forward pass: the message is built only when the batch does not fit.
  check_memory_lazily(checked_numel({per_sample, n, training ? 2u : 1u, sizeof(float)},
                                    std::numeric_limits<std::size_t>::max()),
                      [&] {
                        return "model " + quote(name_) + ": the layers' outputs" +
                               (training ? std::string(" and gradients") : std::string()) +
                               " for a batch of " + std::to_string(n);
                      });
}

json_ordered Model::to_json() const {
  json_ordered j;
  j["name"] = name_;
  j["input_shape"] = input_shape_;
  if (input_name_ != "input_1") j["input_name"] = input_name_;
  if (preprocessing_) {
    const Preprocessing& p = *preprocessing_;
    json_ordered pj = json_ordered::object();
    pj["rescale"] = p.rescale;
    if (!p.mean.empty()) pj["mean"] = p.mean;
    if (!p.std.empty()) pj["std"] = p.std;
    pj["channel_order"] = p.bgr ? "bgr" : "rgb";
    if (!p.interpolation.empty()) pj["interpolation"] = p.interpolation;
    j["preprocessing"] = std::move(pj);
  }
  json_ordered layers = json_ordered::array();
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    json_ordered l;
    l["type"] = n.layer->type();
    l["name"] = n.layer->name();
    const std::size_t implied = i == 0 ? kModelInput : i - 1;
    if (n.inputs.size() != 1 || n.inputs[0] != implied) {
      json_ordered in = json_ordered::array();
      for (std::size_t k : n.inputs)
        in.push_back(k == kModelInput ? input_name_ : nodes_[k].layer->name());
      l["inputs"] = n.inputs.size() == 1 ? in[0] : in;
    }
    n.layer->write_config(l);
    if (!n.layer->trainable()) l["trainable"] = false;
    layers.push_back(std::move(l));
  }
  j["layers"] = std::move(layers);
  return j;
}

std::optional<std::size_t> Model::find(const std::string& layer_name) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].layer->name() == layer_name) return i;
  return std::nullopt;
}

bool Model::is_sequential() const {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const std::size_t implied = i == 0 ? kModelInput : i - 1;
    if (nodes_[i].inputs.size() != 1 || nodes_[i].inputs[0] != implied) return false;
  }
  return true;
}

std::vector<Model::NamedParam> Model::named_params() {
  params_changed();
  std::vector<NamedParam> out;
  for (auto& n : nodes_)
    for (auto& p : n.layer->params())
      out.push_back({n.layer->name() + "." + p.name, n.layer.get(), &p});
  return out;
}

std::size_t Model::param_count() const { return values_.size(); }

std::size_t Model::layer_trainable_param_count(std::size_t i) const {
  const Layer& l = *nodes_.at(i).layer;
  if (!l.trainable()) return 0;
  std::size_t c = 0;
  for (const auto& p : l.params())
    if (p.trainable) c += p.size();
  return c;
}

std::size_t Model::trainable_param_count() const {
  std::size_t c = 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) c += layer_trainable_param_count(i);
  return c;
}

void Model::set_trainable(std::size_t i, bool trainable) {
  nodes_.at(i).layer->set_trainable(trainable);
}

void Model::init_params(Rng& rng) {
  params_changed();
  for (auto& n : nodes_)
    for (auto& p : n.layer->params()) init_fill(p.init, p.shape, p.value, rng);
}

void Model::set_layer_times(LayerTimes* times) {
  times_ = times;
  if (times_) {
    times_->forward_s.resize(nodes_.size(), 0.0);
    times_->backward_s.resize(nodes_.size(), 0.0);
  }
}

void Model::zero_grads() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

std::vector<const Tensor*> Model::gather_inputs(std::size_t i, const Tensor& x) const {
  std::vector<const Tensor*> in;
  for (std::size_t j : nodes_[i].inputs) in.push_back(j == kModelInput ? &x : &acts_[j]);
  return in;
}

namespace {
// Context::logits reaches the output node alone: set for the node about to run, and the
// caller's value back when the pass ends, however it ends.
class LogitsForOutput {
 public:
  LogitsForOutput(Context& ctx, std::size_t output)
      : ctx_(ctx), output_(output), wanted_(ctx.logits) {}
  ~LogitsForOutput() { ctx_.logits = wanted_; }
  LogitsForOutput(const LogitsForOutput&) = delete;
  LogitsForOutput& operator=(const LogitsForOutput&) = delete;
  void at(std::size_t node) { ctx_.logits = wanted_ && node == output_; }

 private:
  Context& ctx_;
  std::size_t output_;
  bool wanted_;
};
}  // namespace

const Tensor& Model::forward(Context& ctx, const Tensor& x) {
  const Shape xs = shape_of(x);
  if (xs.size() != input_shape_.size() + 1 ||
      !std::equal(input_shape_.begin(), input_shape_.end(), xs.begin() + 1))
    throw ShapeError(input_name_, "the model expects input " + shape_str(input_shape_, true) +
                                      ", got " + shape_str(xs));
  const std::size_t n = xs[0];
  const bool planned = ctx.output_only && !ctx.training;
  if (planned) {
    use_plan(n);  // checks the planned buffer against the memory budget
  } else {
    drop_plan();
    check_activation_memory(n, ctx.training);
  }
  if (preprocess_input()) {
    ensure_shape(pre_, xs);
    preprocessing_->apply(x.data(), pre_.data(), x.size() / input_shape_.back(),
                          input_shape_.back());
  }
  const Tensor& input = preprocess_input() ? pre_ : x;
  kept_.assign(nodes_.size(), !planned);
  kept_.back() = true;
  LogitsForOutput logits(ctx, nodes_.size() - 1);
  struct RestoreVersion {
    Context& ctx;
    std::uint64_t caller;
    ~RestoreVersion() {
      ctx.params_version = caller;
      ctx.scratch = nullptr;
      ctx.quantized_output = nullptr;
      ctx.output_ldy = 0;
      ctx.product_part = nullptr;
    }
  } restore{ctx, ctx.params_version};
  ctx.params_version = params_version_;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    logits.at(i);
    ctx.scratch = planned ? planned_scratch_[i] : nullptr;
    if (planned && fusable(i)) {
      // Where node i + 2 alone reads the pooling's output and takes it quantized, the fused
      // layer writes it so (Context::quantized_output).
      ctx.quantized_output = nullptr;
      if (i + 2 < nodes_.size() && nodes_[i].layer->writes_quantized_output() &&
          only_reader(i + 1, i + 2))
        ctx.quantized_output = nodes_[i + 2].layer->quantized_input(n);
      ensure_shape(acts_[i + 1], batch_shape(n, nodes_[i + 1].out_shape));
      run_step(ctx, i, input, nodes_[i + 1].layer.get(), acts_[i + 1]);
      ctx.quantized_output = nullptr;
      ++i;  // node i + 1 (the pooling) ran too
      continue;
    }
    if (planned && planned_product_[i]) {
      // A part of a Concatenate multiplied part by part: adds into the product's output.
      const std::size_t product = planned_product_[i];
      const std::vector<std::size_t>& parts = nodes_[product - 1].inputs;
      Context::ProductPart part;
      for (std::size_t p : parts) {
        if (p == i) break;
        part.channel += nodes_[p].out_shape.back();
      }
      part.first = i == parts.front();  // parts run in the order of their channels
      part.last = i == parts.back();
      ctx.product_part = &part;
      run_step(ctx, i, input, nodes_[product].layer.get(), acts_[product]);
      ctx.product_part = nullptr;
      continue;
    }
    if (planned && planned_ldy_[i] == kNoStep) continue;  // its parts or its input wrote it
    // A part of a Concatenate pooled part by part writes its channels of the pooling's output.
    const Layer* pool =
        planned && planned_pool_[i] ? nodes_[planned_pool_[i]].layer.get() : nullptr;
    if (!pool) ensure_shape(acts_[i], batch_shape(n, nodes_[i].out_shape));
    ctx.output_ldy = planned ? planned_ldy_[i] : 0;
    run_step(ctx, i, input, pool, acts_[i]);
    ctx.output_ldy = 0;
  }
  return acts_.back();
}

bool Model::read_elsewhere(std::size_t a, std::size_t b) const {
  for (std::size_t j = 0; j < nodes_.size(); ++j)
    if (j != b)
      for (std::size_t r : nodes_[j].inputs)
        if (r == a) return true;
  return false;
}

bool Model::only_reader(std::size_t a, std::size_t b) const {
  return a + 1 < nodes_.size() && nodes_[b].inputs == std::vector<std::size_t>{a} &&
         !read_elsewhere(a, b);
}

bool Model::concat_in_place(std::size_t i) const {
  const Node& node = nodes_.at(i);
  if (node.layer->type() != "Concatenate" || node.inputs.size() < 2) return false;
  for (std::size_t p : node.inputs) {
    if (p == kModelInput || !nodes_[p].layer->writes_strided_output() ||
        std::count(node.inputs.begin(), node.inputs.end(), p) != 1 || read_elsewhere(p, i))
      return false;
  }
  return true;
}

bool Model::pooled_concat(std::size_t i) const {
  if (!concat_in_place(i) || !only_reader(i, i + 1)) return false;
  const Layer& pool = *nodes_[i + 1].layer;
  return std::all_of(nodes_[i].inputs.begin(), nodes_[i].inputs.end(),
                     [&](std::size_t p) { return nodes_[p].layer->fuses_with(pool); });
}

bool Model::product_concat(std::size_t i) const {
  if (!concat_in_place(i) || i + 2 >= nodes_.size() || !only_reader(i, i + 1)) return false;
  const Layer& product = *nodes_[i + 1].layer;
  const auto& parts = nodes_[i].inputs;
  // The parts run in the order of their channels, so that each continues the sums of the last.
  return std::is_sorted(parts.begin(), parts.end()) &&
         std::all_of(parts.begin(), parts.end(),
                     [&](std::size_t p) { return nodes_[p].layer->feeds_product(product); }) &&
         std::any_of(parts.begin(), parts.end(),
                     [&](std::size_t p) { return nodes_[p].layer->runs_int8(); });
}

bool Model::aliases_input(std::size_t i) const {
  const Node& node = nodes_.at(i);
  return node.layer->copies_input_in_inference() && node.inputs.size() == 1 &&
         node.inputs[0] != kModelInput;
}

bool Model::fusable(std::size_t i) const {
  // Node i read only by the next node, which has no other input, and the two can fuse.
  return i + 1 < nodes_.size() && nodes_[i].layer->fuses_with(*nodes_[i + 1].layer) &&
         only_reader(i, i + 1);
}

void Model::run_step(Context& ctx, std::size_t i, const Tensor& input, const Layer* pool,
                     Tensor& out) {
  const auto in = gather_inputs(i, input);
  const auto t0 =
      times_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  if (pool)
    nodes_[i].layer->forward_fused(ctx, in, *pool, out);
  else
    nodes_[i].layer->forward(ctx, in, out);
  if (times_)
    times_->forward_s[i] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

namespace {
// Places start at the tensor allocator's alignment.
std::size_t round_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }
}  // namespace

Model::MemoryPlan Model::plan_inference_memory(std::size_t n) const {
  const std::size_t count = nodes_.size();
  MemoryPlan plan;
  plan.batch = n;
  plan.outputs.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    MemoryPlan::Output& o = plan.outputs[i];
    o.first = o.last = i;
    o.bytes = n * numel(nodes_[i].out_shape) * sizeof(float);
    plan.kept_bytes += o.bytes;
  }
  // Fused pairs as forward runs them: the convolution's output is never made, and the
  // pooling's is written at the convolution's step.
  for (std::size_t i = 0; i + 1 < count; ++i)
    if (fusable(i)) {
      plan.outputs[i].fused = true;
      plan.outputs[i].bytes = 0;
      plan.outputs[i + 1].first = i;
      ++i;
    }
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t j : nodes_[i].inputs)
      if (j != kModelInput) plan.outputs[j].last = std::max(plan.outputs[j].last, i);
  plan.outputs.back().last = count;  // the caller reads it after the pass
  // Layers that would copy their input share its place, which lives until the last of them is
  // read (aliases of aliases share the first one's).
  for (std::size_t i = 0; i < count; ++i)
    if (aliases_input(i)) {
      const std::size_t j = nodes_[i].inputs[0];
      const std::size_t root = plan.outputs[j].alias_of.value_or(j);
      plan.outputs[i].alias_of = root;
      plan.outputs[root].last = std::max(plan.outputs[root].last, plan.outputs[i].last);
    }
  // Concatenates multiplied part by part: never made; the product's output is written from
  // the first part's step, and the parts have no output of their own.
  for (std::size_t i = 0; i < count; ++i)
    if (product_concat(i)) {
      plan.outputs[i].fused = true;
      plan.outputs[i].bytes = 0;
      for (std::size_t p : nodes_[i].inputs) {
        plan.outputs[p].product_of = i + 1;
        plan.outputs[p].bytes = 0;
        plan.outputs[i + 1].first = std::min(plan.outputs[i + 1].first, plan.outputs[p].first);
      }
    }
  // Concatenates assembled in place: written from their first part's step. One pooled part by
  // part is never made: its parts write their channels of the pooling's output.
  const auto host_of = [&](std::size_t i) { return pooled_concat(i) ? i + 1 : i; };
  for (std::size_t i = 0; i < count; ++i)
    if (concat_in_place(i) && !product_concat(i)) {
      const std::size_t host = host_of(i);
      MemoryPlan::Output& o = plan.outputs[host];
      o.assembled = true;
      const std::size_t ldy = nodes_[i].out_shape.back();
      for (std::size_t p : nodes_[i].inputs) {
        MemoryPlan::Output& part = plan.outputs[p];
        part.part_of = host;
        part.ldy = ldy;
        if (host != i) {
          part.pooled_with = host;
          const Shape& pooled = nodes_[host].out_shape;
          part.bytes = n * pooled[0] * pooled[1] * nodes_[p].out_shape.back() * sizeof(float);
        }
        o.first = std::min(o.first, part.first);
      }
      if (host != i) {
        plan.outputs[i].fused = true;
        plan.outputs[i].bytes = 0;
      }
    }
  // What gets a place: the outputs made, and the scratch of the layers that run (a fused pair's
  // at the convolution's step), each alive from first to last.
  struct Block {
    std::size_t bytes, first, last;
    std::size_t* offset;
  };
  std::vector<Block> blocks;
  for (std::size_t i = 0; i < count; ++i) {
    MemoryPlan::Output& o = plan.outputs[i];
    if (!o.fused && !o.part_of && !o.alias_of && !o.product_of)
      blocks.push_back({o.bytes, o.first, o.last, &o.offset});
    const bool runs = i == 0 || !plan.outputs[i - 1].fused;
    o.scratch_bytes = runs ? nodes_[i].layer->scratch_bytes(n) : 0;
    if (o.fused) o.scratch_bytes = std::max(o.scratch_bytes, nodes_[i + 1].layer->scratch_bytes(n));
    if (o.scratch_bytes) blocks.push_back({o.scratch_bytes, i, i, &o.scratch_offset});
  }
  // Every place starts 64-byte aligned.
  const auto span = [](const Block& b) { return round_up(b.bytes, detail::kTensorAlign); };
  std::stable_sort(blocks.begin(), blocks.end(),
                   [](const Block& a, const Block& b) { return a.bytes > b.bytes; });
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    Block& b = blocks[k];
    // The places of blocks alive at one of its steps, by offset; the lowest gap that fits.
    std::vector<std::pair<std::size_t, std::size_t>> busy;
    for (std::size_t j = 0; j < k; ++j) {
      const Block& p = blocks[j];
      if (p.first <= b.last && b.first <= p.last) busy.emplace_back(*p.offset, *p.offset + span(p));
    }
    std::sort(busy.begin(), busy.end());
    std::size_t at = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo >= at + span(b)) break;
      at = std::max(at, hi);
    }
    *b.offset = at;
    plan.buffer_bytes = std::max(plan.buffer_bytes, at + span(b));
  }
  for (std::size_t step = 0; step <= count; ++step) {
    std::size_t live = 0;
    for (const Block& b : blocks)
      if (b.first <= step && step <= b.last) live += b.bytes;
    plan.live_peak_bytes = std::max(plan.live_peak_bytes, live);
  }
  for (MemoryPlan::Output& o : plan.outputs)
    if (o.alias_of) o.offset = plan.outputs[*o.alias_of].offset;
  // The parts' places: their slices of the Concatenate's (or of its pooling's), one after
  // another along the channels.
  for (std::size_t i = 0; i < count; ++i)
    if (concat_in_place(i) && !product_concat(i)) {
      std::size_t channel = 0;
      for (std::size_t p : nodes_[i].inputs) {
        plan.outputs[p].offset = plan.outputs[host_of(i)].offset + channel * sizeof(float);
        channel += nodes_[p].out_shape.back();
      }
    }
  return plan;
}

void Model::use_plan(std::size_t n) {
  // The plan follows from which layers run int8 or Winograd (fusion, pooled Concatenates):
  // made again when a switch for comparisons (CNN_INT8, CNN_WINOGRAD) has turned since.
  const std::pair<bool, bool> paths{detail::int8_enabled(), Conv2D::winograd_enabled()};
  if (planned_batch_ == n && planned_paths_ == paths) return;
  drop_plan();
  planned_paths_ = paths;
  const MemoryPlan plan = plan_inference_memory(n);
  check_memory(plan.buffer_bytes, "model " + quote(name_) +
                                      ": the layers' outputs for a batch of " + std::to_string(n));
  plan_buffer_ = std::make_unique<TensorBuffer>(plan.buffer_bytes);
  char* buffer = plan_buffer_->data();
  planned_scratch_.assign(nodes_.size(), nullptr);
  planned_ldy_.assign(nodes_.size(), 0);
  planned_pool_.assign(nodes_.size(), 0);
  planned_product_.assign(nodes_.size(), 0);
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const MemoryPlan::Output& o = plan.outputs[i];
    if (o.scratch_bytes) planned_scratch_[i] = buffer + o.scratch_offset;
    if (o.assembled || o.alias_of || (o.fused && (pooled_concat(i) || product_concat(i))))
      planned_ldy_[i] = kNoStep;
    if (i > 0 && product_concat(i - 1)) planned_ldy_[i] = kNoStep;  // its parts wrote it
    if (o.product_of) {
      planned_product_[i] = *o.product_of;
      acts_[i] = Tensor();
      continue;
    }
    if (o.part_of) planned_ldy_[i] = o.ldy;
    if (o.fused) {
      acts_[i] = Tensor();
      continue;
    }
    Shape shape = nodes_[i].out_shape;
    if (o.pooled_with) {
      planned_pool_[i] = *o.pooled_with;
      const Shape& pooled = nodes_[*o.pooled_with].out_shape;
      shape = {pooled[0], pooled[1], shape.back()};
    }
    float* values = reinterpret_cast<float*>(buffer + o.offset);
    place_tensor(acts_[i], values, batch_shape(n, shape));
  }
  planned_batch_ = n;
}

void Model::drop_plan() {
  if (!planned_batch_) return;
  for (Tensor& t : acts_) t = Tensor();
  planned_scratch_.clear();
  planned_ldy_.clear();
  planned_pool_.clear();
  planned_product_.clear();
  plan_buffer_.reset();
  planned_batch_.reset();
}

const Tensor& Model::output_of(std::size_t i) const {
  if (i < kept_.size() && !kept_[i])
    throw Error("the output of layer '" + nodes_[i].layer->name() +
                "' was not kept: the last forward kept the model's output alone "
                "(Context::output_only)");
  return acts_.at(i);
}

void Model::backward(Context& ctx, const Tensor& x, const Tensor& grad_output, Tensor* grad_input) {
  backprop(ctx, x, nodes_.size() - 1, grad_output, grad_input, false);
}

void Model::backward_from(Context& ctx, const Tensor& x, std::size_t from, const Tensor& grad_at,
                          Tensor* grad_input) {
  if (from >= nodes_.size())
    throw Error("backward_from: node " + std::to_string(from) + " is out of range; the model has " +
                std::to_string(nodes_.size()));
  const Node& f = nodes_[from];
  if (shape_of(grad_at) != shape_of(acts_[from]))
    throw ShapeError(f.layer->name(),
                     "the gradient at the output has shape " + shape_str(shape_of(grad_at)) +
                         ", expected " + shape_str(shape_of(acts_[from])),
                     f.layer->type());
  backprop(ctx, x, from, grad_at, grad_input, true);
}

void Model::backprop(Context& ctx, const Tensor& x, std::size_t from, const Tensor& grad_at,
                     Tensor* grad_input, bool every_ancestor) {
  if (std::find(kept_.begin(), kept_.end(), false) != kept_.end())
    throw Error(
        "backward needs the outputs of every layer: run forward without Context::output_only");
  // run[i]: node i feeds `from` (or is it) and its backward must run: every such node when the
  // caller wants every gradient (grad_of), else only those that, or whose inputs, want gradients
  // (trainable parameters, or the model input when grad_input is given).
  std::vector<bool> feeds(nodes_.size(), false), upstream(nodes_.size(), false);
  feeds[from] = true;
  for (std::size_t i = from + 1; i-- > 0;)
    if (feeds[i])
      for (std::size_t j : nodes_[i].inputs)
        if (j != kModelInput) feeds[j] = true;
  for (std::size_t i = 0; i <= from; ++i) {
    bool u = layer_trainable_param_count(i) > 0;
    for (std::size_t j : nodes_[i].inputs)
      u = u || (j == kModelInput ? grad_input != nullptr : upstream[j]);
    upstream[i] = u;
  }
  grad_ready_.assign(nodes_.size(), false);
  for (std::size_t i = 0; i <= from; ++i)
    grad_ready_[i] = feeds[i] && (every_ancestor || upstream[i]);

  const Tensor& input = preprocess_input() ? pre_ : x;
  Tensor* grad_model_input = grad_input;
  if (grad_input) {
    ensure_shape(*grad_input, shape_of(x));
    std::fill(grad_input->begin(), grad_input->end(), 0.0f);
    if (preprocess_input()) {
      // Layers reading the model input add dL/d(preprocessed x) here; mapped back at the end.
      ensure_shape(pre_grad_, shape_of(x));
      std::fill(pre_grad_.begin(), pre_grad_.end(), 0.0f);
      grad_model_input = &pre_grad_;
    }
  }
  // Gradient buffers are zeroed just before the first layer that adds into them (below): then
  // they are still in cache when it does, and the zeroing is split over the threads.
  std::vector<bool> zeroed(nodes_.size(), false);
  for (std::size_t i = 0; i < from; ++i)
    if (grad_ready_[i]) ensure_shape(act_grads_[i], shape_of(acts_[i]));
  // grad_of(from) is the given gradient: kept only for callers that ask (backward_from).
  if (every_ancestor) {
    ensure_shape(act_grads_[from], shape_of(grad_at));
    std::copy(grad_at.begin(), grad_at.end(), act_grads_[from].begin());
  } else {
    grad_ready_[from] = false;
  }
  // Nodes whose gradient the one layer reading them gives before their relu (a max pooling
  // after a relu convolution: Context::relu_grad_in), so that they skip the relu's backward, a
  // pass over their whole output. Not for backward_from: grad_of is dL/d(output).
  std::vector<bool> pre_activation(nodes_.size(), false);
  LogitsForOutput logits(ctx, nodes_.size() - 1);
  for (std::size_t i = from + 1; i-- > 0;) {
    if (!feeds[i] || !(every_ancestor || upstream[i])) continue;
    logits.at(i);
    const auto in = gather_inputs(i, input);
    std::vector<Tensor*> gin;
    ctx.relu_grad_in = false;
    if (!every_ancestor && nodes_[i].layer->masks_relu_grad_input() &&
        nodes_[i].inputs.size() == 1) {
      const std::size_t j = nodes_[i].inputs[0];
      if (j != kModelInput && grad_ready_[j] && only_reader(j, i) &&
          nodes_[j].layer->takes_pre_activation_grad() &&
          nodes_[j].layer->activation() == kernels::Act::Relu) {
        ctx.relu_grad_in = true;
        pre_activation[j] = true;
      }
    }
    ctx.grad_out_pre_activation = pre_activation[i];
    // A one-input layer that zeroes the buffer itself while it first adds into it.
    ctx.grad_in_unzeroed = false;
    if (nodes_[i].layer->zeroes_grad_input() && nodes_[i].inputs.size() == 1) {
      const std::size_t j = nodes_[i].inputs[0];
      if (j != kModelInput && grad_ready_[j] && !zeroed[j]) {
        ctx.grad_in_unzeroed = true;
        zeroed[j] = true;
      }
    }
    for (std::size_t j : nodes_[i].inputs) {
      if (j != kModelInput && grad_ready_[j] && !zeroed[j]) {
        float* g = act_grads_[j].data();
        kernels::parallel_for(0, act_grads_[j].size(), [g](std::size_t lo, std::size_t hi) {
          std::fill(g + lo, g + hi, 0.0f);
        });
        zeroed[j] = true;
      }
      gin.push_back(j == kModelInput ? grad_model_input
                                     : (grad_ready_[j] ? &act_grads_[j] : nullptr));
    }
    const Tensor& gout = i == from ? grad_at : act_grads_[i];
    const auto t0 =
        times_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    nodes_[i].layer->backward(ctx, in, acts_[i], gout, gin);
    ctx.grad_in_unzeroed = ctx.relu_grad_in = ctx.grad_out_pre_activation = false;
    if (times_)
      times_->backward_s[i] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (ctx.after_node_backward) ctx.after_node_backward(i);
  }
  if (grad_input && preprocess_input())
    preprocessing_->backward_add(pre_grad_.data(), grad_input->data(),
                                 grad_input->size() / input_shape_.back(), input_shape_.back());
}

const Tensor& Model::grad_of(std::size_t i) const {
  if (i >= grad_ready_.size() || !grad_ready_[i])
    throw Error("grad_of: node " + std::to_string(i) +
                " has no gradient from the last backward_from()");
  return act_grads_[i];
}

}  // namespace cnn
