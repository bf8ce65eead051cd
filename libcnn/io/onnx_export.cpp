// ONNX export: one pass over the model's nodes in execution order, each layer written as the
// ONNX operators that compute it on NCHW images and [N, k] vectors (see onnx_export.hpp).
#include "io/onnx_export.hpp"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <map>

#include "io/atomic_file.hpp"
#include "kernels/window.hpp"
#include "layers/permute.hpp"
#include "tensor/version.hpp"

namespace cnn::io {
namespace {

using Pair = std::array<std::size_t, 2>;

// A Keras pair key as written by write_config: an int or [a, b].
Pair cfg_pair(const json_ordered& cfg, const std::string& key, Pair def) {
  const auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return def;
  if (it->is_number()) return {it->get<std::size_t>(), it->get<std::size_t>()};
  return {(*it)[0].get<std::size_t>(), (*it)[1].get<std::size_t>()};
}

// ONNX's pads [top, left, bottom, right] of a window sweep over image [h, w, c] with our
// valid/same padding (kernels::window_1d, as the layers compute it).
std::array<std::int64_t, 4> window_pads(const Shape& image, Pair k, Pair s, Pair d,
                                        kernels::Padding padding) {
  std::array<std::int64_t, 4> pads{};
  for (std::size_t a = 0; a < 2; ++a) {
    const auto w = kernels::window_1d(image[a], k[a], s[a], d[a], padding);
    pads[a] = static_cast<std::int64_t>(w->pad_before);
    pads[a + 2] = static_cast<std::int64_t>(w->pad_after);
  }
  return pads;
}

// A computed tensor of the graph: its ONNX name, and whether it is an NCHW image (else [N, k]).
struct GraphValue {
  std::string name;
  bool image = false;
  Shape shape;  // per sample, in the model's layout ([h, w, c] or [k])
};

class Exporter {
 public:
  Exporter(const Model& model, const OnnxExportOptions& opt) : model_(model), opt_(opt) {}
  std::string run(OnnxExportResult& result);

 private:
  onnx::NodeProto& node(const std::string& op, const std::string& name,
                        std::vector<std::string> inputs, const std::string& output);
  void attr(onnx::NodeProto& n, const std::string& key, std::int64_t v);
  void attr(onnx::NodeProto& n, const std::string& key, float v);
  void attr(onnx::NodeProto& n, const std::string& key, const std::vector<std::int64_t>& v);
  std::string initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                          const float* data);
  std::string int_initializer(const std::string& name, const std::vector<std::int64_t>& v);
  // A per-channel constant broadcast against t ([C, 1, 1] for an NCHW image, [C] for a
  // vector), or a scalar when every value is the same.
  std::string channel_constant(const std::string& name, const std::vector<float>& v,
                               const GraphValue& t);
  const float* param(const Layer& l, const std::string& name) const;
  // The activation after a layer's own operator: the name of the tensor it makes.
  // An Activation layer's own node is named after the layer, a fused one "<layer>/<act>".
  std::string activation(kernels::Act a, const std::string& layer, const std::string& in,
                         const std::string& out, bool own_node);
  std::string preprocess(const std::string& input);

  GraphValue conv(const Layer& l, const json_ordered& cfg, const GraphValue& x, std::size_t i);
  GraphValue pool(const Layer& l, const json_ordered& cfg, const GraphValue& x, bool max);
  GraphValue global_pool(const Layer& l, const json_ordered& cfg, const GraphValue& x, bool max);
  GraphValue dense(const Layer& l, const json_ordered& cfg, const GraphValue& x);
  GraphValue batch_norm(const Layer& l, const json_ordered& cfg, const GraphValue& x);
  GraphValue rescaling(const Layer& l, const json_ordered& cfg, const GraphValue& x);
  GraphValue zero_padding(const Layer& l, const json_ordered& cfg, const GraphValue& x);
  GraphValue permute(const Layer& l, const GraphValue& x);
  GraphValue layer(std::size_t i, const std::vector<GraphValue>& ins);
  // Whether node i is a BatchNormalization folded into the Conv2D it reads.
  bool folded_bn(std::size_t i) const;

