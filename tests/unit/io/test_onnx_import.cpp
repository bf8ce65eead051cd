// ONNX import: the ONNX model zoo MNIST CNN against its three reference outputs, and small graphs
// built with the ONNX protobuf classes against a naive NCHW implementation of ONNX's operators
// (weight layouts, every padding form, the Flatten -> Dense row order, branches), and the errors.
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "io/onnx_import.hpp"
#include "io/temp_dir.hpp"
#include "shared_data.hpp"
#include "tensor/error.hpp"

using cnn::Context;
using cnn::FormatError;
using cnn::Model;
using cnn::Rng;
using cnn::Tensor;
using cnn::io::HostTensor;
using cnn::io::ImportedModel;

namespace {

const std::string kMnist = std::string(CNN_SHARED_DATA) + "/onnx-mnist";

// An NCHW tensor [c, h, w] of one sample, as the reference computes.
struct Chw {
  std::size_t c = 0, h = 0, w = 0;
  std::vector<float> v;
  float at(std::size_t ci, std::ptrdiff_t y, std::ptrdiff_t x, bool& inside) const {
    inside = y >= 0 && x >= 0 && y < static_cast<std::ptrdiff_t>(h) &&
             x < static_cast<std::ptrdiff_t>(w);
    return inside ? v[(ci * h + static_cast<std::size_t>(y)) * w + static_cast<std::size_t>(x)]
                  : 0.0f;
  }
};

Chw random_chw(std::size_t c, std::size_t h, std::size_t w, Rng& rng, float lo = -1, float hi = 1) {
  Chw t{c, h, w, std::vector<float>(c * h * w)};
  for (auto& x : t.v) x = lo + (hi - lo) * static_cast<float>(rng.uniform());
  return t;
}

std::vector<float> random_vec(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = 2.0f * static_cast<float>(rng.uniform()) - 1.0f;
  return v;
}

// ONNX Conv (group 1): pads [top, left, bottom, right].
Chw ref_conv(const Chw& x, const std::vector<float>& w, const std::vector<float>& b, std::size_t f,
             std::size_t k, std::size_t s, std::size_t d, std::array<std::size_t, 4> p) {
  const std::size_t ek = (k - 1) * d + 1;
  Chw y{f, (x.h + p[0] + p[2] - ek) / s + 1, (x.w + p[1] + p[3] - ek) / s + 1, {}};
  y.v.resize(f * y.h * y.w);
  for (std::size_t o = 0; o < f; ++o)
    for (std::size_t oy = 0; oy < y.h; ++oy)
      for (std::size_t ox = 0; ox < y.w; ++ox) {
        double acc = b.empty() ? 0.0 : b[o];
        for (std::size_t c = 0; c < x.c; ++c)
          for (std::size_t a = 0; a < k; ++a)
            for (std::size_t e = 0; e < k; ++e) {
              bool in;
              const float v = x.at(
                  c,
                  static_cast<std::ptrdiff_t>(oy * s + a * d) - static_cast<std::ptrdiff_t>(p[0]),
                  static_cast<std::ptrdiff_t>(ox * s + e * d) - static_cast<std::ptrdiff_t>(p[1]),
                  in);
              acc += static_cast<double>(v) * w[((o * x.c + c) * k + a) * k + e];
            }
        y.v[(o * y.h + oy) * y.w + ox] = static_cast<float>(acc);
      }
  return y;
}

// ONNX MaxPool / AveragePool with PyTorch's rounding and divisor rules.
Chw ref_pool(const Chw& x, bool max, std::size_t k, std::size_t s, std::array<std::size_t, 4> p,
             bool ceil, bool count_pad) {
  auto out = [&](std::size_t in, std::size_t before, std::size_t after) {
    const std::size_t span = in + before + after - k;
    std::size_t o = (ceil ? (span + s - 1) / s : span / s) + 1;
    if (ceil && (o - 1) * s >= in + before) --o;
    return o;
  };
  Chw y{x.c, out(x.h, p[0], p[2]), out(x.w, p[1], p[3]), {}};
  y.v.resize(y.c * y.h * y.w);
  for (std::size_t c = 0; c < x.c; ++c)
    for (std::size_t oy = 0; oy < y.h; ++oy)
      for (std::size_t ox = 0; ox < y.w; ++ox) {
        const auto ys = static_cast<std::ptrdiff_t>(oy * s) - static_cast<std::ptrdiff_t>(p[0]);
        const auto xs = static_cast<std::ptrdiff_t>(ox * s) - static_cast<std::ptrdiff_t>(p[1]);
        const auto ye = std::min<std::ptrdiff_t>(ys + static_cast<std::ptrdiff_t>(k),
                                                 static_cast<std::ptrdiff_t>(x.h + p[2]));
        const auto xe = std::min<std::ptrdiff_t>(xs + static_cast<std::ptrdiff_t>(k),
                                                 static_cast<std::ptrdiff_t>(x.w + p[3]));
        double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
        std::size_t n = 0;
        for (auto yy = ys; yy < ye; ++yy)
          for (auto xx = xs; xx < xe; ++xx) {
            bool in;
            const float v = x.at(c, yy, xx, in);
            if (!in) continue;
            acc = max ? std::max(acc, static_cast<double>(v)) : acc + v;
            ++n;
          }
        if (!max) acc /= count_pad ? static_cast<double>((ye - ys) * (xe - xs)) : n;
        y.v[(c * y.h + oy) * y.w + ox] = static_cast<float>(acc);
      }
  return y;
}

// Small ONNX graphs built with the generated classes.
class Graph {
 public:
  Graph(std::vector<std::int64_t> input_dims, int opset = 11) {
    m_.set_ir_version(7);
    auto* op = m_.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    g_ = m_.mutable_graph();
    g_->set_name("test_graph");
    auto* in = g_->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto_DataType_FLOAT);
    for (auto d : input_dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void init(const std::string& name, std::vector<std::int64_t> dims, const std::vector<float>& v) {
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_FLOAT);
    for (auto d : dims) t->add_dims(d);
    for (float f : v) t->add_float_data(f);
  }
  void init_i64(const std::string& name, const std::vector<std::int64_t>& v) {
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_INT64);
    t->add_dims(static_cast<std::int64_t>(v.size()));
    for (auto i : v) t->add_int64_data(i);
  }
  onnx::NodeProto* node(const std::string& op, std::vector<std::string> in,
                        std::vector<std::string> out, const std::string& name = "") {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + std::to_string(g_->node_size()) : name);
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return n;
  }
  static void ints(onnx::NodeProto* n, const std::string& name, std::vector<std::int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INTS);
    for (auto i : v) a->add_ints(i);
  }
  static void integer(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(v);
  }
  static void string(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_STRING);
    a->set_s(v);
  }
  std::string save(const cnn::test::TempDir& dir, const std::string& output,
                   const std::string& file = "g.onnx") {
    g_->add_output()->set_name(output);
    const std::string path = dir.file(file);
    std::ofstream f(path, std::ios::binary);
    REQUIRE(m_.SerializeToOstream(&f));
    return path;
  }

 private:
  onnx::ModelProto m_;
  onnx::GraphProto* g_ = nullptr;
};

