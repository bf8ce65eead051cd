// ONNX import: walks the (topologically sorted) graph once, folding constant subgraphs, and
// emits one channels-last layer per operator (fewer where a bias Add or a Relu fuses into the
// Conv/Dense before it). Shapes are tracked per value so that padding, flattening and weight
// layouts can be decided exactly.
#include "io/onnx_import.hpp"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "io/atomic_file.hpp"
#include "kernels/activation.hpp"
#include "model/model.hpp"

namespace cnn::io {
namespace {

// A constant tensor (initializer, Constant node or folded subgraph), as floats and as integers.
struct Const {
  std::vector<std::int64_t> dims;
  std::vector<float> f;
  std::vector<std::int64_t> i;
  bool integer = false;
  std::size_t numel() const { return integer ? i.size() : f.size(); }
};

// A computed tensor: which layer makes it, and its per-sample shape in channels-last order.
struct Value {
  int layer = -1;  // index into the layers; -1 is the model input
  Shape shape;     // [h, w, c] for images, [n] for vectors
  bool image = false;
  // Non-empty for a vector that holds an NCHW image [c, h, w] flattened in NHWC order (our
  // Flatten): a Dense reading it needs its rows permuted.
  Shape chw;
  bool nonneg = false;  // known >= 0 (after a ReLU): zero padding cannot change a max
  // An image whose ONNX tensor is channels-last [N, H, W, C] (our own layout: a graph with an
  // NHWC input, as cnn-export and tf2onnx write them, before its Transpose to NCHW).
  bool nhwc = false;
};

struct PendingLayer {
  std::string type, wanted_name;  // wanted_name: from the ONNX node; empty: Keras default
  json_ordered cfg;               // the layer's own keys
  std::vector<int> inputs;        // layer indices, -1 for the model input
  std::map<std::string, HostTensor> params;
  bool bias_set = false;  // a bias came from the file (else use_bias is dropped)
  std::string node;       // the ONNX node, for messages
};

std::string valid_layer_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  const auto first = out.find_first_not_of('_');
  if (first == std::string::npos) return "";
  const auto last = out.find_last_not_of('_');
  return out.substr(first, last - first + 1);
}

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// Pool windows above this many cells a side are refused (dilated extents stay far from overflow).
constexpr std::size_t kMaxPoolWindow = std::size_t{1} << 20;

class Importer {
 public:
  Importer(std::string path, const OnnxImportOptions& opt) : path_(std::move(path)), opt_(opt) {}

  ImportedModel run();

 private:
  // Errors name the file and the node.
  [[noreturn]] void fail(const onnx::NodeProto& n, const std::string& problem) const {
    throw FormatError(path_, std::nullopt, node_label(n) + ": " + problem);
  }
  [[noreturn]] void fail(const std::string& problem) const {
    throw FormatError(path_, std::nullopt, problem);
  }
  static std::string node_label(const onnx::NodeProto& n) {
    return "node '" + n.name() + "' (" + n.op_type() + ")";
  }

  Const tensor_const(const onnx::TensorProto& t, const std::string& what) const;
  const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) const;
  std::int64_t attr_int(const onnx::NodeProto& n, const std::string& name, std::int64_t def) const;
  float attr_float(const onnx::NodeProto& n, const std::string& name, float def) const;
  std::string attr_string(const onnx::NodeProto& n, const std::string& name,
                          const std::string& def) const;
  std::vector<std::int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name,
                                      std::vector<std::int64_t> def) const;

  bool is_const(const std::string& name) const { return consts_.count(name) > 0; }
  const Const& constant(const onnx::NodeProto& n, int input) const;
  const Value& value(const onnx::NodeProto& n, int input) const;
  const Value& image(const onnx::NodeProto& n, int input) const;
  void set_output(const onnx::NodeProto& n, Value v) { values_[n.output(0)] = std::move(v); }
  int add_layer(const onnx::NodeProto& n, std::string type, json_ordered cfg,
                std::vector<int> inputs);
  // Whether the layer making v can absorb a following bias Add or Relu: a Conv2D or Dense
  // without activation whose output nothing else reads.
  bool fusable(const std::string& value_name, const Value& v) const;

  // A window operator's padding in our terms: valid, same, or a ZeroPadding2D first.
  struct Window {
    std::string padding = "valid";
    bool ceil_mode = false;
    bool zero_pad = false;
    bool explicit_pad = false;  // pooling: the cells as the layer's own explicit padding
    std::array<std::array<std::size_t, 2>, 2> pad{};  // [axis][before, after] of the padding
    std::array<std::size_t, 2> out{};                 // ONNX's output size
  };
  Window window(const onnx::NodeProto& n, const Value& x, const std::array<std::size_t, 2>& ek,
                const std::array<std::size_t, 2>& s, bool ceil, bool pool,
                bool pad_cells_count) const;
  int pad_layer(const onnx::NodeProto& n, const Value& x, const Window& w);

  void fold_constant(const onnx::NodeProto& n);
  Const constant_node(const onnx::NodeProto& n) const;
  std::vector<std::int64_t> reshaped(const onnx::NodeProto& n, const Const& x,
                                     std::int64_t total) const;
  std::vector<std::int64_t> squeezed(const onnx::NodeProto& n, const Const& x) const;
  Const transposed(const onnx::NodeProto& n, const Const& x, std::int64_t total) const;
  void convert(const onnx::NodeProto& n);
  void conv(const onnx::NodeProto& n);
  void pool(const onnx::NodeProto& n, bool max);
  void global_pool(const onnx::NodeProto& n, bool max);
  void relu_like(const onnx::NodeProto& n, const std::string& activation);
  void add(const onnx::NodeProto& n);
  void dense(const onnx::NodeProto& n, bool gemm);
  void flatten(const onnx::NodeProto& n, bool reshape);
  void concat(const onnx::NodeProto& n);
  void batch_norm(const onnx::NodeProto& n);
  void dropout(const onnx::NodeProto& n);
  void softmax(const onnx::NodeProto& n);
  void transpose(const onnx::NodeProto& n);
  void pad(const onnx::NodeProto& n);
  // Mul, Add, Sub, Div with one constant operand (after the bias case of add()): a Rescaling
  // layer, or nothing for the graph's own preprocessing (preprocessing_nodes_).
  void affine(const onnx::NodeProto& n);
  void sum(const onnx::NodeProto& n);
  // Whether constant c, broadcast against x, is one value per channel (else one value); fails
  // for integers and any other broadcast.
  bool channel_constant(const onnx::NodeProto& n, const Const& c, const Value& x) const;
  // An activation: fused into the Conv2D/Dense before it when that one has none and nothing
  // else reads it, else an Activation layer.
  void activation_layer(const onnx::NodeProto& n, const std::string& activation, Value x);
  // Whether the 4-D input is NHWC: the graph reaches a Transpose to NCHW from it through
  // element-wise nodes only; those nodes then go to adopt_preprocessing.
  bool input_is_nhwc(const onnx::ModelProto& m, const std::string& input);
  void read_metadata(const onnx::ModelProto& m);
  // cnn-export's preprocessing (metadata "preprocessing", read by read_metadata, and the
  // Gather/Mul/Add chain that applies it) into preprocessing_ and preprocessing_nodes_.
  void adopt_preprocessing(const std::vector<const onnx::NodeProto*>& chain);
  Value model_input(const onnx::ModelProto& model);
  std::vector<std::string> layer_names(std::set<std::string>& taken) const;
  std::string output_layers(json_ordered& layers, std::string output, const Value& y,
                            std::set<std::string>& taken);

  std::string path_;
  OnnxImportOptions opt_;
  std::int64_t opset_ = 1;
  std::map<std::string, Const> consts_;
  std::map<std::string, Value> values_;
  std::map<std::string, int> consumers_;
  std::map<std::string, std::vector<std::string>> consumer_ops_;  // "": a graph output
  std::vector<PendingLayer> layers_;
  std::vector<std::string> notes_;
  // The file's own preprocessing (cnn-export's metadata), when its nodes compute exactly it:
  // those nodes are then skipped and the block written instead.
  std::optional<json_ordered> preprocessing_;
  std::optional<json> meta_preprocessing_;  // metadata "preprocessing" (an object), if any
  std::set<std::string> preprocessing_nodes_;
  std::vector<std::string> class_names_;  // metadata "class_names"
  std::string input_onnx_name_;           // the graph input's name in the file
};