  const Model& model_;
  const OnnxExportOptions& opt_;
  onnx::GraphProto* graph_ = nullptr;
  std::vector<std::string> notes_;
  std::vector<int> readers_;  // per node: how many nodes read its output
};

onnx::NodeProto& Exporter::node(const std::string& op, const std::string& name,
                                std::vector<std::string> inputs, const std::string& output) {
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (auto& in : inputs) n->add_input(std::move(in));
  n->add_output(output);
  return *n;
}

void Exporter::attr(onnx::NodeProto& n, const std::string& key, std::int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(key);
  a->set_type(onnx::AttributeProto_AttributeType_INT);
  a->set_i(v);
}

void Exporter::attr(onnx::NodeProto& n, const std::string& key, float v) {
  auto* a = n.add_attribute();
  a->set_name(key);
  a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
  a->set_f(v);
}

void Exporter::attr(onnx::NodeProto& n, const std::string& key,
                    const std::vector<std::int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(key);
  a->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (auto x : v) a->add_ints(x);
}

std::string Exporter::initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                                  const float* data) {
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto_DataType_FLOAT);
  std::size_t n = 1;
  for (auto d : dims) {
    t->add_dims(d);
    n *= static_cast<std::size_t>(d);
  }
  // raw_data is little-endian, as this machine's floats are (x86-64, AArch64).
  t->set_raw_data(reinterpret_cast<const char*>(data), n * sizeof(float));
  return name;
}

std::string Exporter::int_initializer(const std::string& name, const std::vector<std::int64_t>& v) {
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto_DataType_INT64);
  t->add_dims(static_cast<std::int64_t>(v.size()));
  for (auto x : v) t->add_int64_data(x);
  return name;
}

std::string Exporter::channel_constant(const std::string& name, const std::vector<float>& v,
                                       const GraphValue& t) {
  bool same = true;
  for (float x : v) same = same && x == v[0];
  if (same) return initializer(name, {}, v.data());
  const auto c = static_cast<std::int64_t>(v.size());
  if (t.image) return initializer(name, {c, 1, 1}, v.data());
  return initializer(name, {c}, v.data());
}

const float* Exporter::param(const Layer& l, const std::string& name) const {
  for (const Param& p : l.params())
    if (p.name == name) return p.value;
  return nullptr;
}

std::string Exporter::activation(kernels::Act a, const std::string& layer, const std::string& in,
                                 const std::string& out, bool own_node) {
  using kernels::Act;
  const std::string name = own_node ? layer : layer + "/" + kernels::act_name(a);
  switch (a) {
    case Act::Linear:
      node("Identity", name, {in}, out);
      break;
    case Act::Relu:
      node("Relu", name, {in}, out);
      break;
    case Act::Sigmoid:
      node("Sigmoid", name, {in}, out);
      break;
    case Act::Tanh:
      node("Tanh", name, {in}, out);
      break;
    case Act::Elu:
      attr(node("Elu", name, {in}, out), "alpha", 1.0f);
      break;
    case Act::LeakyRelu:
      attr(node("LeakyRelu", name, {in}, out), "alpha", kernels::kLeakyReluAlpha);
      break;
    case Act::Softmax:
      // Over the channels: axis 1 of NCHW and of [N, k].
      attr(node("Softmax", name, {in}, out), "axis", std::int64_t{1});
      break;
  }
  return out;
}