// Runs the imported model on one NCHW sample; returns the output in NHWC order.
std::vector<float> run(Model& m, const Chw& x) {
  Tensor in = Tensor::from_shape({1, x.h, x.w, x.c});
  for (std::size_t c = 0; c < x.c; ++c)
    for (std::size_t y = 0; y < x.h; ++y)
      for (std::size_t z = 0; z < x.w; ++z) in(0, y, z, c) = x.v[(c * x.h + y) * x.w + z];
  Rng rng(1);
  Context ctx{false, &rng};
  const Tensor& out = m.forward(ctx, in);
  return {out.begin(), out.end()};
}

// NCHW -> NHWC order of a reference output.
std::vector<float> to_nhwc(const Chw& y) {
  std::vector<float> v(y.v.size());
  for (std::size_t c = 0; c < y.c; ++c)
    for (std::size_t a = 0; a < y.h; ++a)
      for (std::size_t b = 0; b < y.w; ++b)
        v[(a * y.w + b) * y.c + c] = y.v[(c * y.h + a) * y.w + b];
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
  return d;
}

std::vector<std::string> layer_types(const ImportedModel& im) {
  std::vector<std::string> t;
  for (const auto& l : im.architecture["layers"]) t.push_back(l["type"].get<std::string>());
  return t;
}