Const Importer::tensor_const(const onnx::TensorProto& t, const std::string& what) const {
  Const c;
  for (auto d : t.dims()) {
    if (d < 0) fail(what + ": negative dimension " + std::to_string(d));
    c.dims.push_back(d);
  }
  // The product is checked before any use: a tensor's values are in the file, so a count past
  // 2^32 (16 GiB of float32) cannot be genuine (share/limits.md).
  const auto counted = checked_numel(Shape(c.dims.begin(), c.dims.end()), kMaxParams);
  if (!counted)
    fail(what + ": its shape " + shape_list(Shape(c.dims.begin(), c.dims.end())) +
         " has more than 2^32 values (the limit; share/limits.md)");
  const std::size_t count = *counted;
  if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL)
    fail(what +
         ": tensor data stored in an external file is not supported; save the model "
         "with its weights inside the .onnx file");
  const std::string& raw = t.raw_data();
  auto check = [&](std::size_t have, std::size_t elem) {
    if (have != count)
      fail(what + ": holds " + std::to_string(have) + " values, its shape " +
           shape_list(Shape(c.dims.begin(), c.dims.end())) + " needs " + std::to_string(count) +
           (elem ? " (" + std::to_string(count * elem) + " bytes of raw_data)" : ""));
  };
  switch (t.data_type()) {
    case onnx::TensorProto_DataType_FLOAT:
      if (!raw.empty()) {
        check(raw.size() / 4, 4);
        if (raw.size() % 4) check(raw.size(), 4);
        c.f.resize(count);
        std::memcpy(c.f.data(), raw.data(), raw.size());  // ONNX raw data is little-endian
      } else {
        check(static_cast<std::size_t>(t.float_data_size()), 0);
        c.f.assign(t.float_data().begin(), t.float_data().end());
      }
      return c;
    case onnx::TensorProto_DataType_DOUBLE:
      if (!raw.empty()) {
        check(raw.size() / 8, 8);
        std::vector<double> d(count);
        std::memcpy(d.data(), raw.data(), raw.size());
        c.f.assign(d.begin(), d.end());
      } else {
        check(static_cast<std::size_t>(t.double_data_size()), 0);
        c.f.assign(t.double_data().begin(), t.double_data().end());
      }
      return c;
    case onnx::TensorProto_DataType_INT64:
      c.integer = true;
      if (!raw.empty()) {
        check(raw.size() / 8, 8);
        c.i.resize(count);
        std::memcpy(c.i.data(), raw.data(), raw.size());
      } else {
        check(static_cast<std::size_t>(t.int64_data_size()), 0);
        c.i.assign(t.int64_data().begin(), t.int64_data().end());
      }
      return c;
    case onnx::TensorProto_DataType_INT32:
      c.integer = true;
      if (!raw.empty()) {
        check(raw.size() / 4, 4);
        std::vector<std::int32_t> d(count);
        std::memcpy(d.data(), raw.data(), raw.size());
        c.i.assign(d.begin(), d.end());
      } else {
        check(static_cast<std::size_t>(t.int32_data_size()), 0);
        c.i.assign(t.int32_data().begin(), t.int32_data().end());
      }
      return c;
    default:
      fail(what + ": data type " + std::to_string(t.data_type()) +
           " is not supported; expected float, double, int32 or int64");
  }
}