// The declared preprocessing on the NHWC input, as the model applies it: channels reversed for
// BGR, then x * scale[c] + shift[c] (Preprocessing::affine).
std::string Exporter::preprocess(const std::string& input) {
  const auto& pre = model_.preprocessing();
  if (!pre || pre->is_identity()) return input;
  std::string x = input;
  const std::size_t c = model_.input_shape().back();
  if (pre->bgr) {
    auto& g = node("Gather", "preprocessing/bgr",
                   {x, int_initializer("preprocessing.bgr", {2, 1, 0})}, "preprocessing/bgr");
    attr(g, "axis", std::int64_t{-1});
    x = "preprocessing/bgr";
  }
  std::vector<float> scale, shift;
  pre->affine(c, scale, shift);
  const auto cc = static_cast<std::int64_t>(c);
  node("Mul", "preprocessing/scale", {x, initializer("preprocessing.scale", {cc}, scale.data())},
       "preprocessing/scale");
  node("Add", "preprocessing/shift",
       {"preprocessing/scale", initializer("preprocessing.shift", {cc}, shift.data())},
       "input/preprocessed");
  return "input/preprocessed";
}

GraphValue Exporter::conv(const Layer& l, const json_ordered& cfg, const GraphValue& x,
                          std::size_t i) {
  const Pair k = cfg_pair(cfg, "kernel_size", {1, 1});
  const Pair s = cfg_pair(cfg, "strides", {1, 1});
  const Pair d = cfg_pair(cfg, "dilation_rate", {1, 1});
  const auto padding = kernels::padding_from_name(cfg.value("padding", std::string("valid")));
  const std::size_t ci = x.shape[2];
  const auto f = static_cast<std::size_t>(cfg.at("filters").get<long>());
  const std::array<std::int64_t, 4> pads = window_pads(x.shape, k, s, d, padding);
  // HWIO -> OIHW, and the bias (zeros when the layer has none and a BatchNormalization is
  // folded in).
  const float* kernel = param(l, "kernel");
  std::vector<float> w(k[0] * k[1] * ci * f), b(f, 0.0f);
  for (std::size_t a = 0; a < k[0]; ++a)
    for (std::size_t bb = 0; bb < k[1]; ++bb)
      for (std::size_t c = 0; c < ci; ++c)
        for (std::size_t o = 0; o < f; ++o)
          w[((o * ci + c) * k[0] + a) * k[1] + bb] = kernel[((a * k[1] + bb) * ci + c) * f + o];
  const float* bias = param(l, "bias");
  if (bias) std::memcpy(b.data(), bias, f * sizeof(float));
  bool has_bias = bias != nullptr;
  // A BatchNormalization folded in: per output channel, w *= gamma * rstd and
  // b = (b - mean) * gamma * rstd + beta (in double, rounded once).
  if (i + 1 < model_.size() && folded_bn(i + 1)) {
    const Layer& bn = model_.layer(i + 1);
    json_ordered bcfg;
    bn.write_config(bcfg);
    const double eps = bcfg.value("epsilon", 0.001);
    const float *gamma = param(bn, "gamma"), *beta = param(bn, "beta");
    const float *mean = param(bn, "moving_mean"), *var = param(bn, "moving_variance");
    const std::size_t per = ci * k[0] * k[1];
    for (std::size_t o = 0; o < f; ++o) {
      const double g = (gamma ? gamma[o] : 1.0) / std::sqrt(static_cast<double>(var[o]) + eps);
      for (std::size_t e = 0; e < per; ++e) w[o * per + e] = static_cast<float>(w[o * per + e] * g);
      b[o] = static_cast<float>((b[o] - mean[o]) * g + (beta ? beta[o] : 0.0));
    }
    has_bias = true;
    notes_.push_back("BatchNormalization '" + bn.name() + "' folded into Conv2D '" + l.name() +
                     "'");
  }
  std::vector<std::string> ins = {
      x.name, initializer(l.name() + ".kernel",
                          {static_cast<std::int64_t>(f), static_cast<std::int64_t>(ci),
                           static_cast<std::int64_t>(k[0]), static_cast<std::int64_t>(k[1])},
                          w.data())};
  if (has_bias)
    ins.push_back(initializer(l.name() + ".bias", {static_cast<std::int64_t>(f)}, b.data()));
  const auto act = l.activation().value_or(kernels::Act::Linear);
  const std::string out = act == kernels::Act::Linear ? l.name() : l.name() + "/conv";
  auto& n = node("Conv", l.name(), ins, out);
  attr(n, "kernel_shape", {static_cast<std::int64_t>(k[0]), static_cast<std::int64_t>(k[1])});
  attr(n, "strides", {static_cast<std::int64_t>(s[0]), static_cast<std::int64_t>(s[1])});
  attr(n, "dilations", {static_cast<std::int64_t>(d[0]), static_cast<std::int64_t>(d[1])});
  attr(n, "pads", std::vector<std::int64_t>(pads.begin(), pads.end()));
  if (act != kernels::Act::Linear) activation(act, l.name(), out, l.name(), false);
  return {l.name(), true, {}};
}