std::string import_error(const std::string& path) {
  try {
    (void)cnn::io::import_onnx(path);
  } catch (const FormatError& e) {
    return e.what();
  }
  FAIL("no FormatError");
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("onnx import: the MNIST model reproduces its three reference outputs") {
  if (!cnn::test::have_data(kMnist)) return;
  const ImportedModel im = cnn::io::import_onnx(kMnist + "/model.onnx");
  CHECK(layer_types(im) == std::vector<std::string>{"Conv2D", "MaxPooling2D", "Conv2D",
                                                    "MaxPooling2D", "Flatten", "Dense"});
  const auto& l = im.architecture["layers"];
  CHECK(l[0]["padding"] == "same");
  CHECK(l[0]["activation"] == "relu");  // Add (bias) and Relu fused into the convolution
  CHECK(l[0]["name"] == "Convolution28");
  CHECK(im.architecture["input_shape"] == cnn::json_ordered({28, 28, 1}));
  Model m = cnn::io::build_imported(im, "model.onnx");
  CHECK(m.param_count() == 8 * 25 + 8 + 16 * 8 * 25 + 16 + 256 * 10 + 10);
  for (int set = 0; set < 3; ++set) {
    const std::string dir = kMnist + "/test_data_set_" + std::to_string(set);
    const HostTensor in = cnn::io::read_onnx_tensor(dir + "/input_0.pb");
    const HostTensor want = cnn::io::read_onnx_tensor(dir + "/output_0.pb");
    REQUIRE(in.shape == cnn::Shape{1, 1, 28, 28});
    REQUIRE(want.shape == cnn::Shape{1, 10});
    const std::vector<float> got = run(m, Chw{1, 28, 28, in.data});
    // The logits of raw 0..255 input reach 6,575 (one float32 step there is 4.9e-4) and are
    // sums of terms that large, so "within 1e-4" can only be relative: each value must be within
    // 1e-4 x max(1, |reference|). Measured: at most 9.8e-4 absolute (1.5e-7 of the largest
    // logit), at most 1e-5 relative per value.
    double worst = 0;
    for (std::size_t k = 0; k < 10; ++k)
      worst = std::max(worst, std::fabs(double(got[k]) - want.data[k]) /
                                  std::max(1.0, std::fabs(double(want.data[k]))));
    const double abs_diff = max_abs_diff(got, want.data);
    MESSAGE("set " << set << " max abs diff " << abs_diff
                   << ", max diff relative to max(1, |reference|) " << worst);
    CHECK(worst < 1e-4);
    CHECK(abs_diff < 2e-3);
    CHECK(std::max_element(got.begin(), got.end()) - got.begin() ==
          std::vector<long>{2, 0, 9}[static_cast<std::size_t>(set)]);
  }
}

TEST_CASE("onnx import: Conv weights OIHW -> HWIO and every padding form") {
  cnn::test::TempDir dir;
  Rng rng(7);
  struct Case {
    std::array<std::size_t, 4> pads;
    std::string auto_pad;
    std::size_t stride, dilation;
    std::string first_layer, padding;
  };
  const Case cases[] = {
      {{0, 0, 0, 0}, "", 1, 1, "Conv2D", "valid"},
      {{1, 1, 1, 1}, "", 1, 1, "Conv2D", "same"},
      // 7x6, stride 2: TF same pads rows 1 / 1 but columns 0 / 1, so zeros first
      {{1, 1, 1, 1}, "", 2, 1, "ZeroPadding2D", "valid"},
      {{0, 0, 1, 1}, "", 2, 1, "ZeroPadding2D", "valid"},
      {{2, 1, 0, 1}, "", 1, 1, "ZeroPadding2D", "valid"},
      {{2, 2, 2, 2}, "", 1, 2, "Conv2D", "same"},  // dilation 2 keeps the size with pads 2
      {{0, 0, 0, 0}, "SAME_UPPER", 2, 1, "Conv2D", "same"},
      {{0, 0, 0, 0}, "SAME_LOWER", 2, 1, "ZeroPadding2D", "valid"},
      {{0, 0, 0, 0}, "VALID", 2, 1, "Conv2D", "valid"},
  };
  for (const Case& c : cases) {
    Graph g({1, 3, 7, 6});
    const std::vector<float> w = random_vec(4 * 3 * 3 * 3, rng), b = random_vec(4, rng);
    g.init("W", {4, 3, 3, 3}, w);
    g.init("B", {4}, b);
    auto* n = g.node("Conv", {"x", "W", "B"}, {"y"}, "conv/1");
    Graph::ints(n, "kernel_shape", {3, 3});
    Graph::ints(n, "strides",
                {static_cast<std::int64_t>(c.stride), static_cast<std::int64_t>(c.stride)});
    Graph::ints(n, "dilations",
                {static_cast<std::int64_t>(c.dilation), static_cast<std::int64_t>(c.dilation)});
    std::array<std::size_t, 4> pads = c.pads;
    if (c.auto_pad.empty()) {
      Graph::ints(n, "pads",
                  {static_cast<std::int64_t>(pads[0]), static_cast<std::int64_t>(pads[1]),
                   static_cast<std::int64_t>(pads[2]), static_cast<std::int64_t>(pads[3])});
    } else {
      Graph::string(n, "auto_pad", c.auto_pad);
      if (c.auto_pad == "SAME_UPPER") pads = {1, 0, 1, 1};  // 7: total 2 -> 1/1; 6: total 1 -> 0/1
      if (c.auto_pad == "SAME_LOWER") pads = {1, 1, 1, 0};
    }
    const ImportedModel im = cnn::io::import_onnx(g.save(dir, "y"));
    INFO("pads " << pads[0] << pads[1] << pads[2] << pads[3] << " " << c.auto_pad << " stride "
                 << c.stride);
    const auto& layers = im.architecture["layers"];
    REQUIRE(layers.size() >= 2);
    CHECK(layers[0]["type"] == c.first_layer);
    // The output image in ONNX's (c, h, w) order: a Permute after the convolution.
    const auto& conv = layers[layers.size() - 2];
    CHECK(conv["padding"] == c.padding);
    CHECK(conv["name"] == "conv_1");
    CHECK(layers.back()["type"] == "Permute");
    CHECK(layers.back()["name"] == "conv_1_nchw");
    Model m = cnn::io::build_imported(im, "g.onnx");
    const Chw x = random_chw(3, 7, 6, rng);
    const Chw want = ref_conv(x, w, b, 4, 3, c.stride, c.dilation, pads);
    CHECK(max_abs_diff(run(m, x), want.v) < 1e-5);
  }
}

TEST_CASE("onnx import: Flatten -> Gemm rows are permuted from NCHW to NHWC order") {
  cnn::test::TempDir dir;
  Rng rng(3);
  for (bool reshape : {false, true}) {
    Graph g({1, 2, 3, 4});
    const std::vector<float> w = random_vec(5 * 24, rng), b = random_vec(5, rng);
    g.init("W", {5, 24}, w);  // transB: [out, in]
    g.init("C", {5}, b);
    if (reshape) {
      g.init_i64("shape", {1, -1});
      g.node("Reshape", {"x", "shape"}, {"f"});
    } else {
      g.node("Flatten", {"x"}, {"f"});
    }
    auto* gemm = g.node("Gemm", {"f", "W", "C"}, {"y"});
    Graph::integer(gemm, "transB", 1);
    const ImportedModel im = cnn::io::import_onnx(g.save(dir, "y"));
    CHECK(layer_types(im) == std::vector<std::string>{"Flatten", "Dense"});
    Model m = cnn::io::build_imported(im, "g.onnx");
    const Chw x = random_chw(2, 3, 4, rng);
    std::vector<float> want(5);
    for (std::size_t o = 0; o < 5; ++o) {
      double acc = b[o];
      for (std::size_t i = 0; i < 24; ++i) acc += double(w[o * 24 + i]) * x.v[i];  // NCHW order
      want[o] = static_cast<float>(acc);
    }
    CHECK(max_abs_diff(run(m, x), want) < 1e-5);
  }
}

TEST_CASE("onnx import: pooling paddings, branches, batch normalization, softmax") {
  cnn::test::TempDir dir;
  Rng rng(11);
  // conv (valid) -> relu (fused) -> maxpool 3x3/2 pads 1 (ResNet's stem: zero padding is exact
  // after a ReLU) and avgpool 3x3/2 pads 1 counting pads; concat; BN; GAP; flatten; gemm; softmax
  Graph g({1, 3, 9, 8});
  const std::vector<float> w = random_vec(4 * 3 * 9, rng), b = random_vec(4, rng);
  g.init("W", {4, 3, 3, 3}, w);
  g.init("B", {4}, b);
  auto* conv = g.node("Conv", {"x", "W", "B"}, {"c"});
  Graph::ints(conv, "kernel_shape", {3, 3});
  g.node("Relu", {"c"}, {"r"});
  auto* mp = g.node("MaxPool", {"r"}, {"mp"});
  Graph::ints(mp, "kernel_shape", {3, 3});
  Graph::ints(mp, "strides", {2, 2});
  Graph::ints(mp, "pads", {1, 1, 1, 1});
  auto* ap = g.node("AveragePool", {"r"}, {"ap"});
  Graph::ints(ap, "kernel_shape", {3, 3});
  Graph::ints(ap, "strides", {2, 2});
  Graph::ints(ap, "pads", {1, 1, 1, 1});
  Graph::integer(ap, "count_include_pad", 1);
  auto* cat = g.node("Concat", {"mp", "ap"}, {"cat"});
  Graph::integer(cat, "axis", 1);
  const std::vector<float> gamma = random_vec(8, rng), beta = random_vec(8, rng),
                           mean = random_vec(8, rng);
  std::vector<float> var = random_vec(8, rng);
  for (auto& v : var) v = std::fabs(v) + 0.5f;
  g.init("gamma", {8}, gamma);
  g.init("beta", {8}, beta);
  g.init("mean", {8}, mean);
  g.init("var", {8}, var);
  g.node("BatchNormalization", {"cat", "gamma", "beta", "mean", "var"}, {"bn"});
  g.node("GlobalAveragePool", {"bn"}, {"gap"});
  g.node("Flatten", {"gap"}, {"flat"});
  const std::vector<float> wd = random_vec(8 * 3, rng);
  g.init("Wd", {8, 3}, wd);
  g.node("MatMul", {"flat", "Wd"}, {"logits"});
  g.node("Softmax", {"logits"}, {"prob"});
  const ImportedModel im = cnn::io::import_onnx(g.save(dir, "prob"));
  CHECK(layer_types(im) == std::vector<std::string>{"Conv2D", "MaxPooling2D", "ZeroPadding2D",
                                                    "AveragePooling2D", "Concatenate",
                                                    "BatchNormalization", "GlobalAveragePooling2D",
                                                    "Dense"});
  // The max pooling's padding is its own (ignored cells); the counted average's is zeros. The
  // Flatten of the global pooling's [N, C, 1, 1] is the pooling without keepdims; the Softmax is
  // the Dense's activation.
  CHECK(im.architecture["layers"][1]["padding"] == cnn::json_ordered{{1, 1}, {1, 1}});
  CHECK(im.architecture["layers"][6]["keepdims"] == false);
  CHECK(im.architecture["layers"][7]["activation"] == "softmax");
  Model m = cnn::io::build_imported(im, "g.onnx");
  const Chw x = random_chw(3, 9, 8, rng);
  Chw r = ref_conv(x, w, b, 4, 3, 1, 1, {0, 0, 0, 0});
  for (auto& v : r.v) v = std::max(v, 0.0f);
  const Chw p1 = ref_pool(r, true, 3, 2, {1, 1, 1, 1}, false, false);
  const Chw p2 = ref_pool(r, false, 3, 2, {1, 1, 1, 1}, false, true);
  Chw c{8, p1.h, p1.w, p1.v};
  c.v.insert(c.v.end(), p2.v.begin(), p2.v.end());
  std::vector<double> pooled(8, 0.0);
  for (std::size_t ch = 0; ch < 8; ++ch) {
    for (std::size_t i = 0; i < c.h * c.w; ++i) {
      const double v = c.v[ch * c.h * c.w + i];
      pooled[ch] += gamma[ch] * (v - mean[ch]) / std::sqrt(var[ch] + 1e-5) + beta[ch];
    }
    pooled[ch] /= static_cast<double>(c.h * c.w);
  }
  std::vector<double> logits(3, 0.0);
  for (std::size_t o = 0; o < 3; ++o)
    for (std::size_t i = 0; i < 8; ++i) logits[o] += pooled[i] * wd[i * 3 + o];
  const double mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (auto& v : logits) sum += (v = std::exp(v - mx));
  std::vector<float> want;
  for (auto v : logits) want.push_back(static_cast<float>(v / sum));
  CHECK(max_abs_diff(run(m, x), want) < 1e-5);
}

TEST_CASE("onnx import: ceil_mode pooling becomes our ceil_mode") {
  cnn::test::TempDir dir;
  Rng rng(5);
  for (bool max : {true, false}) {
    Graph g({1, 2, 8, 7});
    auto* p = g.node(max ? "MaxPool" : "AveragePool", {"x"}, {"y"}, "pool");
    Graph::ints(p, "kernel_shape", {3, 3});
    Graph::ints(p, "strides", {2, 2});
    Graph::integer(p, "ceil_mode", 1);
    const ImportedModel im = cnn::io::import_onnx(g.save(dir, "y"));
    const auto& l = im.architecture["layers"];
    REQUIRE(l.size() == 2);  // and the Permute to (c, h, w)
    CHECK(l[0]["padding"] == "valid");
    CHECK(l[0]["ceil_mode"] == true);  // 8 rows: floor gives 3 windows, ceil 4
    Model m = cnn::io::build_imported(im, "g.onnx");
    const Chw x = random_chw(2, 8, 7, rng);
    const Chw want = ref_pool(x, max, 3, 2, {0, 0, 0, 0}, true, false);
    CHECK(want.h == 4);
    CHECK(max_abs_diff(run(m, x), want.v) < 1e-6);
  }
}

TEST_CASE("onnx import: MaxPool padding that zeros could change: the layer's explicit padding") {
  cnn::test::TempDir dir;
  Rng rng(13);
  // All inputs negative, so a padding zero would win; asymmetric pads, strides 2 and 1.
  Graph g({1, 2, 8, 7});
  auto* mp = g.node("MaxPool", {"x"}, {"y"}, "pool1");
  Graph::ints(mp, "kernel_shape", {3, 3});
  Graph::ints(mp, "strides", {2, 1});
  Graph::ints(mp, "pads", {2, 0, 1, 1});
  const ImportedModel im = cnn::io::import_onnx(g.save(dir, "y"));
  const auto& l = im.architecture["layers"];
  CHECK(l[0]["type"] == "MaxPooling2D");
  CHECK(l[0]["padding"] == cnn::json_ordered{{2, 1}, {0, 1}});
  Model m = cnn::io::build_imported(im, "g.onnx");
  const Chw x = random_chw(2, 8, 7, rng, -2.0f, -1.0f);
  const std::vector<float> got = run(m, x);
  const std::size_t oh = (8 + 3 - 3) / 2 + 1, ow = (7 + 1 - 3) / 1 + 1;
  REQUIRE(got.size() == 2 * oh * ow);
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t oy = 0; oy < oh; ++oy)
      for (std::size_t ox = 0; ox < ow; ++ox) {
        float best = -1e30f;
        for (std::ptrdiff_t a = 0; a < 3; ++a)
          for (std::ptrdiff_t b = 0; b < 3; ++b) {
            bool in;
            const float v = x.at(c, static_cast<std::ptrdiff_t>(oy * 2) - 2 + a,
                                 static_cast<std::ptrdiff_t>(ox) + b, in);
            if (in) best = std::max(best, v);
          }
        CHECK(got[(c * oh + oy) * ow + ox] == best);  // NCHW order: the output's Permute
      }
}