const onnx::AttributeProto* Importer::attr(const onnx::NodeProto& n,
                                           const std::string& name) const {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::int64_t Importer::attr_int(const onnx::NodeProto& n, const std::string& name,
                                std::int64_t def) const {
  const auto* a = attr(n, name);
  if (!a) return def;
  if (a->type() != onnx::AttributeProto_AttributeType_INT) fail(n, name + ": expected an integer");
  return a->i();
}

float Importer::attr_float(const onnx::NodeProto& n, const std::string& name, float def) const {
  const auto* a = attr(n, name);
  if (!a) return def;
  if (a->type() != onnx::AttributeProto_AttributeType_FLOAT) fail(n, name + ": expected a float");
  return a->f();
}

std::string Importer::attr_string(const onnx::NodeProto& n, const std::string& name,
                                  const std::string& def) const {
  const auto* a = attr(n, name);
  if (!a) return def;
  if (a->type() != onnx::AttributeProto_AttributeType_STRING) fail(n, name + ": expected a string");
  return a->s();
}

std::vector<std::int64_t> Importer::attr_ints(const onnx::NodeProto& n, const std::string& name,
                                              std::vector<std::int64_t> def) const {
  const auto* a = attr(n, name);
  if (!a) return def;
  if (a->type() != onnx::AttributeProto_AttributeType_INTS)
    fail(n, name + ": expected a list of integers");
  return {a->ints().begin(), a->ints().end()};
}

const Const& Importer::constant(const onnx::NodeProto& n, int input) const {
  if (input >= n.input_size() || n.input(input).empty())
    fail(n, "input " + std::to_string(input) + " is missing");
  const auto it = consts_.find(n.input(input));
  if (it == consts_.end())
    fail(n, "input '" + n.input(input) + "' must be a constant (an initializer) for this import");
  return it->second;
}

const Value& Importer::value(const onnx::NodeProto& n, int input) const {
  if (input >= n.input_size() || n.input(input).empty())
    fail(n, "input " + std::to_string(input) + " is missing");
  const auto it = values_.find(n.input(input));
  if (it == values_.end()) {
    if (is_const(n.input(input)))
      fail(n, "input '" + n.input(input) +
                  "' is a constant where a computed tensor is expected; this is not supported");
    fail(n, "input '" + n.input(input) + "' is not produced by any earlier node");
  }
  return it->second;
}

const Value& Importer::image(const onnx::NodeProto& n, int input) const {
  const Value& v = value(n, input);
  if (!v.image)
    fail(n, "expected a 4-D NCHW image tensor as input '" + n.input(input) + "', got shape " +
                shape_list(v.shape));
  if (v.nhwc)
    fail(n, "input '" + n.input(input) +
                "' is a channels-last (NHWC) image here; this operator needs NCHW (a Transpose "
                "with perm [0, 3, 1, 2] first)");
  return v;
}

int Importer::add_layer(const onnx::NodeProto& n, std::string type, json_ordered cfg,
                        std::vector<int> inputs) {
  PendingLayer l;
  l.type = std::move(type);
  l.wanted_name = valid_layer_name(n.name());
  l.cfg = std::move(cfg);
  l.inputs = std::move(inputs);
  l.node = node_label(n);
  layers_.push_back(std::move(l));
  return static_cast<int>(layers_.size() - 1);
}

bool Importer::fusable(const std::string& value_name, const Value& v) const {
  if (v.layer < 0) return false;
  const PendingLayer& l = layers_[static_cast<std::size_t>(v.layer)];
  if (l.type != "Conv2D" && l.type != "Dense") return false;
  if (l.cfg.value("activation", std::string("linear")) != "linear") return false;
  const auto it = consumers_.find(value_name);
  return it != consumers_.end() && it->second == 1;
}

// A Constant node's value.
Const Importer::constant_node(const onnx::NodeProto& n) const {
  Const out;
  if (const auto* a = attr(n, "value")) {
    out = tensor_const(a->t(), node_label(n));
  } else if (const auto* af = attr(n, "value_float")) {
    out.f = {af->f()};
  } else if (const auto* afs = attr(n, "value_floats")) {
    out.f.assign(afs->floats().begin(), afs->floats().end());
    out.dims = {static_cast<std::int64_t>(out.f.size())};
  } else if (const auto* ai = attr(n, "value_int")) {
    out.integer = true;
    out.i = {ai->i()};
  } else if (const auto* ais = attr(n, "value_ints")) {
    out.integer = true;
    out.i.assign(ais->ints().begin(), ais->ints().end());
    out.dims = {static_cast<std::int64_t>(out.i.size())};
  } else {
    fail(n, "a Constant without a value, value_float(s) or value_int(s) attribute");
  }
  return out;
}

// Reshape of constant x (total values) to the shape of input 1: the new dims.
std::vector<std::int64_t> Importer::reshaped(const onnx::NodeProto& n, const Const& x,
                                             std::int64_t total) const {
  const Const& s = constant(n, 1);
  if (!s.integer) fail(n, "the shape input must hold integers");
  std::vector<std::int64_t> dims;
  std::int64_t known = 1;
  bool overflow = false;  // a product past int64: cannot equal the values there are
  int infer = -1;
  for (std::size_t k = 0; k < s.i.size(); ++k) {
    std::int64_t d = s.i[k];
    if (d == 0 && k < x.dims.size()) d = x.dims[k];
    if (d == -1) {
      if (infer >= 0) fail(n, "more than one -1 in the target shape");
      infer = static_cast<int>(k);
    } else if (d < 0) {
      fail(n, "invalid target dimension " + std::to_string(d));
    } else {
      overflow = overflow || __builtin_mul_overflow(known, d, &known);
    }
    dims.push_back(d);
  }
  if (infer >= 0) dims[static_cast<std::size_t>(infer)] = known && !overflow ? total / known : 0;
  std::int64_t got = 1;
  for (auto d : dims) overflow = overflow || __builtin_mul_overflow(got, d, &got);
  if (overflow || got != total)
    fail(n, "cannot reshape " + std::to_string(total) + " values to " +
                shape_list(Shape(dims.begin(), dims.end())));
  return dims;
}

// Squeeze or Unsqueeze of constant x: the new dims.
std::vector<std::int64_t> Importer::squeezed(const onnx::NodeProto& n, const Const& x) const {
  const bool squeeze = n.op_type() == "Squeeze";
  std::vector<std::int64_t> dims;
  std::vector<std::int64_t> axes = attr_ints(n, "axes", {});
  if (n.input_size() > 1 && !n.input(1).empty()) {
    const Const& ax = constant(n, 1);
    axes = ax.i;
  }
  // Every axis in [-rank, rank) of the output (Unsqueeze) or input (Squeeze), none twice.
  const auto normalised = [&](std::int64_t rank) {
    std::set<std::int64_t> set;
    for (auto a : axes) {
      const std::int64_t k = a < 0 ? a + rank : a;
      if (k < 0 || k >= rank)
        fail(n, "axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
      if (!set.insert(k).second) fail(n, "axis " + std::to_string(a) + " is given twice");
    }
    return set;
  };
  if (squeeze) {
    const auto rank = static_cast<std::int64_t>(x.dims.size());
    const std::set<std::int64_t> drop = normalised(rank);
    dims.clear();
    for (std::int64_t k = 0; k < rank; ++k) {
      const auto d = x.dims[static_cast<std::size_t>(k)];
      if ((axes.empty() && d == 1) || drop.count(k)) {
        if (d != 1)
          fail(n, "cannot squeeze axis " + std::to_string(k) + " of size " + std::to_string(d));
        continue;
      }
      dims.push_back(d);
    }
  } else {
    const auto rank = static_cast<std::int64_t>(x.dims.size() + axes.size());
    const std::set<std::int64_t> add = normalised(rank);
    dims.clear();
    std::size_t src = 0;
    for (std::int64_t k = 0; k < rank; ++k) dims.push_back(add.count(k) ? 1 : x.dims.at(src++));
  }
  return dims;
}

// Transpose of constant x (total values).
Const Importer::transposed(const onnx::NodeProto& n, const Const& x, std::int64_t total) const {
  Const out = x;
  const auto rank = x.dims.size();
  std::vector<std::int64_t> perm = attr_ints(n, "perm", {});
  if (perm.empty())
    for (std::size_t k = 0; k < rank; ++k) perm.push_back(static_cast<std::int64_t>(rank - 1 - k));
  if (perm.size() != rank) fail(n, "perm does not match the rank of the input");
  // A permutation of 0..rank-1: each axis once (a repeated one would read past the values).
  std::vector<bool> seen(rank, false);
  for (auto p : perm) {
    if (p < 0 || p >= static_cast<std::int64_t>(rank) || seen[static_cast<std::size_t>(p)])
      fail(n, "perm " + shape_list(Shape(perm.begin(), perm.end())) +
                  " is not a permutation of the input's " + std::to_string(rank) + " axes");
    seen[static_cast<std::size_t>(p)] = true;
  }
  std::vector<std::size_t> in_stride(rank, 1), out_dims(rank);
  for (std::size_t k = rank; k-- > 1;)
    in_stride[k - 1] = in_stride[k] * static_cast<std::size_t>(x.dims[k]);
  for (std::size_t k = 0; k < rank; ++k)
    out_dims[k] = static_cast<std::size_t>(x.dims[static_cast<std::size_t>(perm[k])]);
  out.dims.assign(out_dims.begin(), out_dims.end());
  const std::size_t count = static_cast<std::size_t>(total);
  std::vector<std::size_t> idx(rank, 0);
  if (x.integer)
    out.i.assign(count, 0);
  else
    out.f.assign(count, 0.0f);
  for (std::size_t o = 0; o < count; ++o) {
    std::size_t src = 0;
    for (std::size_t k = 0; k < rank; ++k)
      src += idx[k] * in_stride[static_cast<std::size_t>(perm[k])];
    if (x.integer)
      out.i[o] = x.i[src];
    else
      out.f[o] = x.f[src];
    for (std::size_t k = rank; k-- > 0;) {
      if (++idx[k] < out_dims[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

// Reshape/Flatten/Squeeze/Unsqueeze/Transpose/Identity of constants: evaluated here, so that
// e.g. the MNIST model's Reshape of its Dense weights becomes a plain weight tensor.
void Importer::fold_constant(const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  if (op == "Constant") {
    consts_[n.output(0)] = constant_node(n);
    return;
  }
  const Const& x = constant(n, 0);
  Const out = x;
  std::int64_t total = 1;
  for (auto d : x.dims) total *= d;
  if (op == "Identity" || op == "Dropout") {
    // Dropout of a constant at inference is the identity.
  } else if (op == "Reshape") {
    out.dims = reshaped(n, x, total);
  } else if (op == "Flatten") {
    auto axis = attr_int(n, "axis", 1);
    const auto rank = static_cast<std::int64_t>(x.dims.size());
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) fail(n, "axis " + std::to_string(axis) + " is out of range");
    std::int64_t a = 1;
    for (std::int64_t k = 0; k < axis; ++k) a *= x.dims[static_cast<std::size_t>(k)];
    out.dims = {a, a ? total / a : 0};
  } else if (op == "Squeeze" || op == "Unsqueeze") {
    out.dims = squeezed(n, x);
  } else if (op == "Transpose") {
    out = transposed(n, x, total);
  } else {
    fail(n, "operator '" + op +
                "' on constant inputs is not supported (constant folding knows "
                "Constant, Identity, Reshape, Flatten, Squeeze, Unsqueeze and Transpose)");
  }
  consts_[n.output(0)] = std::move(out);
}

// The padding of a window operator (Conv, MaxPool, AveragePool) in our terms. ONNX pads are
// explicit numbers before/after each axis (or auto_pad); ours are "valid", TensorFlow's "same",
// or a ZeroPadding2D layer first. Windows that hang over the end (ceil_mode) become our
// ceil_mode. pad_cells_count says whether padding cells enter the result as zeros (Conv,
// AveragePool with count_include_pad) or are ignored (MaxPool, AveragePool without).
Importer::Window Importer::window(const onnx::NodeProto& n, const Value& x,
                                  const std::array<std::size_t, 2>& ek,
                                  const std::array<std::size_t, 2>& s, bool ceil, bool pool,
                                  bool pad_cells_count) const {
  const std::string auto_pad = attr_string(n, "auto_pad", "NOTSET");
  std::array<std::int64_t, 2> before{}, after{};
  if (auto_pad == "NOTSET") {
    const auto pads = attr_ints(n, "pads", {0, 0, 0, 0});
    if (pads.size() != 4) fail(n, "pads: expected 4 values [top, left, bottom, right]");
    for (std::size_t k = 0; k < 4; ++k) {
      if (pads[k] < 0) fail(n, "pads: negative padding is not supported");
      // Padding as wide as the window gives windows that read nothing but padding (and, from
      // a hostile file, sizes that overflow): refused.
      if (static_cast<std::uint64_t>(pads[k]) >= ek[k % 2])
        fail(n, "pads: " + std::to_string(pads[k]) + " on axis " + std::to_string(k % 2 + 2) +
                    " is not smaller than the window (" + std::to_string(ek[k % 2]) + ")");
    }
    before = {pads[0], pads[1]};
    after = {pads[2], pads[3]};
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (std::size_t k = 0; k < 2; ++k) {
      const std::size_t out = ceil_div(x.shape[k], s[k]);
      const auto total = static_cast<std::int64_t>(
          std::max<std::size_t>((out - 1) * s[k] + ek[k], x.shape[k]) - x.shape[k]);
      before[k] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      after[k] = total - before[k];
    }
  } else if (auto_pad != "VALID") {
    fail(n, "auto_pad: expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '" + auto_pad + "'");
  }

  Window w;
  std::array<std::size_t, 2> used{};  // cells of the after-padding that some window reads
  bool zero_before = true, any_used = false;
  for (std::size_t k = 0; k < 2; ++k) {
    const std::size_t in = x.shape[k];
    const auto b = static_cast<std::size_t>(before[k]), a = static_cast<std::size_t>(after[k]);
    const std::size_t padded = in + b + a;
    if (padded < ek[k])
      fail(n, "the window (" + std::to_string(ek[k]) + ") is larger than the padded input (" +
                  std::to_string(padded) + ")");
    std::size_t out = (ceil ? ceil_div(padded - ek[k], s[k]) : (padded - ek[k]) / s[k]) + 1;
    // PyTorch's rule, which ONNX follows: the last window must start inside the input or the
    // padding before it.
    if (ceil && (out - 1) * s[k] >= in + b) --out;
    w.out[k] = out;
    const std::size_t reach = (out - 1) * s[k] + ek[k];
    used[k] = reach > b + in ? std::min(reach - b - in, a) : 0;
    zero_before = zero_before && b == 0;
    any_used = any_used || used[k] > 0;
  }
  auto floor_out = [&](std::size_t in, std::size_t k) {
    return in >= ek[k] ? (in - ek[k]) / s[k] + 1 : 0;
  };
  auto ceil_out = [&](std::size_t in, std::size_t k) {
    if (in < ek[k]) return std::size_t{0};
    const std::size_t o = ceil_div(in - ek[k], s[k]) + 1;
    return (o - 1) * s[k] >= in ? o - 1 : o;  // the same rule for our ceil_mode
  };
  // Our valid padding, with ceil_mode where windows hang over the end (pooling only: cells
  // outside are ignored, which is what ONNX does with padding cells it does not count).
  auto try_valid = [&](const std::array<std::size_t, 2>& in, Window& r) {
    bool need_ceil = false;
    for (std::size_t k = 0; k < 2; ++k) {
      if (floor_out(in[k], k) == r.out[k]) continue;
      if (!pool || ceil_out(in[k], k) != r.out[k]) return false;
      need_ceil = true;
    }
    r.padding = "valid";
    r.ceil_mode = need_ceil;
    return true;
  };
  const std::array<std::size_t, 2> in{x.shape[0], x.shape[1]};
  if (zero_before && (!any_used || !pad_cells_count) && try_valid(in, w)) return w;
  // TensorFlow's same: out = ceil(in / s), floor(total / 2) before. Its padding cells are zeros
  // for Conv2D and ignored by pooling, as ONNX's are for Conv, MaxPool and AveragePool without
  // count_include_pad.
  if (!(pool && pad_cells_count)) {
    bool same = true;
    for (std::size_t k = 0; k < 2; ++k) {
      const std::size_t out = ceil_div(in[k], s[k]);
      const std::size_t total = std::max((out - 1) * s[k] + ek[k], in[k]) - in[k];
      same = same && w.out[k] == out && static_cast<std::size_t>(before[k]) == total / 2;
    }
    if (same) {
      w.padding = "same";
      return w;
    }
  }
  // Pooling whose padding cells take no part: the layer's explicit padding, exactly ONNX's.
  if (pool && !pad_cells_count) {
    w.explicit_pad = true;
    w.ceil_mode = ceil;
    for (std::size_t k = 0; k < 2; ++k)
      w.pad[k] = {static_cast<std::size_t>(before[k]), static_cast<std::size_t>(after[k])};
    return w;
  }
  // Otherwise zeros first, then valid: exact for Conv and for counted padding.
  w.zero_pad = true;
  std::array<std::size_t, 2> padded{};
  for (std::size_t k = 0; k < 2; ++k) {
    w.pad[k] = {static_cast<std::size_t>(before[k]), used[k]};
    padded[k] = in[k] + w.pad[k][0] + w.pad[k][1];
  }
  if (!try_valid(padded, w))
    fail(n,
         "cannot express this window's padding and rounding with zero padding and "
         "valid/ceil pooling");
  return w;
}

// The layer index that a windowed layer reads: x's layer, or a ZeroPadding2D in front of it.
int Importer::pad_layer(const onnx::NodeProto& n, const Value& x, const Window& w) {
  if (!w.zero_pad) return x.layer;
  json_ordered cfg;
  cfg["padding"] = {{w.pad[0][0], w.pad[0][1]}, {w.pad[1][0], w.pad[1][1]}};
  const int l = add_layer(n, "ZeroPadding2D", cfg, {x.layer});
  if (!layers_.back().wanted_name.empty()) layers_.back().wanted_name += "_pad";
  return l;
}

void Importer::conv(const onnx::NodeProto& n) {
  const Value x = image(n, 0);
  const Const& wt = constant(n, 1);
  if (attr_int(n, "group", 1) != 1)
    fail(n, "group " + std::to_string(attr_int(n, "group", 1)) +
                " (a grouped or depthwise convolution) is not supported; only group 1");
  if (wt.dims.size() != 4 || wt.integer)
    fail(n, "expected a 4-D float weight [out, in, kh, kw], got " +
                shape_list(Shape(wt.dims.begin(), wt.dims.end())));
  const auto o = static_cast<std::size_t>(wt.dims[0]), ci = static_cast<std::size_t>(wt.dims[1]);
  const auto kh = static_cast<std::size_t>(wt.dims[2]), kw = static_cast<std::size_t>(wt.dims[3]);
  if (ci != x.shape[2])
    fail(n, "the weight " + shape_list(Shape(wt.dims.begin(), wt.dims.end())) + " expects " +
                std::to_string(ci) + " input channels, the input has " +
                std::to_string(x.shape[2]));
  const auto ks = attr_ints(n, "kernel_shape", {wt.dims[2], wt.dims[3]});
  if (ks.size() != 2 || ks[0] != wt.dims[2] || ks[1] != wt.dims[3])
    fail(n, "kernel_shape does not match the weight's shape");
  const auto strides = attr_ints(n, "strides", {1, 1});
  const auto dil = attr_ints(n, "dilations", {1, 1});
  if (strides.size() != 2 || dil.size() != 2 || strides[0] < 1 || strides[1] < 1 || dil[0] < 1 ||
      dil[1] < 1)
    fail(n, "expected 2 positive strides and dilations (a 2-D convolution)");
  const std::array<std::size_t, 2> s{static_cast<std::size_t>(strides[0]),
                                     static_cast<std::size_t>(strides[1])};
  const std::array<std::size_t, 2> ek{(kh - 1) * static_cast<std::size_t>(dil[0]) + 1,
                                      (kw - 1) * static_cast<std::size_t>(dil[1]) + 1};
  const Window w = window(n, x, ek, s, false, false, true);

  json_ordered cfg;
  cfg["filters"] = o;
  cfg["kernel_size"] = {kh, kw};
  cfg["strides"] = {s[0], s[1]};
  cfg["padding"] = w.padding;
  cfg["dilation_rate"] = {dil[0], dil[1]};
  cfg["activation"] = "linear";
  const int in_layer = pad_layer(n, x, w);
  const int l = add_layer(n, "Conv2D", cfg, {in_layer});
  // OIHW -> HWIO: kernel[a][b][i][f] = W[f][i][a][b].
  HostTensor k{{kh, kw, ci, o}, std::vector<float>(kh * kw * ci * o)};
  for (std::size_t f = 0; f < o; ++f)
    for (std::size_t i = 0; i < ci; ++i)
      for (std::size_t a = 0; a < kh; ++a)
        for (std::size_t b = 0; b < kw; ++b)
          k.data[((a * kw + b) * ci + i) * o + f] = wt.f[((f * ci + i) * kh + a) * kw + b];
  PendingLayer& L = layers_[static_cast<std::size_t>(l)];
  L.params["kernel"] = std::move(k);
  HostTensor bias{{o}, std::vector<float>(o, 0.0f)};
  if (n.input_size() > 2 && !n.input(2).empty()) {
    const Const& b = constant(n, 2);
    if (b.integer || b.f.size() != o)
      fail(n,
           "the bias has " + std::to_string(b.numel()) + " values, expected " + std::to_string(o));
    bias.data = b.f;
    L.bias_set = true;
  }
  L.params["bias"] = std::move(bias);
  set_output(n, Value{l, {w.out[0], w.out[1], o}, true, {}, false});
}

void Importer::pool(const onnx::NodeProto& n, bool max) {
  const Value x = image(n, 0);
  const auto ks = attr_ints(n, "kernel_shape", {});
  if (ks.size() != 2 || ks[0] < 1 || ks[1] < 1)
    fail(n, "kernel_shape: expected 2 positive values (2-D pooling)");
  const auto strides = attr_ints(n, "strides", {1, 1});
  if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1)
    fail(n, "strides: expected 2 positive values");
  const auto dil = attr_ints(n, "dilations", {1, 1});
  if (dil.size() != 2 || dil[0] < 1 || dil[1] < 1 || dil[0] > ConfigReader::kMaxSizeValue ||
      dil[1] > ConfigReader::kMaxSizeValue)
    fail(n, "dilations: expected 2 positive values");
  if (max && n.output_size() > 1 && !n.output(1).empty() && consumers_[n.output(1)] > 0)
    fail(n, "the Indices output is not supported");
  const bool ceil = attr_int(n, "ceil_mode", 0) != 0;
  const bool count_pad = !max && attr_int(n, "count_include_pad", 0) != 0;
  const std::array<std::size_t, 2> k{static_cast<std::size_t>(ks[0]),
                                     static_cast<std::size_t>(ks[1])};
  const std::array<std::size_t, 2> s{static_cast<std::size_t>(strides[0]),
                                     static_cast<std::size_t>(strides[1])};
  const std::array<std::size_t, 2> d{static_cast<std::size_t>(dil[0]),
                                     static_cast<std::size_t>(dil[1])};
  if (k[0] > kMaxPoolWindow || k[1] > kMaxPoolWindow)
    fail(n, "kernel_shape: larger than the limit " + std::to_string(kMaxPoolWindow));
  const std::array<std::size_t, 2> ek{(k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1};
  const Window w = window(n, x, ek, s, ceil, true, count_pad);
  json_ordered cfg;
  cfg["pool_size"] = {k[0], k[1]};
  cfg["strides"] = {s[0], s[1]};
  if (w.explicit_pad)
    cfg["padding"] = {{w.pad[0][0], w.pad[0][1]}, {w.pad[1][0], w.pad[1][1]}};
  else
    cfg["padding"] = w.padding;
  if (d != std::array<std::size_t, 2>{1, 1}) cfg["dilation_rate"] = {d[0], d[1]};
  if (w.ceil_mode) cfg["ceil_mode"] = true;
  const int in_layer = pad_layer(n, x, w);
  const int l = add_layer(n, max ? "MaxPooling2D" : "AveragePooling2D", cfg, {in_layer});
  set_output(n, Value{l, {w.out[0], w.out[1], x.shape[2]}, true, {}, x.nonneg});
}

void Importer::global_pool(const onnx::NodeProto& n, bool max) {
  const Value x = image(n, 0);
  json_ordered cfg;
  cfg["keepdims"] = true;  // ONNX keeps [N, C, 1, 1]
  const int l = add_layer(n, max ? "GlobalMaxPooling2D" : "GlobalAveragePooling2D", cfg, {x.layer});
  set_output(n, Value{l, {1, 1, x.shape[2]}, true, {}, x.nonneg});
}

void Importer::relu_like(const onnx::NodeProto& n, const std::string& activation) {
  activation_layer(n, activation, value(n, 0));
}

void Importer::activation_layer(const onnx::NodeProto& n, const std::string& activation, Value x) {
  Value y = x;
  y.nonneg = activation == "relu" || activation == "sigmoid" || activation == "softmax";
  if (fusable(n.input(0), x)) {
    layers_[static_cast<std::size_t>(x.layer)].cfg["activation"] = activation;
    notes_.push_back(node_label(n) + " fused into layer of " +
                     layers_[static_cast<std::size_t>(x.layer)].node);
  } else {
    json_ordered cfg;
    cfg["activation"] = activation;
    y.layer = add_layer(n, "Activation", cfg, {x.layer});
  }
  set_output(n, std::move(y));
}

// Transpose of a computed tensor that keeps the batch axis first: a change of layout between
// NCHW and NHWC costs nothing; any other order is a Permute layer (its output an NCHW image).
void Importer::transpose(const onnx::NodeProto& n) {
  const Value x = value(n, 0);
  const std::size_t rank = x.image ? 4 : 2;
  std::vector<std::int64_t> perm = attr_ints(n, "perm", {});
  if (perm.empty())
    for (std::size_t k = rank; k-- > 0;) perm.push_back(static_cast<std::int64_t>(k));
  bool ok = perm.size() == rank && perm[0] == 0;
  std::vector<bool> seen(rank, false);
  for (auto p : perm) {
    ok = ok && p >= 0 && p < static_cast<std::int64_t>(rank) && !seen[static_cast<std::size_t>(p)];
    if (ok) seen[static_cast<std::size_t>(p)] = true;
  }
  if (!ok || (!x.chw.empty() && x.chw[1] * x.chw[2] > 1))
    fail(n, "perm " + shape_list(Shape(perm.begin(), perm.end())) +
                " is not supported; only orders that keep the batch axis first, of an image or "
                "a vector that is not a flattened image");
  if (!x.image) {  // [N, K] with perm [0, 1]
    set_output(n, x);
    return;
  }
  // Our axis (h 0, w 1, c 2) of each ONNX axis 1..3 of x.
  auto ours = [&](std::int64_t onnx_axis) -> std::size_t {
    return x.nhwc ? static_cast<std::size_t>(onnx_axis - 1)
                  : std::array<std::size_t, 3>{2, 0, 1}[static_cast<std::size_t>(onnx_axis - 1)];
  };
  // y read as NHWC, and as NCHW: which of x's axes each of y's own (h, w, c) is.
  std::array<std::size_t, 3> as_nhwc{}, as_nchw{};
  for (std::size_t i = 0; i < 3; ++i) {
    as_nhwc[i] = ours(perm[i + 1]);
    as_nchw[i] = ours(perm[std::array<std::size_t, 3>{2, 3, 1}[i]]);
  }
  const std::array<std::size_t, 3> same{0, 1, 2};
  Value y = x;
  if (as_nhwc == same || as_nchw == same) {
    y.nhwc = as_nhwc == same;
  } else {
    json_ordered cfg;
    cfg["dims"] = {as_nchw[0] + 1, as_nchw[1] + 1, as_nchw[2] + 1};
    y.layer = add_layer(n, "Permute", cfg, {x.layer});
    y.nhwc = false;
    for (std::size_t i = 0; i < 3; ++i) y.shape[i] = x.shape[as_nchw[i]];
  }
  set_output(n, std::move(y));
}

// Pad of an image with constant zeros on the two spatial axes: a ZeroPadding2D.
void Importer::pad(const onnx::NodeProto& n) {
  const Value x = value(n, 0);
  if (!x.image) fail(n, "only images (4-D tensors) can be padded");
  if (attr_string(n, "mode", "constant") != "constant")
    fail(n, "mode '" + attr_string(n, "mode", "constant") + "' is not supported; only constant");
  std::vector<std::int64_t> pads;
  if (opset_ < 11) {
    pads = attr_ints(n, "pads", {});
    if (attr_float(n, "value", 0.0f) != 0.0f) fail(n, "only padding with zeros is supported");
  } else {
    const Const& p = constant(n, 1);
    if (!p.integer) fail(n, "pads must hold integers");
    pads = p.i;
    if (n.input_size() > 2 && !n.input(2).empty()) {
      const Const& v = constant(n, 2);
      if (v.numel() != 1 || (v.integer ? v.i[0] != 0 : v.f[0] != 0.0f))
        fail(n, "only padding with zeros is supported");
    }
    if (n.input_size() > 3 && !n.input(3).empty()) fail(n, "the axes input is not supported");
  }
  if (pads.size() != 8) fail(n, "pads: expected 8 values (begin and end of 4 axes)");
  // The spatial axes: 2, 3 of NCHW; 1, 2 of NHWC.
  const std::size_t h = x.nhwc ? 1 : 2, w = h + 1;
  for (std::size_t k = 0; k < 8; ++k) {
    if (pads[k] < 0) fail(n, "pads: negative padding (cropping) is not supported");
    if (pads[k] > 0 && k % 4 != h && k % 4 != w)
      fail(n, "pads: only the height and width axes can be padded");
    if (pads[k] > ConfigReader::kMaxSizeValue)
      fail(n, "pads: " + std::to_string(pads[k]) + " is larger than the limit");
  }
  json_ordered cfg;
  cfg["padding"] = {{pads[h], pads[h + 4]}, {pads[w], pads[w + 4]}};
  Value y = x;
  y.layer = add_layer(n, "ZeroPadding2D", cfg, {x.layer});
  y.shape[0] += static_cast<std::size_t>(pads[h] + pads[h + 4]);
  y.shape[1] += static_cast<std::size_t>(pads[w] + pads[w + 4]);
  y.nonneg = x.nonneg;
  set_output(n, std::move(y));
}

void Importer::sum(const onnx::NodeProto& n) {
  if (n.input_size() < 2) {
    set_output(n, value(n, 0));
    return;
  }
  std::vector<int> inputs;
  const Value first = value(n, 0);
  bool nonneg = true;
  for (int k = 0; k < n.input_size(); ++k) {
    const Value v = value(n, k);
    if (v.shape != first.shape || v.chw != first.chw || v.nhwc != first.nhwc)
      fail(n, "inputs of shapes " + shape_list(first.shape) + " and " + shape_list(v.shape) +
                  " (channels last) differ; broadcasting is not supported");
    inputs.push_back(v.layer);
    nonneg = nonneg && v.nonneg;
  }
  Value y = first;
  y.layer = add_layer(n, "Add", json_ordered::object(), inputs);
  y.nonneg = nonneg;
  set_output(n, std::move(y));
}

// Add: a constant broadcast per channel after a Conv2D/Dense becomes (part of) its bias; two
// computed tensors of one shape become an Add layer.
void Importer::add(const onnx::NodeProto& n) {
  if (n.input_size() != 2) fail(n, "expected 2 inputs");
  const bool c0 = is_const(n.input(0)), c1 = is_const(n.input(1));
  if (!c0 && !c1) {
    const Value a = value(n, 0), b = value(n, 1);
    if (a.shape != b.shape || a.chw != b.chw || a.nhwc != b.nhwc)
      fail(n, "inputs of shapes " + shape_list(a.shape) + " and " + shape_list(b.shape) +
                  " (channels last) differ; broadcasting is not supported");
    Value y = a;
    y.layer = add_layer(n, "Add", json_ordered::object(), {a.layer, b.layer});
    y.nonneg = a.nonneg && b.nonneg;
    set_output(n, std::move(y));
    return;
  }
  if (c0 && c1) fail(n, "internal: constant Add not folded");
  const int vi = c0 ? 1 : 0;
  const Value x = value(n, vi);
  const Const& c = constant(n, 1 - vi);
  if (!fusable(n.input(vi), x)) return affine(n);
  PendingLayer& L = layers_[static_cast<std::size_t>(x.layer)];
  const std::size_t ch = x.shape.back();
  const bool per_channel = channel_constant(n, c, x);
  auto& bias = L.params["bias"].data;
  for (std::size_t k = 0; k < ch; ++k) bias[k] += c.f[per_channel ? k : 0];
  L.bias_set = true;
  notes_.push_back(node_label(n) + " folded into the bias of " + L.node);
  set_output(n, x);
}

bool Importer::channel_constant(const onnx::NodeProto& n, const Const& c, const Value& x) const {
  if (c.integer) fail(n, "the constant must hold floats");
  // Right-aligned with the ONNX tensor ([N, C, H, W], [N, H, W, C] or [N, C]): every dim 1 but
  // the channel axis, which is C or 1.
  const std::size_t rank = x.image ? 4 : 2, channel_axis = x.nhwc ? 3 : 1;
  const std::size_t ch = x.shape.back();
  if (c.dims.size() > rank) fail(n, "the constant has more dimensions than the tensor");
  bool per_channel = false;
  for (std::size_t k = 0; k < c.dims.size(); ++k) {
    const std::size_t axis = rank - c.dims.size() + k;
    const auto d = static_cast<std::size_t>(c.dims[k]);
    if (axis == channel_axis && d == ch && d > 1)
      per_channel = true;
    else if (d != 1)
      fail(n, "the constant of shape " + shape_list(Shape(c.dims.begin(), c.dims.end())) +
                  " is neither one value nor one per channel (" + std::to_string(ch) +
                  "); other broadcasts are not supported");
  }
  return per_channel;
}

void Importer::affine(const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  if (n.input_size() != 2) fail(n, "expected 2 inputs");
  const bool c0 = is_const(n.input(0));
  if (c0 && (op == "Div" || is_const(n.input(1))))
    fail(n, op == "Div" ? "dividing a constant by a tensor is not supported"
                        : "internal: constant node not folded");
  const Value x = value(n, c0 ? 1 : 0);
  if (preprocessing_nodes_.count(n.output(0))) {
    set_output(n, x);  // part of the preprocessing block written instead
    return;
  }
  const Const& c = constant(n, c0 ? 0 : 1);
  const std::size_t ch = x.shape.back();
  const bool per_channel = channel_constant(n, c, x);
  if (per_channel && !x.chw.empty() && x.chw[1] * x.chw[2] > 1)
    fail(n, "per-channel constants on a flattened image are not supported");
  // y = x * scale + offset.
  std::vector<double> scale(ch, 1.0), offset(ch, 0.0);
  for (std::size_t k = 0; k < ch; ++k) {
    const double v = c.f[per_channel ? k : 0];
    if (op == "Mul")
      scale[k] = v;
    else if (op == "Add")
      offset[k] = v;
    else if (op == "Sub" && !c0)
      offset[k] = -v;
    else if (op == "Sub") {
      scale[k] = -1.0;
      offset[k] = v;
    } else {
      scale[k] = static_cast<float>(1.0 / v);  // one rounding more than ONNX's division
    }
  }
  auto one_or_list = [&](const std::vector<double>& v) {
    bool same = true;
    for (double e : v) same = same && e == v[0];
    return same ? json_ordered(v[0]) : json_ordered(v);
  };
  Value y = x;
  y.nonneg = false;
  // An Add after a Mul that nothing else reads: the offset of the same Rescaling layer.
  if (op == "Add" && x.layer >= 0 && consumers_[n.input(c0 ? 1 : 0)] == 1) {
    PendingLayer& L = layers_[static_cast<std::size_t>(x.layer)];
    if (L.type == "Rescaling" && !L.cfg.contains("offset")) {
      L.cfg["offset"] = one_or_list(offset);
      set_output(n, y);
      return;
    }
  }
  json_ordered cfg;
  cfg["scale"] = one_or_list(scale);
  if (op != "Mul") cfg["offset"] = one_or_list(offset);
  y.layer = add_layer(n, "Rescaling", cfg, {x.layer});
  if (op == "Div") notes_.push_back(node_label(n) + ": division written as multiplication");
  set_output(n, std::move(y));
}

// Gemm (A [N, in] x B, transB allowed, alpha/beta) and MatMul (+ a later Add) -> Dense. A Dense
// that reads a flattened NCHW image gets its rows reordered to our (h, w, c) flattening.
void Importer::dense(const onnx::NodeProto& n, bool gemm) {
  const Value x = value(n, 0);
  if (x.image) fail(n, "expected a 2-D [N, features] input; flatten the image first");
  const Const& b = constant(n, 1);
  if (b.dims.size() != 2 || b.integer)
    fail(n, "expected a 2-D float weight, got " + shape_list(Shape(b.dims.begin(), b.dims.end())));
  bool trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  if (gemm) {
    if (attr_int(n, "transA", 0) != 0) fail(n, "transA = 1 is not supported");
    trans_b = attr_int(n, "transB", 0) != 0;
    alpha = attr_float(n, "alpha", 1.0f);
    beta = attr_float(n, "beta", 1.0f);
  }
  const auto rows = static_cast<std::size_t>(b.dims[0]), cols = static_cast<std::size_t>(b.dims[1]);
  const std::size_t in = trans_b ? cols : rows, units = trans_b ? rows : cols;
  if (in != x.shape[0])
    fail(n, "the weight " + shape_list({rows, cols}) + " expects " + std::to_string(in) +
                " inputs, the input has " + std::to_string(x.shape[0]));
  HostTensor k{{in, units}, std::vector<float>(in * units)};
  // Row r of the ONNX kernel multiplies feature r of the ONNX tensor; ours multiplies feature
  // r' of our tensor. For a flattened image, ONNX's feature (c, h, w) is our feature (h, w, c).
  for (std::size_t r = 0; r < in; ++r) {
    std::size_t src = r;
    if (!x.chw.empty()) {
      const std::size_t C = x.chw[0], H = x.chw[1], W = x.chw[2];
      const std::size_t c = r % C, w = (r / C) % W, h = r / (C * W);
      src = (c * H + h) * W + w;
    }
    for (std::size_t u = 0; u < units; ++u)
      k.data[r * units + u] = alpha * (trans_b ? b.f[u * cols + src] : b.f[src * cols + u]);
  }
  if (!x.chw.empty() && x.chw[1] * x.chw[2] > 1)
    notes_.push_back(node_label(n) +
                     ": weight rows reordered from NCHW (c, h, w) to NHWC "
                     "(h, w, c) flattening");
  json_ordered cfg;
  cfg["units"] = units;
  cfg["activation"] = "linear";
  const int l = add_layer(n, "Dense", cfg, {x.layer});
  PendingLayer& L = layers_[static_cast<std::size_t>(l)];
  L.params["kernel"] = std::move(k);
  HostTensor bias{{units}, std::vector<float>(units, 0.0f)};
  if (gemm && n.input_size() > 2 && !n.input(2).empty()) {
    const Const& c = constant(n, 2);
    if (c.integer || (c.f.size() != units && c.f.size() != 1))
      fail(n, "C has " + std::to_string(c.numel()) + " values, expected " + std::to_string(units) +
                  " (or 1)");
    for (std::size_t u = 0; u < units; ++u) bias.data[u] = beta * c.f[c.f.size() == 1 ? 0 : u];
    L.bias_set = true;
  }
  L.params["bias"] = std::move(bias);
  set_output(n, Value{l, {units}, false, {}, false});
}

// Flatten (axis 1) and Reshape to [N, -1]: an image becomes a Flatten layer (remembering the
// NCHW order for the Dense after it); a vector stays as it is.
void Importer::flatten(const onnx::NodeProto& n, bool reshape) {
  const Value x = value(n, 0);
  const std::size_t features = numel(x.shape);
  if (reshape) {
    const Const& s = constant(n, 1);
    if (!s.integer) fail(n, "the shape input must hold integers");
    // Accepted targets: [N or 0 or -1 or 1, features or -1], or an unchanged 4-D shape.
    bool ok = false;
    if (s.i.size() == 2) {
      const auto a = s.i[0], b = s.i[1];
      ok = (a == 0 || a == 1 || a == -1) &&
           (b == static_cast<std::int64_t>(features) || (b == -1 && a != -1));
    } else if (x.image && s.i.size() == 4) {
      ok = (s.i[0] == 0 || s.i[0] == 1 || s.i[0] == -1) &&
           (s.i[1] == 0 || s.i[1] == static_cast<std::int64_t>(x.shape[2])) &&
           (s.i[2] == 0 || s.i[2] == static_cast<std::int64_t>(x.shape[0])) &&
           (s.i[3] == 0 || s.i[3] == static_cast<std::int64_t>(x.shape[1]));
      if (ok) {
        set_output(n, x);
        return;
      }
    }
    if (!ok)
      fail(n, "reshaping to " + shape_list(Shape(s.i.begin(), s.i.end())) +
                  " is not supported; only flattening to [N, -1] (or [N, " +
                  std::to_string(features) + "])");
  } else {
    auto axis = attr_int(n, "axis", 1);
    if (axis < 0) axis += x.image ? 4 : 2;
    if (axis != 1)
      fail(n, "axis " + std::to_string(attr_int(n, "axis", 1)) +
                  " is not supported; only 1 (the batch stays the first axis)");
  }
  if (!x.image) {
    set_output(n, x);
    return;
  }
  // A global pooling's [N, C, 1, 1] that nothing else reads: the pooling without keepdims.
  if (x.layer >= 0 && x.shape[0] * x.shape[1] == 1 && consumers_[n.input(0)] == 1) {
    PendingLayer& L = layers_[static_cast<std::size_t>(x.layer)];
    if (L.type.rfind("Global", 0) == 0 && L.cfg.value("keepdims", false)) {
      L.cfg["keepdims"] = false;
      set_output(n, Value{x.layer, {features}, false, {}, x.nonneg});
      return;
    }
  }
  // An NHWC image flattens in our order. An NCHW one flattens in (c, h, w) order: a Dense after
  // it takes that into its rows; any other reader (a graph output, Concat, ...) gets the
  // order through a Permute to [c, h, w] first.
  bool only_dense = !x.nhwc;
  for (const auto& op : consumer_ops_[n.output(0)])
    only_dense = only_dense && (op == "Gemm" || op == "MatMul");
  int from = x.layer;
  if (!x.nhwc && !only_dense && x.shape[0] * x.shape[1] > 1 && x.shape[2] > 1) {
    json_ordered pcfg;
    pcfg["dims"] = {3, 1, 2};
    from = add_layer(n, "Permute", pcfg, {x.layer});
    if (!layers_.back().wanted_name.empty()) layers_.back().wanted_name += "_nchw";
    only_dense = false;
  }
  const int l = add_layer(n, "Flatten", json_ordered::object(), {from});
  const Shape chw = only_dense ? Shape{x.shape[2], x.shape[0], x.shape[1]} : Shape{};
  set_output(n, Value{l, {features}, false, chw, x.nonneg});
}

void Importer::concat(const onnx::NodeProto& n) {
  if (n.input_size() < 2) fail(n, "expected at least 2 inputs");
  const Value first = value(n, 0);
  const auto rank = static_cast<std::int64_t>(first.image ? 4 : 2);
  auto axis = attr_int(n, "axis", 1);
  if (axis < 0) axis += rank;
  const std::int64_t channel_axis = first.nhwc ? 3 : 1;
  if (axis != channel_axis)
    fail(n, "axis " + std::to_string(attr_int(n, "axis", 1)) +
                " is not supported; only the channel axis " + std::to_string(channel_axis));
  std::vector<int> inputs;
  Shape shape = first.shape;
  shape.back() = 0;
  bool nonneg = true;
  for (int k = 0; k < n.input_size(); ++k) {
    const Value v = value(n, k);
    if (v.image != first.image || v.nhwc != first.nhwc ||
        (v.image && (v.shape[0] != first.shape[0] || v.shape[1] != first.shape[1])))
      fail(n, "input shapes " + shape_list(first.shape) + " and " + shape_list(v.shape) +
                  " (channels last) cannot be concatenated on the channels");
    if (!v.chw.empty() && v.chw[1] * v.chw[2] > 1)
      fail(n,
           "concatenating flattened images is not supported (their element order differs "
           "between NCHW and NHWC)");
    inputs.push_back(v.layer);
    shape.back() += v.shape.back();
    nonneg = nonneg && v.nonneg;
  }
  Value y{
      add_layer(n, "Concatenate", json_ordered::object(), inputs), shape, first.image, {}, nonneg};
  y.nhwc = first.nhwc;
  set_output(n, std::move(y));
}

void Importer::batch_norm(const onnx::NodeProto& n) {
  const Value x = value(n, 0);
  if (attr_int(n, "spatial", 1) != 1) fail(n, "spatial = 0 is not supported");
  if (x.nhwc) fail(n, "the input is channels-last (NHWC); BatchNormalization needs NCHW");
  if (n.output_size() > 1)
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty() && consumers_[n.output(k)] > 0)
        fail(n, "training-mode outputs (running statistics) are not supported");
  const std::size_t ch = x.image ? x.shape[2] : x.shape[0];
  if (!x.chw.empty() && x.chw[1] * x.chw[2] > 1)
    fail(n, "batch normalization of a flattened image is not supported");
  json_ordered cfg;
  cfg["momentum"] = attr_float(n, "momentum", 0.9f);
  cfg["epsilon"] = attr_float(n, "epsilon", 1e-5f);
  const int l = add_layer(n, "BatchNormalization", cfg, {x.layer});
  PendingLayer& L = layers_[static_cast<std::size_t>(l)];
  const char* names[] = {"gamma", "beta", "moving_mean", "moving_variance"};
  for (int k = 0; k < 4; ++k) {
    const Const& c = constant(n, k + 1);
    if (c.integer || c.f.size() != ch)
      fail(n, std::string(names[k]) + " (input '" + n.input(k + 1) + "') has " +
                  std::to_string(c.numel()) + " values, expected " + std::to_string(ch));
    L.params[names[k]] = HostTensor{{ch}, c.f};
  }
  set_output(n, Value{l, x.shape, x.image, x.chw, false});
}

void Importer::dropout(const onnx::NodeProto& n) {
  const Value x = value(n, 0);
  float rate = attr_float(n, "ratio", 0.5f);
  if (n.input_size() > 1 && !n.input(1).empty()) {
    const Const& r = constant(n, 1);
    if (r.integer || r.f.size() != 1) fail(n, "ratio: expected one float");
    rate = r.f[0];
  }
  if (n.output_size() > 1 && !n.output(1).empty() && consumers_[n.output(1)] > 0)
    fail(n, "the mask output is not supported");
  if (!(rate >= 0.0f && rate < 1.0f)) fail(n, "ratio " + std::to_string(rate) + " not in [0, 1)");
  json_ordered cfg;
  cfg["rate"] = rate;
  Value y = x;
  y.layer = add_layer(n, "Dropout", cfg, {x.layer});
  set_output(n, std::move(y));
}

void Importer::softmax(const onnx::NodeProto& n) {
  const Value x = value(n, 0);
  const std::int64_t rank = x.image ? 4 : 2;
  auto axis = attr_int(n, "axis", opset_ >= 13 ? -1 : 1);
  if (axis < 0) axis += rank;
  // Before opset 13 the input is coerced to 2-D at axis: over [C, H, W] together, which is a
  // per-pixel (channel) softmax only for 1x1 images. From 13 on, axis 1 is the channel axis.
  const bool channels =
      (rank == 2 && axis == 1) || (x.nhwc && axis == 3) ||
      (rank == 4 && !x.nhwc && axis == 1 && (opset_ >= 13 || x.shape[0] * x.shape[1] == 1));
  if (!channels)
    fail(n, "softmax over axis " + std::to_string(axis) +
                " is not supported; only "
                "over the channels");
  if (!x.chw.empty() && x.chw[1] * x.chw[2] > 1)
    fail(n, "softmax of a flattened image is not supported");
  activation_layer(n, "softmax", x);
}

const std::vector<std::string>& kSupported() {
  static const std::vector<std::string> ops = {"Add",           "AveragePool", "BatchNormalization",
                                               "Concat",        "Constant",    "Conv",
                                               "Div",           "Dropout",     "Elu",
                                               "Flatten",       "Gemm",        "GlobalAveragePool",
                                               "GlobalMaxPool", "Identity",    "LeakyRelu",
                                               "MatMul",        "MaxPool",     "Mul",
                                               "Pad",           "Relu",        "Reshape",
                                               "Sigmoid",       "Softmax",     "Sub",
                                               "Sum",           "Tanh",        "Transpose"};
  return ops;
}

void Importer::convert(const onnx::NodeProto& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx")
    fail(n, "operator domain '" + n.domain() + "' is not supported (only the default ONNX one)");
  if (n.output_size() < 1) fail(n, "the node has no output");
  // Every input constant: evaluate now (weights reshaped by the graph, shape tensors).
  bool all_const = n.op_type() == "Constant";
  if (!all_const && n.input_size() > 0) {
    all_const = true;
    for (const auto& in : n.input())
      if (!in.empty() && !is_const(in)) all_const = false;
  }
  if (all_const) return fold_constant(n);
  const std::string& op = n.op_type();
  if (op == "Conv")
    conv(n);
  else if (op == "MaxPool")
    pool(n, true);
  else if (op == "AveragePool")
    pool(n, false);
  else if (op == "GlobalAveragePool")
    global_pool(n, false);
  else if (op == "GlobalMaxPool")
    global_pool(n, true);
  else if (op == "Relu")
    relu_like(n, "relu");
  else if (op == "Sigmoid")
    relu_like(n, "sigmoid");
  else if (op == "Tanh")
    relu_like(n, "tanh");
  else if (op == "Add")
    add(n);
  else if (op == "Gemm")
    dense(n, true);
  else if (op == "MatMul")
    dense(n, false);
  else if (op == "Flatten")
    flatten(n, false);
  else if (op == "Reshape")
    flatten(n, true);
  else if (op == "Concat")
    concat(n);
  else if (op == "BatchNormalization")
    batch_norm(n);
  else if (op == "Dropout")
    dropout(n);
  else if (op == "Softmax")
    softmax(n);
  else if (op == "Identity")
    set_output(n, value(n, 0));
  else if (op == "Transpose")
    transpose(n);
  else if (op == "Pad")
    pad(n);
  else if (op == "Mul" || op == "Sub" || op == "Div")
    affine(n);
  else if (op == "Sum")
    sum(n);
  else if (op == "Elu") {
    if (attr_float(n, "alpha", 1.0f) != 1.0f)
      fail(n, "alpha " + std::to_string(attr_float(n, "alpha", 1.0f)) +
                  " is not supported; only 1 (Keras's elu)");
    relu_like(n, "elu");
  } else if (op == "LeakyRelu") {
    if (attr_float(n, "alpha", 0.01f) != kernels::kLeakyReluAlpha)
      fail(n, "alpha " + std::to_string(attr_float(n, "alpha", 0.01f)) +
                  " is not supported; only 0.2 (Keras's leaky_relu)");
    relu_like(n, "leaky_relu");
  } else if (op == "Gather" && preprocessing_nodes_.count(n.output(0))) {
    set_output(n, value(n, 0));
  } else if (op == "Gather")
    fail(n,
         "Gather is supported only as cnn-export's reordering of the input's channels (its "
         "preprocessing, named in the file's metadata)");
  else {
    std::string list;
    for (const auto& s : kSupported()) list += (list.empty() ? "" : ", ") + s;
    fail(n, "operator '" + op + "' is not supported; cnn-import knows " + list);
  }
}

void Importer::read_metadata(const onnx::ModelProto& m) {
  // Through parse_json, whose depth limit holds for text from a file as for any other.
  auto parsed = [&](const onnx::StringStringEntryProto& p) -> std::optional<json> {
    try {
      return parse_json(p.value(), path_ + " (metadata " + p.key() + ")");
    } catch (const ConfigError&) {
      return std::nullopt;
    }
  };
  for (const auto& p : m.metadata_props()) {
    if (p.key() == "preprocessing") {
      const auto j = parsed(p);
      if (j && j->is_object()) meta_preprocessing_ = *j;
    } else if (p.key() == "class_names") {
      const auto j = parsed(p);
      bool ok = j && j->is_array() && !j->empty();
      if (ok)
        for (const auto& e : *j) ok = ok && e.is_string();
      if (!ok) {
        notes_.push_back("metadata class_names ignored: not a JSON list of names");
        continue;
      }
      class_names_ = j->get<std::vector<std::string>>();
    }
  }
}

bool Importer::input_is_nhwc(const onnx::ModelProto& m, const std::string& input) {
  std::set<std::string> reach{input};
  std::vector<const onnx::NodeProto*> chain;  // the element-wise nodes before the Transpose
  for (const auto& n : m.graph().node()) {
    bool reads = false;
    for (const auto& in : n.input()) reads = reads || reach.count(in) > 0;
    if (!reads || n.output_size() < 1) continue;
    const std::string& op = n.op_type();
    if (op == "Mul" || op == "Add" || op == "Sub" || op == "Div" || op == "Gather" ||
        op == "Identity") {
      chain.push_back(&n);
      reach.insert(n.output(0));
      continue;
    }
    if (op != "Transpose" || attr_ints(n, "perm", {}) != std::vector<std::int64_t>{0, 3, 1, 2})
      return false;
    adopt_preprocessing(chain);
    return true;
  }
  return false;
}

// cnn-export's preprocessing: the metadata's block, when the chain of nodes after the input is
// Gather [2, 1, 0] (for BGR), Mul by scale[c], Add shift[c] with exactly the values
// Preprocessing::affine gives; those nodes are then skipped.
void Importer::adopt_preprocessing(const std::vector<const onnx::NodeProto*>& chain) {
  if (!meta_preprocessing_) return;
  const json& meta = *meta_preprocessing_;
  try {
    Preprocessing pre;
    pre.rescale = meta.value("rescale", 1.0f);
    pre.mean = meta.value("mean", std::vector<float>{});
    pre.std = meta.value("std", std::vector<float>{});
    pre.bgr = meta.value("channel_order", std::string("rgb")) == "bgr";
    std::size_t k = 0;
    auto next_is = [&](const char* op) {
      return k < chain.size() && chain[k]->op_type() == op && chain[k]->input_size() == 2 &&
             is_const(chain[k]->input(1));
    };
    if (pre.bgr) {
      if (!next_is("Gather") ||
          consts_.at(chain[k]->input(1)).i != std::vector<std::int64_t>{2, 1, 0})
        return;
      ++k;
    }
    if (!next_is("Mul")) return;
    const Const& scale = consts_.at(chain[k++]->input(1));
    if (!next_is("Add")) return;
    const Const& shift = consts_.at(chain[k++]->input(1));
    if (k != chain.size() || scale.f.empty()) return;
    std::vector<float> sc, sh;
    pre.affine(scale.f.size(), sc, sh);
    if (sc != scale.f || sh != shift.f) return;
  } catch (const json::exception&) {
    return;  // not our block: the nodes are read as what they compute
  }
  preprocessing_ = meta;
  for (const auto* n : chain) preprocessing_nodes_.insert(n->output(0));
  notes_.push_back("the file's preprocessing (metadata and its first " +
                   std::to_string(chain.size()) + " nodes) written as the model's preprocessing");
}

// The model input: the one graph input that is not an initializer (old exporters list the
// weights as inputs too), as a Value of our layout; input_shape_ is its per-sample shape.
Value Importer::model_input(const onnx::ModelProto& model) {
  const onnx::GraphProto& g = model.graph();
  const onnx::ValueInfoProto* input = nullptr;
  for (const auto& in : g.input()) {
    if (is_const(in.name())) continue;
    if (input)
      fail("the graph has more than one input ('" + input->name() + "', '" + in.name() +
           "'); only single-input models are supported");
    input = &in;
  }
  if (!input) fail("the graph has no input");
  input_onnx_name_ = input->name();
  const auto& tt = input->type().tensor_type();
  if (tt.elem_type() != onnx::TensorProto_DataType_FLOAT)
    fail("input '" + input->name() + "': expected a float tensor");
  std::vector<std::int64_t> dims;
  for (const auto& d : tt.shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  auto dim = [&](std::size_t k) {
    if (dims[k] < 1)
      fail("input '" + input->name() + "': dimension " + std::to_string(k) +
           " has no fixed size; cnn-import needs the input's channels, height and width");
    return static_cast<std::size_t>(dims[k]);
  };
  Value v;
  v.layer = -1;
  if (dims.size() == 4) {
    v.image = true;
    v.nhwc = input_is_nhwc(model, input->name());
    v.shape = v.nhwc ? Shape{dim(1), dim(2), dim(3)} : Shape{dim(2), dim(3), dim(1)};
  } else if (dims.size() == 2) {
    v.shape = {dim(1)};
  } else {
    fail("input '" + input->name() + "': expected an NCHW image [N, C, H, W] or [N, features], " +
         "got rank " + std::to_string(dims.size()));
  }
  return v;
}

// Names: the nodes' (made valid, unique), else Keras defaults that skip taken names.
std::vector<std::string> Importer::layer_names(std::set<std::string>& taken) const {
  std::vector<std::string> names(layers_.size());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (!layers_[i].wanted_name.empty()) names[i] = unique_name(layers_[i].wanted_name, taken);
  }
  std::map<std::string, int> counters;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (!names[i].empty()) continue;
    const std::string stem = keras_snake_case(layers_[i].type);
    std::string name;
    do {
      const int k = counters[stem]++;
      name = k ? stem + "_" + std::to_string(k) : stem;
    } while (taken.count(name));
    taken.insert(name);
    names[i] = name;
  }
  return names;
}

// The layers after the graph's output: the softmax --softmax asks for, and a Permute to
// [c, h, w] for an NCHW image, so that the output holds ONNX's values in ONNX's order.
std::string Importer::output_layers(json_ordered& layers, std::string output, const Value& y,
                                    std::set<std::string>& taken) {
  if (opt_.append_softmax) {
    const std::string name = unique_name("prob", taken);
    layers.push_back(
        {{"type", "Activation"}, {"name", name}, {"inputs", output}, {"activation", "softmax"}});
    output = name;
  }
  if (y.image && !y.nhwc && y.shape[0] * y.shape[1] > 1 && y.shape[2] > 1) {
    const std::string name = unique_name(output + "_nchw", taken);
    layers.push_back(
        {{"type", "Permute"}, {"name", name}, {"inputs", output}, {"dims", {3, 1, 2}}});
    output = name;
    notes_.push_back("the output image is permuted to ONNX's (c, h, w) order by layer '" + name +
                     "'");
  }
  return output;
}

ImportedModel Importer::run() {
  const std::string bytes = read_file(path_);
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    fail("not a valid ONNX model: the protobuf message cannot be parsed (" +
         std::to_string(bytes.size()) + " bytes; truncated or not an .onnx file?)");
  if (!model.has_graph() || model.graph().node_size() == 0)
    fail("not an ONNX model with a graph (no nodes)");
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") opset_ = op.version();
  const onnx::GraphProto& g = model.graph();
  for (const auto& t : g.initializer())
    consts_[t.name()] = tensor_const(t, "initializer '" + t.name() + "'");
  if (g.output_size() != 1)
    fail("the graph has " + std::to_string(g.output_size()) +
         " outputs; only single-output models are supported");
  read_metadata(model);
  const Value input = model_input(model);
  values_[input_onnx_name_] = input;
  for (const auto& n : g.node())
    for (const auto& in : n.input())
      if (!in.empty()) {
        ++consumers_[in];
        consumer_ops_[in].push_back(n.op_type());
      }
  ++consumers_[g.output(0).name()];
  consumer_ops_[g.output(0).name()].push_back("");  // the graph's output
  for (const auto& n : g.node()) convert(n);

  const auto out_it = values_.find(g.output(0).name());
  if (out_it == values_.end())
    fail("the graph output '" + g.output(0).name() + "' is not computed from the input");
  if (out_it->second.layer < 0) fail("the graph output is its input; there are no layers");

  const std::string input_name = valid_layer_name(input_onnx_name_).empty()
                                     ? std::string("input_1")
                                     : valid_layer_name(input_onnx_name_);
  std::set<std::string> taken{input_name};
  const std::vector<std::string> names = layer_names(taken);
  ImportedModel out;
  json_ordered& arch = out.architecture;
  std::string model_name = opt_.name;
  if (model_name.empty()) model_name = valid_layer_name(g.name());
  if (model_name.empty())
    model_name = valid_layer_name(std::filesystem::path(path_).stem().string());
  arch["name"] = model_name.empty() ? std::string("model") : model_name;
  arch["input_shape"] = input.shape;
  arch["input_name"] = input_name;
  if (preprocessing_) {
    // The file's own; options that would apply a second one are refused (rescale 1 alone is
    // what cnn-import onnx gives when no option is set).
    if (opt_.preprocessing && *opt_.preprocessing != json_ordered{{"rescale", 1.0}})
      fail("the file applies its own preprocessing " + preprocessing_->dump() +
           "; preprocessing options would apply a second one");
    arch["preprocessing"] = *preprocessing_;
  } else if (opt_.preprocessing) {
    arch["preprocessing"] = *opt_.preprocessing;
  }
  arch["layers"] = json_ordered::array();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    PendingLayer& L = layers_[i];
    json_ordered j{{"type", L.type}, {"name", names[i]}};
    json_ordered ins = json_ordered::array();
    for (int src : L.inputs)
      ins.push_back(src < 0 ? input_name : names[static_cast<std::size_t>(src)]);
    j["inputs"] = ins.size() == 1 ? ins[0] : ins;
    if ((L.type == "Conv2D" || L.type == "Dense") && !L.bias_set) {
      L.cfg["use_bias"] = false;
      L.params.erase("bias");
    }
    for (const auto& [k, v] : L.cfg.items()) j[k] = v;
    arch["layers"].push_back(j);
    for (auto& [param, t] : L.params) out.weights[names[i] + "." + param] = std::move(t);
  }
  arch["output"] = output_layers(
      arch["layers"], names[static_cast<std::size_t>(out_it->second.layer)], out_it->second, taken);
  out.notes = std::move(notes_);
  out.class_names = std::move(class_names_);
  return out;
}

}  // namespace

const std::vector<std::string>& onnx_supported_operators() { return kSupported(); }

ImportedModel import_onnx(const std::string& path, const OnnxImportOptions& opt) {
  return Importer(path, opt).run();
}

HostTensor read_onnx_tensor(const std::string& path) {
  const std::string bytes = read_file(path);
  onnx::TensorProto t;
  if (!t.ParseFromString(bytes))
    throw FormatError(path, std::nullopt, "not a serialized ONNX TensorProto");
  if (t.data_type() != onnx::TensorProto_DataType_FLOAT)
    throw FormatError(path, std::nullopt,
                      "expected a float tensor, got data type " + std::to_string(t.data_type()));
  HostTensor out;
  std::size_t count = 1;
  for (auto d : t.dims()) {
    if (d < 0) throw FormatError(path, std::nullopt, "negative dimension");
    out.shape.push_back(static_cast<std::size_t>(d));
    count *= static_cast<std::size_t>(d);
  }
  if (!t.raw_data().empty()) {
    if (t.raw_data().size() != count * 4)
      throw FormatError(path, std::nullopt,
                        "raw_data has " + std::to_string(t.raw_data().size()) +
                            " bytes, the shape " + shape_list(out.shape) + " needs " +
                            std::to_string(count * 4));
    out.data.resize(count);
    std::memcpy(out.data.data(), t.raw_data().data(), count * 4);
  } else {
    if (static_cast<std::size_t>(t.float_data_size()) != count)
      throw FormatError(path, std::nullopt, "float_data does not match the shape");
    out.data.assign(t.float_data().begin(), t.float_data().end());
  }
  return out;
}

}  // namespace cnn::io