GraphValue Exporter::pool(const Layer& l, const json_ordered& cfg, const GraphValue& x, bool max) {
  const Pair k = cfg_pair(cfg, "pool_size", {2, 2});
  const Pair s = cfg_pair(cfg, "strides", k);
  const Pair d = cfg_pair(cfg, "dilation_rate", {1, 1});
  const bool ceil = cfg.value("ceil_mode", false);
  std::array<std::int64_t, 4> pads{};
  const auto& padding = cfg.at("padding");
  if (padding.is_array()) {  // explicit [[top, bottom], [left, right]]
    for (std::size_t a = 0; a < 2; ++a) {
      pads[a] = padding[a][0].get<std::int64_t>();
      pads[a + 2] = padding[a][1].get<std::int64_t>();
    }
  } else {
    pads = window_pads(x.shape, k, s, d, kernels::padding_from_name(padding.get<std::string>()));
  }
  const bool dilated = d != Pair{1, 1};
  if (dilated && !max && opt_.opset < 19)
    throw Error("cnn-export onnx: layer '" + l.name() +
                "': a dilated AveragePooling2D needs opset 19 or later (--opset 19)");
  auto& n = node(max ? "MaxPool" : "AveragePool", l.name(), {x.name}, l.name());
  attr(n, "kernel_shape", {static_cast<std::int64_t>(k[0]), static_cast<std::int64_t>(k[1])});
  attr(n, "strides", {static_cast<std::int64_t>(s[0]), static_cast<std::int64_t>(s[1])});
  attr(n, "pads", std::vector<std::int64_t>(pads.begin(), pads.end()));
  if (dilated)
    attr(n, "dilations", {static_cast<std::int64_t>(d[0]), static_cast<std::int64_t>(d[1])});
  // Padding cells never win a max and are not counted in an average, as in Keras.
  if (!max) attr(n, "count_include_pad", std::int64_t{0});
  if (ceil) attr(n, "ceil_mode", std::int64_t{1});
  return {l.name(), true, {}};
}

GraphValue Exporter::global_pool(const Layer& l, const json_ordered& cfg, const GraphValue& x,
                                 bool max) {
  const std::string op = max ? "GlobalMaxPool" : "GlobalAveragePool";
  if (cfg.value("keepdims", false)) {
    node(op, l.name(), {x.name}, l.name());
    return {l.name(), true, {}};
  }
  node(op, l.name(), {x.name}, l.name() + "/pool");
  attr(node("Flatten", l.name() + "/flatten", {l.name() + "/pool"}, l.name()), "axis",
       std::int64_t{1});
  return {l.name(), false, {}};
}