TEST_CASE("onnx import: an unsupported operator is named with its node and the file") {
  cnn::test::TempDir dir;
  Graph g({1, 3, 8, 8});
  auto* n = g.node("LRN", {"x"}, {"y"}, "norm1");
  Graph::integer(n, "size", 5);
  const std::string path = g.save(dir, "y", "lrn.onnx");
  const std::string e = import_error(path);
  CHECK(contains(e, path));
  CHECK(contains(e, "node 'norm1' (LRN)"));
  CHECK(contains(e, "operator 'LRN' is not supported"));
  CHECK(contains(e, "Conv"));  // lists what is supported
}

TEST_CASE("onnx import: truncated and foreign files are format errors") {
  if (!cnn::test::have_data(kMnist)) return;
  cnn::test::TempDir dir;
  const auto bytes = cnn::test::read_bytes(kMnist + "/model.onnx");
  cnn::test::write_bytes(dir.file("cut.onnx"),
                         std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 5000));
  CHECK(contains(import_error(dir.file("cut.onnx")), "cut.onnx"));
  cnn::test::write_bytes(dir.file("text.onnx"), {'h', 'e', 'l', 'l', 'o', '\n'});
  CHECK(contains(import_error(dir.file("text.onnx")), "text.onnx"));
  CHECK_THROWS_AS((void)cnn::io::read_onnx_tensor(dir.file("text.onnx")), FormatError);
}