GraphValue Exporter::dense(const Layer& l, const json_ordered& cfg, const GraphValue& x) {
  const auto units = cfg.at("units").get<std::int64_t>();
  const auto in = static_cast<std::int64_t>(x.shape[0]);
  std::vector<std::string> ins = {
      x.name, initializer(l.name() + ".kernel", {in, units}, param(l, "kernel"))};
  if (const float* b = param(l, "bias")) ins.push_back(initializer(l.name() + ".bias", {units}, b));
  const auto act = l.activation().value_or(kernels::Act::Linear);
  const std::string out = act == kernels::Act::Linear ? l.name() : l.name() + "/gemm";
  node("Gemm", l.name(), ins, out);
  if (act != kernels::Act::Linear) activation(act, l.name(), out, l.name(), false);
  return {l.name(), false, {}};
}

GraphValue Exporter::batch_norm(const Layer& l, const json_ordered& cfg, const GraphValue& x) {
  const std::size_t c = x.image ? x.shape[2] : x.shape[0];
  const auto cc = static_cast<std::int64_t>(c);
  const std::vector<float> ones(c, 1.0f), zeros(c, 0.0f);
  const float* gamma = param(l, "gamma");
  const float* beta = param(l, "beta");
  auto& n = node("BatchNormalization", l.name(),
                 {x.name, initializer(l.name() + ".gamma", {cc}, gamma ? gamma : ones.data()),
                  initializer(l.name() + ".beta", {cc}, beta ? beta : zeros.data()),
                  initializer(l.name() + ".moving_mean", {cc}, param(l, "moving_mean")),
                  initializer(l.name() + ".moving_variance", {cc}, param(l, "moving_variance"))},
                 l.name());
  attr(n, "epsilon", static_cast<float>(cfg.value("epsilon", 0.001)));
  attr(n, "momentum", static_cast<float>(cfg.value("momentum", 0.99)));
  return {l.name(), x.image, {}};
}

// Rescaling: x * scale + offset, each one number or one per channel.
GraphValue Exporter::rescaling(const Layer& l, const json_ordered& cfg, const GraphValue& x) {
  const std::size_t c = x.image ? x.shape[2] : x.shape.back();
  auto values = [&](const char* key, float def) {
    std::vector<float> v(c, def);
    const auto it = cfg.find(key);
    if (it == cfg.end()) return v;
    for (std::size_t k = 0; k < c; ++k)
      v[k] = it->is_array() ? (*it)[k].get<float>() : it->get<float>();
    return v;
  };
  const auto scale = values("scale", 1.0f), offset = values("offset", 0.0f);
  bool zero_offset = true;
  for (float o : offset) zero_offset = zero_offset && o == 0.0f;
  const std::string mul_out = zero_offset ? l.name() : l.name() + "/scale";
  node("Mul", l.name(), {x.name, channel_constant(l.name() + ".scale", scale, x)}, mul_out);
  if (!zero_offset)
    node("Add", l.name() + "/offset", {mul_out, channel_constant(l.name() + ".offset", offset, x)},
         l.name());
  return {l.name(), x.image, {}};
}

GraphValue Exporter::zero_padding(const Layer& l, const json_ordered& cfg, const GraphValue& x) {
  const auto& p = cfg.at("padding");  // [[top, bottom], [left, right]]
  const std::vector<std::int64_t> pads = {0, 0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1]};
  node("Pad", l.name(), {x.name, int_initializer(l.name() + ".pads", pads)}, l.name());
  return {l.name(), true, {}};
}

// Permute: one Transpose. Images are NCHW in the graph: ONNX axes 1, 2, 3 hold our axes 2 (c),
// 0 (h), 1 (w), and the output image is NCHW again.
GraphValue Exporter::permute(const Layer& l, const GraphValue& x) {
  const auto& axes = dynamic_cast<const Permute&>(l).axes();
  std::vector<std::int64_t> perm{0};
  if (x.image) {
    const std::int64_t onnx_axis[3] = {2, 3, 1};  // of our axis h, w, c
    for (std::size_t k : {std::size_t{2}, std::size_t{0}, std::size_t{1}})
      perm.push_back(onnx_axis[axes[k]]);
  } else {
    for (auto a : axes) perm.push_back(static_cast<std::int64_t>(a) + 1);
  }
  attr(node("Transpose", l.name(), {x.name}, l.name()), "perm", perm);
  return {l.name(), x.image, {}};
}

bool Exporter::folded_bn(std::size_t i) const {
  if (!opt_.fold_batch_norm) return false;
  const auto& nd = model_.node(i);
  if (nd.layer->type() != "BatchNormalization" || nd.inputs.size() != 1 ||
      nd.inputs[0] == Model::kModelInput || nd.inputs[0] + 1 != i)
    return false;
  const Layer& conv = model_.layer(nd.inputs[0]);
  return conv.type() == "Conv2D" && conv.activation() == kernels::Act::Linear &&
         readers_[nd.inputs[0]] == 1;
}

GraphValue Exporter::layer(std::size_t i, const std::vector<GraphValue>& ins) {
  const Layer& l = model_.layer(i);
  json_ordered cfg;
  l.write_config(cfg);
  const std::string& type = l.type();
  const GraphValue& x = ins[0];
  GraphValue y;
  if (type == "Conv2D") {
    y = conv(l, cfg, x, i);
  } else if (folded_bn(i)) {
    y = x;  // the Conv2D before it wrote the folded values
  } else if (type == "MaxPooling2D" || type == "AveragePooling2D") {
    y = pool(l, cfg, x, type == "MaxPooling2D");
  } else if (type == "GlobalAveragePooling2D" || type == "GlobalMaxPooling2D") {
    y = global_pool(l, cfg, x, type == "GlobalMaxPooling2D");
  } else if (type == "Dense") {
    y = dense(l, cfg, x);
  } else if (type == "BatchNormalization") {
    y = batch_norm(l, cfg, x);
  } else if (type == "Rescaling") {
    y = rescaling(l, cfg, x);
  } else if (type == "ZeroPadding2D") {
    y = zero_padding(l, cfg, x);
  } else if (type == "Flatten") {
    if (!x.image) {
      y = x;
    } else {
      // Keras's order: the NCHW image back to NHWC first.
      attr(node("Transpose", l.name() + "/nhwc", {x.name}, l.name() + "/nhwc"), "perm",
           std::vector<std::int64_t>{0, 2, 3, 1});
      attr(node("Flatten", l.name(), {l.name() + "/nhwc"}, l.name()), "axis", std::int64_t{1});
      y = {l.name(), false, {}};
    }
  } else if (type == "Permute") {
    y = permute(l, x);
  } else if (type == "Dropout") {
    notes_.push_back("Dropout '" + l.name() + "' left out (identity in inference)");
    y = x;
  } else if (type == "Activation") {
    const auto act = l.activation().value_or(kernels::Act::Linear);
    activation(act, l.name(), x.name, l.name(), true);
    y = {l.name(), x.image, {}};
  } else if (type == "Add") {
    std::vector<std::string> names;
    for (const auto& t : ins) names.push_back(t.name);
    node(ins.size() == 2 ? "Add" : "Sum", l.name(), names, l.name());
    y = {l.name(), x.image, {}};
  } else if (type == "Concatenate") {
    std::vector<std::string> names;
    for (const auto& t : ins) names.push_back(t.name);
    attr(node("Concat", l.name(), names, l.name()), "axis", std::int64_t{1});
    y = {l.name(), x.image, {}};
  } else {
    throw Error("cnn-export onnx: layer '" + l.name() + "' of type " + type +
                " has no ONNX form here");
  }
  y.shape = model_.node(i).out_shape;
  return y;
}

void set_shape(onnx::ValueInfoProto* v, const std::string& name,
               const std::vector<std::int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  for (auto d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (d < 0)
      dim->set_dim_param("N");
    else
      dim->set_dim_value(d);
  }
}