// Issue #17: hostile graphs whose declared sizes do not match their data are refused before
// anything reads past a buffer (each of these read heap bytes or threw "internal error").
TEST_CASE("onnx import: dimension products, perms, axes and pads from the file are checked") {
  cnn::test::TempDir dir;
  auto refused = [&](Graph& g, const std::string& out, const std::string& part) {
    const std::string e = import_error(g.save(dir, out));
    INFO(e);
    CHECK(contains(e, part));
  };
  {  // dims whose product wraps to 0: "no values needed"
    Graph g({1, 3});
    g.init("w", {4294967296, 4294967296, 1}, {});
    g.node("Gemm", {"x", "w"}, {"y"});
    refused(g, "y", "has more than 2^32 values");
  }
  {  // a Transpose whose perm repeats an axis
    Graph g({1, 3});
    g.init("w", {2, 3}, {1, 2, 3, 4, 5, 6});
    Graph::ints(g.node("Transpose", {"w"}, {"wt"}, "t"), "perm", {0, 0});
    g.node("Gemm", {"x", "wt"}, {"y"});
    refused(g, "y", "perm [0, 0] is not a permutation of the input's 2 axes");
  }
  {  // Unsqueeze with a repeated and with an out-of-range axis
    Graph g({1, 3});
    g.init("w", {3}, {1, 2, 3});
    Graph::ints(g.node("Unsqueeze", {"w"}, {"wu"}, "u"), "axes", {0, 0});
    g.node("Gemm", {"x", "wu"}, {"y"});
    refused(g, "y", "axis 0 is given twice");
  }
  {
    Graph g({1, 3});
    g.init("w", {3}, {1, 2, 3});
    Graph::ints(g.node("Unsqueeze", {"w"}, {"wu"}, "u"), "axes", {7});
    g.node("Gemm", {"x", "wu"}, {"y"});
    refused(g, "y", "axis 7 is out of range for rank 2");
  }
  {  // a Reshape target whose product wraps around to the number of values
    Graph g({1, 3});
    g.init("w", {2}, {1, 2});
    g.init_i64("s", {3, 6148914691236517206});
    g.node("Reshape", {"w", "s"}, {"wr"}, "r");
    g.node("Gemm", {"x", "wr"}, {"y"});
    refused(g, "y", "cannot reshape 2 values");
  }
  {  // padding of a billion cells
    Graph g({1, 1, 8, 8});
    g.init("k", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
    auto* c = g.node("Conv", {"x", "k"}, {"y"}, "conv");
    Graph::ints(c, "kernel_shape", {3, 3});
    Graph::ints(c, "pads", {1000000000, 0, 0, 0});
    refused(g, "y", "pads: 1000000000 on axis 2 is not smaller than the window (3)");
  }
}

TEST_CASE(
    "onnx import: an NHWC graph (tf2onnx's form): Transpose, Pad, Sub/Div/Mul/Add, LeakyRelu") {
  cnn::test::TempDir dir;
  Rng rng(12);
  // x [1, 6, 5, 3] NHWC -> Sub mean[c] -> Div std[c] -> Transpose to NCHW -> Pad (1, 1 | 0, 2)
  // -> Conv 3x3 -> LeakyRelu 0.2 -> Transpose to NHWC -> Mul 0.5 -> Add 0.25: the output is NHWC.
  Graph g({1, 6, 5, 3}, 13);
  const std::vector<float> mean{0.1f, -0.2f, 0.3f}, stddev{0.5f, 2.0f, 1.5f};
  g.init("mean", {3}, mean);
  g.init("std", {3}, stddev);
  g.node("Sub", {"x", "mean"}, {"centred"});
  g.node("Div", {"centred", "std"}, {"scaled"});
  Graph::ints(g.node("Transpose", {"scaled"}, {"nchw"}), "perm", {0, 3, 1, 2});
  g.init_i64("pads", {0, 0, 1, 1, 0, 0, 0, 2});
  g.node("Pad", {"nchw", "pads"}, {"padded"});
  const std::vector<float> w = random_vec(4 * 3 * 9, rng), b = random_vec(4, rng);
  g.init("W", {4, 3, 3, 3}, w);
  g.init("B", {4}, b);
  Graph::ints(g.node("Conv", {"padded", "W", "B"}, {"c"}), "kernel_shape", {3, 3});
  auto* lr = g.node("LeakyRelu", {"c"}, {"r"});
  auto* alpha = lr->add_attribute();
  alpha->set_name("alpha");
  alpha->set_type(onnx::AttributeProto_AttributeType_FLOAT);
  alpha->set_f(0.2f);
  Graph::ints(g.node("Transpose", {"r"}, {"nhwc"}), "perm", {0, 2, 3, 1});
  g.init("half", {}, {0.5f});
  g.init("quarter", {1}, {0.25f});
  g.node("Mul", {"nhwc", "half"}, {"m"});
  g.node("Add", {"m", "quarter"}, {"y"});
  const ImportedModel im = cnn::io::import_onnx(g.save(dir, "y"));
  CHECK(layer_types(im) ==
        std::vector<std::string>{"Rescaling", "Rescaling", "ZeroPadding2D", "Conv2D", "Rescaling"});
  CHECK(im.architecture["input_shape"] == cnn::json_ordered{6, 5, 3});
  Model m = cnn::io::build_imported(im, "g.onnx");
  Chw x = random_chw(3, 6, 5, rng);
  Chw xn = x;
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t i = 0; i < 30; ++i) xn.v[c * 30 + i] = (x.v[c * 30 + i] - mean[c]) / stddev[c];
  Chw r = ref_conv(xn, w, b, 4, 3, 1, 1, {1, 1, 0, 2});
  for (auto& v : r.v) v = v < 0 ? 0.2f * v : v;
  std::vector<float> want = to_nhwc(r);
  for (auto& v : want) v = v * 0.5f + 0.25f;
  CHECK(max_abs_diff(run(m, x), want) < 1e-5);

  // Gather, outside cnn-export's own preprocessing, is refused naming the node.
  Graph bad({1, 4, 4, 3}, 13);
  bad.init_i64("order", {2, 1, 0});
  auto* gather = bad.node("Gather", {"x", "order"}, {"bgr"});
  Graph::integer(gather, "axis", 3);
  Graph::ints(bad.node("Transpose", {"bgr"}, {"y"}), "perm", {0, 3, 1, 2});
  CHECK_THROWS_WITH_AS(cnn::io::import_onnx(bad.save(dir, "y", "bad.onnx")),
                       doctest::Contains("Gather is supported only"), cnn::FormatError);
}