std::string Exporter::run(OnnxExportResult& result) {
  if (opt_.opset < 13)
    throw Error("cnn-export onnx: opset " + std::to_string(opt_.opset) +
                " is not supported; 13 or later (Softmax over one axis)");
  onnx::ModelProto m;
  // The IR version of the ONNX release that introduced the opset (13: 1.8, 18: 1.13, 20: 1.15).
  const std::int64_t o = opt_.opset;
  m.set_ir_version(o <= 13 ? 7 : o <= 18 ? 8 : o <= 20 ? 9 : 10);
  m.set_producer_name("cnn");
  m.set_producer_version(version());
  m.set_model_version(1);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opt_.opset);
  graph_ = m.mutable_graph();
  graph_->set_name(model_.name());

  readers_.assign(model_.size(), 0);
  for (std::size_t i = 0; i < model_.size(); ++i)
    for (auto in : model_.node(i).inputs)
      if (in != Model::kModelInput) ++readers_[in];

  const Shape& in_shape = model_.input_shape();
  std::vector<std::int64_t> in_dims = {-1};
  for (auto d : in_shape) in_dims.push_back(static_cast<std::int64_t>(d));
  set_shape(graph_->add_input(), model_.input_name(), in_dims);
  GraphValue input{preprocess(model_.input_name()), in_shape.size() == 3, in_shape};
  if (input.image) {
    attr(node("Transpose", "input/nchw", {input.name}, "input/nchw"), "perm",
         std::vector<std::int64_t>{0, 3, 1, 2});
    input.name = "input/nchw";
  }

  std::vector<GraphValue> outs(model_.size());
  for (std::size_t i = 0; i < model_.size(); ++i) {
    std::vector<GraphValue> ins;
    for (auto in : model_.node(i).inputs)
      ins.push_back(in == Model::kModelInput ? input : outs[in]);
    outs[i] = layer(i, ins);
  }
  GraphValue y = outs.back();
  std::string out_name = model_.layer(model_.size() - 1).name();
  if (y.image) {
    attr(node("Transpose", "output/nhwc", {y.name}, out_name + "/nhwc"), "perm",
         std::vector<std::int64_t>{0, 2, 3, 1});
    out_name += "/nhwc";
  } else if (y.name != out_name) {
    node("Identity", "output/identity", {y.name},
         out_name);  // the last layer was left out (Dropout)
  }
  std::vector<std::int64_t> out_dims = {-1};
  for (auto d : model_.output_shape()) out_dims.push_back(static_cast<std::int64_t>(d));
  set_shape(graph_->add_output(), out_name, out_dims);

  auto meta = [&](const std::string& k, const std::string& v) {
    auto* p = m.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  };
  meta("input_layout", in_shape.size() == 3 ? "NHWC" : "NC");
  if (!opt_.class_names.empty()) meta("class_names", json(opt_.class_names).dump());
  if (const auto& pre = model_.preprocessing(); pre && !pre->is_identity()) {
    json_ordered arch = model_.to_json();
    meta("preprocessing", arch.value("preprocessing", json_ordered::object()).dump());
  }

  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw Error("cnn-export onnx: the model cannot be serialised");
  result.input_name = model_.input_name();
  result.output_name = out_name;
  result.input_shape = in_dims;
  result.output_shape = out_dims;
  result.nodes = static_cast<std::size_t>(graph_->node_size());
  result.initializers = static_cast<std::size_t>(graph_->initializer_size());
  result.bytes = bytes.size();
  result.notes = notes_;
  return bytes;
}

}  // namespace

std::string onnx_model_bytes(const Model& model, const OnnxExportOptions& opt,
                             OnnxExportResult* result) {
  OnnxExportResult r;
  std::string bytes = Exporter(model, opt).run(r);
  if (result) *result = std::move(r);
  return bytes;
}

OnnxExportResult export_onnx(const Model& model, const OnnxExportOptions& opt,
                             const std::string& path) {
  OnnxExportResult r;
  write_file_atomically(path, onnx_model_bytes(model, opt, &r));
  return r;
}

}  // namespace cnn::io
