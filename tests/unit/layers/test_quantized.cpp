// Int8 inference of Conv2D and Dense (layers/quantized.hpp): an output-only inference forward of
// a quantized model equals the quantized arithmetic written out here in double (the input
// rounded to bytes with the layer's scale and zero point, the kernel to per-channel int8), to
// float rounding; a training forward, or one that keeps every output, runs the float path on
// the same weights, bitwise; the key round-trips through the architecture JSON.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "layers/conv2d.hpp"
#include "layers/quantized.hpp"
#include "model/model.hpp"
#include "tensor/rng.hpp"

using namespace cnn;

namespace {

// The layer's arithmetic from its definition: bytes qx = clamp(round(x * (1 / s)) + z, 0, 255), the
// kernel's column j as w_scale[j] * q with w_scale = max |w| / 127, then
// y = s w_scale[j] sum (qx - z) q + bias, relu.
struct Quantized {
  float s;
  int z;
  std::uint8_t byte(float x) const {
    const double r = std::nearbyint(double(x * (1.0f / s))) + z;
    return static_cast<std::uint8_t>(std::clamp(r, 0.0, 255.0));
  }
};

void kernel_grid(const float* w, std::size_t k, std::size_t n, std::vector<int>& q,
                 std::vector<double>& scale) {
  q.assign(k * n, 0);
  scale.assign(n, 1.0);
  for (std::size_t j = 0; j < n; ++j) {
    double top = 0;
    for (std::size_t p = 0; p < k; ++p) top = std::max(top, double(std::fabs(w[p * n + j])));
    const float sc = top > 0 ? float(top) / 127.0f : 1.0f;
    scale[j] = sc;
    for (std::size_t p = 0; p < k; ++p)
      q[p * n + j] = static_cast<int>(std::nearbyint(w[p * n + j] / sc));
  }
}

// An inference pass that reads the model's output only: the int8 paths.
Context output_only() {
  Context ctx;
  ctx.training = false;
  ctx.output_only = true;
  return ctx;
}

// A batch of inputs in [-0.3, 2): below a zero point and past the relu's kink.
Tensor random_batch(Rng& rng, const Shape& shape) {
  Tensor x;
  ensure_shape(x, shape);
  for (auto& v : x) v = static_cast<float>(rng.uniform(-0.3, 2.0));
  return x;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// m's output for x with int8 switched off (CNN_INT8=0): float on the same weights.
Tensor float_output(Model& m, Context& ctx, const Tensor& x) {
  detail::set_int8(false);
  Tensor y = m.forward(ctx, x);
  detail::set_int8(true);
  return y;
}

// Architecture a with a linear Activation between each of parts and the Concatenate "cat",
// inserted just before it: the Concatenate then copies its inputs (and is pooled whole).
json parts_apart(json a, std::initializer_list<const char*> parts) {
  json& layers = a["layers"];
  for (const char* part : parts) {
    const std::string name = std::string("apart_") + part;
    const auto cat = std::find_if(layers.begin(), layers.end(),
                                  [](const json& l) { return l["name"] == "cat"; });
    for (auto& i : (*cat)["inputs"])
      if (i == part) i = name;
    layers.insert(
        cat,
        json{{"type", "Activation"}, {"name", name}, {"inputs", part}, {"activation", "linear"}});
  }
  return a;
}

// Architecture a with a linear Activation after its first layer: that layer then runs apart
// from the pooling after it.
json first_apart(json a) {
  a["layers"].insert(a["layers"].begin() + 1,
                     json{{"type", "Activation"}, {"name", "apart"}, {"activation", "linear"}});
  return a;
}

// m and apart (given m's weights here) output the same bits on random batches of samples of
// shape `sample`, batch sizes changing between passes, and m's int8 path ran.
void require_same_as_apart(Model& m, Model& apart, Rng& rng, const Shape& sample) {
  m.init_params(rng);
  std::copy(m.values(), m.values() + m.arena_size(), apart.values());
  Context ctx = output_only();
  for (std::size_t n : {4, 1, 4}) {
    CAPTURE(n);
    Shape shape{n};
    shape.insert(shape.end(), sample.begin(), sample.end());
    const Tensor x = random_batch(rng, shape);
    const Tensor c = m.forward(ctx, x);
    CHECK(same_bits(apart.forward(ctx, x), c));
    CHECK_FALSE(same_bits(float_output(m, ctx, x), c));  // the int8 path ran
  }
}

// A fire module as SqueezeNet has it, every convolution int8: squeeze 1x1, then expand 1x1 and
// 3x3 and a 3x3 sigmoid branch, concatenated ("cat", node 4) and read by another 1x1 ("next"),
// then global average pooling.
json fire_with_sigmoid() {
  return json::parse(R"({"name": "fire", "input_shape": [9, 11, 12], "layers": [
      {"type": "Conv2D", "name": "squeeze", "filters": 8, "kernel_size": 1, "activation": "relu",
       "quantization": {"input_scale": 0.01, "input_zero_point": 30}},
      {"type": "Conv2D", "name": "e1", "filters": 12, "kernel_size": 1, "activation": "relu",
       "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.02, "input_zero_point": 0}},
      {"type": "Conv2D", "name": "e3", "filters": 20, "kernel_size": 3, "padding": "same",
       "inputs": "squeeze", "activation": "relu", "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.02, "input_zero_point": 0}},
      {"type": "Conv2D", "name": "es", "filters": 5, "kernel_size": 3, "padding": "same",
       "inputs": "squeeze", "activation": "sigmoid",
       "quantization": {"input_scale": 0.02, "input_zero_point": 0}},
      {"type": "Concatenate", "name": "cat", "inputs": ["e1", "e3", "es"]},
      {"type": "Conv2D", "name": "next", "filters": 6, "kernel_size": 1, "activation": "relu",
       "quantization": {"input_scale": 0.03, "input_zero_point": 0}},
      {"type": "GlobalAveragePooling2D", "name": "gap"}]})");
}

}  // namespace

TEST_CASE(
    "int8 Conv2D and Dense: the quantized arithmetic, and float outside output-only inference") {
  // 7x7x8 -> Conv2D 3x3 'same' 16 relu (zero point 3: the padding reads the code of 0) ->
  // Flatten -> Dense 5 linear.
  const json arch = json::parse(R"({
    "name": "q", "input_shape": [7, 7, 8],
    "layers": [
      {"type": "Conv2D", "name": "conv", "filters": 16, "kernel_size": 3, "padding": "same",
       "activation": "relu", "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.01, "input_zero_point": 3}},
      {"type": "Flatten", "name": "flat"},
      {"type": "Dense", "name": "dense", "units": 5, "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.02, "input_zero_point": 0}}
    ]})");
  Model model = Model::from_json(arch, "q.json");
  Rng rng(51);
  model.init_params(rng);
  // The JSON round trip keeps the key.
  const json again = json::parse(model.to_json().dump());
  CHECK(again["layers"][0]["quantization"]["input_zero_point"] == 3);
  CHECK(again["layers"][2]["quantization"]["input_scale"].get<double>() == doctest::Approx(0.02));

  const std::size_t n = 3;
  Tensor x;
  ensure_shape(x, {n, 7, 7, 8});
  for (auto& v : x) v = static_cast<float>(rng.uniform(-0.2, 1.5));  // past the range at both ends
  std::vector<float> values(model.values(), model.values() + model.arena_size());
  const float* conv_w = values.data();              // [3, 3, 8, 16]
  const float* conv_b = conv_w + 9 * 8 * 16;        // [16]
  const float* dense_w = conv_b + 16;               // [784, 5]
  const float* dense_b = dense_w + 7 * 7 * 16 * 5;  // [5]

  // The reference, in double.
  std::vector<int> qw;
  std::vector<double> sw;
  kernel_grid(conv_w, 72, 16, qw, sw);
  const Quantized qc{0.01f, 3};
  std::vector<float> hidden(n * 7 * 7 * 16);
  for (std::size_t s = 0; s < n; ++s)
    for (int oy = 0; oy < 7; ++oy)
      for (int ox = 0; ox < 7; ++ox)
        for (std::size_t f = 0; f < 16; ++f) {
          double acc = 0;
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx)
              for (std::size_t c = 0; c < 8; ++c) {
                const int iy = oy + ky - 1, ix = ox + kx - 1;
                const int code =
                    iy < 0 || ix < 0 || iy >= 7 || ix >= 7 ? qc.z : qc.byte(x(s, iy, ix, c));
                acc += double(code - qc.z) * qw[((ky * 3 + kx) * 8 + c) * 16 + f];
              }
          const double y = double(qc.s) * sw[f] * acc + conv_b[f];
          hidden[((s * 7 + oy) * 7 + ox) * 16 + f] = static_cast<float>(std::max(y, 0.0));
        }
  kernel_grid(dense_w, 784, 5, qw, sw);
  const Quantized qd{0.02f, 0};
  std::vector<double> want(n * 5);
  for (std::size_t s = 0; s < n; ++s)
    for (std::size_t j = 0; j < 5; ++j) {
      double acc = 0;
      for (std::size_t p = 0; p < 784; ++p)
        acc += double(qd.byte(hidden[s * 784 + p]) - qd.z) * qw[p * 5 + j];
      want[s * 5 + j] = double(qd.s) * sw[j] * acc + dense_b[j];
    }

  Context ctx;
  ctx.training = false;
  ctx.output_only = true;
  const Tensor got = model.forward(ctx, x);
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  for (std::size_t i = 0; i < want.size(); ++i)
    CHECK(std::fabs(got.data()[i] - want[i]) <= 1e-4 * scale);

  // Keeping every output (cnn-visualize), or training, runs float: the same as the model
  // without the keys.
  json plain = arch;
  plain["layers"][0].erase("quantization");
  plain["layers"][2].erase("quantization");
  Model reference = Model::from_json(plain, "plain.json");
  std::copy(values.begin(), values.end(), reference.values());
  Context keep;
  const Tensor f32 = reference.forward(keep, x);
  const Tensor kept = model.forward(keep, x);
  CHECK(std::memcmp(f32.data(), kept.data(), f32.size() * sizeof(float)) == 0);
  // ... and it differs from the int8 output (the int8 path did run).
  double diff = 0;
  for (std::size_t i = 0; i < want.size(); ++i)
    diff = std::max(diff, double(std::fabs(f32.data()[i] - got.data()[i])));
  CHECK(diff > 1e-6 * scale);
  // CNN_INT8=0 (set_int8(false)) keeps float in output-only inference too.
  detail::set_int8(false);
  const Tensor off = model.forward(ctx, x);
  detail::set_int8(true);
  CHECK(std::memcmp(f32.data(), off.data(), f32.size() * sizeof(float)) == 0);
}

TEST_CASE("quantize_kernel: symmetric per column, and the stored grid quantizes back to itself") {
  Rng rng(52);
  const std::size_t k = 40, n = 6;
  std::vector<float> w(k * n);
  for (auto& v : w) v = static_cast<float>(rng.uniform(-3, 3));
  for (std::size_t p = 0; p < k; ++p) w[p * n + 5] = 0.0f;  // a column of zeros
  std::vector<std::int8_t> q(k * n), q2(k * n);
  std::vector<float> s(n), s2(n), grid(k * n);
  detail::quantize_kernel(w.data(), k, n, q.data(), s.data());
  CHECK(s[5] == 1.0f);
  for (std::size_t j = 0; j < 5; ++j) {
    int top = 0;
    for (std::size_t p = 0; p < k; ++p) top = std::max(top, std::abs(int(q[p * n + j])));
    CHECK(top == 127);
  }
  for (std::size_t i = 0; i < k * n; ++i) {
    CHECK(std::fabs(w[i] - s[i % n] * q[i]) <= 0.5f * s[i % n] * (1 + 1e-6f));
    grid[i] = s[i % n] * float(q[i]);
  }
  detail::quantize_kernel(grid.data(), k, n, q2.data(), s2.data());
  CHECK(q2 == q);
  for (std::size_t j = 0; j < n; ++j) CHECK(s2[j] == doctest::Approx(s[j]).epsilon(1e-6));
}

TEST_CASE("quantize_kernel: a NaN weight becomes 0, the rest of its column is kept") {
  std::vector<float> w{1.0f, NAN, -0.5f, 2.0f};  // [2, 2]
  std::vector<std::int8_t> q(4);
  std::vector<float> s(2);
  detail::quantize_kernel(w.data(), 2, 2, q.data(), s.data());
  CHECK(q[1] == 0);
  CHECK(q[0] == 127);
  CHECK(q[2] == -64);  // -0.5 / (1 / 127)
}

TEST_CASE("int8 Conv2D fused with the pooling after it: the unfused layers' output, bitwise") {
  // Conv2D (int8, windows read in place where the CPU has VNNI) followed by max pooling with a
  // dropped last row and column, overlapping 3x3 / stride 2 max pooling, and average pooling;
  // against the same model with a linear Activation between each Conv2D and its pooling, which
  // keeps them apart. 1x1 and dilated convolutions run by im2col (or the input itself), on
  // every ISA, and pool chunks of samples: SqueezeNet's conv10 and its global average pooling.
  struct Case {
    const char* pool;
    int stride;  // the convolution's
    int kernel = 3;
    int dilation = 1;
  };
  const Case cases[] = {{R"({"type": "MaxPooling2D", "pool_size": 2})", 1},
                        {R"({"type": "MaxPooling2D", "pool_size": 3, "strides": 2})", 1},
                        {R"({"type": "AveragePooling2D", "pool_size": 2})", 1},
                        // SqueezeNet's first layers: a stride-2 convolution, then ceil-mode
                        // windows whose last row and column pass the convolution's output.
                        {R"({"type": "MaxPooling2D", "pool_size": 3, "strides": 2,
                             "ceil_mode": true})",
                         2},
                        {R"({"type": "AveragePooling2D", "pool_size": 3, "strides": 2,
                             "ceil_mode": true})",
                         2},
                        {R"({"type": "GlobalAveragePooling2D", "keepdims": true})", 1, 1},
                        {R"({"type": "MaxPooling2D", "pool_size": 2})", 2, 1},
                        {R"({"type": "AveragePooling2D", "pool_size": 3, "strides": 2,
                             "padding": "same"})",
                         1, 3, 2}};
  for (const Case& cs : cases) {
    // Plain copies: clang does not let the lambda below capture structured bindings.
    const char* pool = cs.pool;
    const int stride = cs.stride, kernel = cs.kernel, dilation = cs.dilation;
    const bool by_im2col = kernel == 1 || dilation > 1;
    CAPTURE(pool);
    CAPTURE(kernel);
    auto arch = [&]() {
      json a = json::parse(R"({"name": "qp", "input_shape": [13, 12, 8], "layers": [
        {"type": "Conv2D", "name": "conv", "filters": 40, "kernel_size": 3, "activation": "relu",
         "bias_initializer": "glorot_uniform",
         "quantization": {"input_scale": 0.01, "input_zero_point": 20}},
        {"type": "Flatten", "name": "flat"},
        {"type": "Dense", "name": "dense", "units": 3}]})");
      a["layers"][0]["strides"] = stride;
      a["layers"][0]["kernel_size"] = kernel;
      a["layers"][0]["dilation_rate"] = dilation;
      json p = json::parse(pool);
      p["name"] = "pool";
      a["layers"].insert(a["layers"].begin() + 1, p);
      return a;
    }();
    Model fused = Model::from_json(arch, "fused.json");
    Model apart = Model::from_json(first_apart(arch), "apart.json");
    Rng rng(52);
    fused.init_params(rng);
    std::copy(fused.values(), fused.values() + fused.arena_size(), apart.values());
    const Tensor x = random_batch(rng, {5, 13, 12, 8});
    Context ctx = output_only();
    CHECK(fused.fusable(0) == (by_im2col || kernels::native_int8(kernels::active_isa())));
    CHECK_FALSE(apart.fusable(0));
    const Tensor a = apart.forward(ctx, x);
    const Tensor f = fused.forward(ctx, x);
    CHECK(same_bits(a, f));
    CHECK_FALSE(same_bits(float_output(fused, ctx, x), f));  // the int8 path ran
    // New weights (values() counts as a write: a new parameters' version): packed again.
    for (Model* m : {&fused, &apart}) {
      float* v = m->values();
      for (std::size_t i = 0; i < m->arena_size(); ++i) v[i] *= -1.5f;
    }
    Model fresh = Model::from_json(arch, "fresh.json");
    std::copy(fused.values(), fused.values() + fused.arena_size(), fresh.values());
    const Tensor a2 = apart.forward(ctx, x);
    const Tensor f2 = fused.forward(ctx, x);
    const Tensor n2 = fresh.forward(ctx, x);
    CHECK(same_bits(a2, f2));
    CHECK(same_bits(n2, f2));
    CHECK_FALSE(same_bits(f, f2));
  }
}

TEST_CASE(
    "int8 Conv2D + pooling writing the next int8 Conv2D's input quantized: bitwise the same") {
  // conv (int8) -> pool -> conv (int8, "same": padding in the next layer's layout) -> pool ->
  // conv (int8, 6 channels in: widened to 8) -> flatten -> dense; each fused convolution writes
  // the next one's input as bytes. Against the same model with the layers kept apart. On 4
  // input channels, and on 3 and 1: c1 is then a thin product (k = 27 or 9), int8 all the same
  // (on 1 channel its row taps packed, its 2x2 pooling taken in int32 as c1's always is).
  auto arch_with = [](bool apart, int channels) {
    json a = json::parse(R"({"name": "chain", "input_shape": [17, 16, )" +
                         std::to_string(channels) + R"(], "layers": [
      {"type": "Conv2D", "name": "c1", "filters": 12, "kernel_size": 3, "activation": "relu",
       "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.01, "input_zero_point": 40}},
      {"type": "MaxPooling2D", "name": "p1", "pool_size": 2},
      {"type": "Conv2D", "name": "c2", "filters": 6, "kernel_size": 3, "padding": "same",
       "activation": "relu", "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.004, "input_zero_point": 0}},
      {"type": "AveragePooling2D", "name": "p2", "pool_size": 2},
      {"type": "Conv2D", "name": "c3", "filters": 8, "kernel_size": 2, "activation": "relu",
       "quantization": {"input_scale": 0.003, "input_zero_point": 2}},
      {"type": "Flatten", "name": "flat"},
      {"type": "Dense", "name": "dense", "units": 3}]})");
    if (apart)
      for (int at : {3, 1})
        a["layers"].insert(a["layers"].begin() + at, json{{"type", "Activation"},
                                                          {"name", "apart" + std::to_string(at)},
                                                          {"activation", "linear"}});
    return a;
  };
  for (int channels : {4, 3, 1}) {
    CAPTURE(channels);
    Model chained = Model::from_json(arch_with(false, channels), "chained.json");
    Model apart = Model::from_json(arch_with(true, channels), "apart.json");
    Rng rng(53);
    chained.init_params(rng);
    std::copy(chained.values(), chained.values() + chained.arena_size(), apart.values());
    CHECK(dynamic_cast<const Conv2D&>(chained.layer(0)).thin() == (channels < 4));
    Context ctx = output_only();
    CHECK(chained.fusable(0) == kernels::native_int8(kernels::active_isa()));
    CHECK(chained.fusable(2) == kernels::native_int8(kernels::active_isa()));
    for (std::size_t n : {5, 2, 5}) {  // batch sizes change between passes
      CAPTURE(n);
      const Tensor x = random_batch(rng, {n, 17, 16, static_cast<std::size_t>(channels)});
      CHECK(same_bits(apart.forward(ctx, x), chained.forward(ctx, x)));
    }
  }
}

TEST_CASE("A float thin Conv2D + pooling writing the next int8 Conv2D's input: bitwise the same") {
  // A first layer on 3 channels (float: broadcast-FMA rows read in the input) fused with its
  // pooling writes the next int8 layer's padded input as bytes; against the same model with the
  // layers kept apart. 3x3 / 2 overlapping: 'same' pooling runs on whole samples; ceil-mode
  // pooling on 150x131 images (33 KB per convolution row) in bands of rows, the last band's
  // windows cut at the edge. 2x2 / 2 (the lecture's) pools in registers
  // (kernels::small_k_conv_pool2), a pooled row at a time, an odd last row or column dropped.
  struct Case {
    std::size_t h, w;
    const char* pool;
  };
  for (const Case& cs : {Case{19, 18, R"("pool_size": 3, "strides": 2, "padding": "same")"},
                         Case{150, 131, R"("pool_size": 3, "strides": 2, "ceil_mode": true)"},
                         Case{19, 18, R"("pool_size": 2)"}, Case{40, 31, R"("pool_size": 2)"}}) {
    CAPTURE(cs.h);
    const json arch = json::parse(R"({"name": "thin", "input_shape": [)" + std::to_string(cs.h) +
                                  ", " + std::to_string(cs.w) + R"(, 3], "layers": [
        {"type": "Conv2D", "name": "c1", "filters": 64, "kernel_size": 3, "activation": "relu",
         "bias_initializer": "glorot_uniform"},
        {"type": "MaxPooling2D", "name": "p1", )" +
                                  cs.pool + R"(},
        {"type": "Conv2D", "name": "c2", "filters": 8, "kernel_size": 3, "padding": "same",
         "activation": "relu", "quantization": {"input_scale": 0.01, "input_zero_point": 0}},
        {"type": "GlobalAveragePooling2D", "name": "gap"},
        {"type": "Dense", "name": "dense", "units": 3}]})");
    Model chained = Model::from_json(arch, "chained.json");
    Model apart = Model::from_json(first_apart(arch), "apart.json");
    Rng rng(59);
    chained.init_params(rng);
    std::copy(chained.values(), chained.values() + chained.arena_size(), apart.values());
    Context ctx = output_only();
    REQUIRE(chained.fusable(0));
    CHECK(chained.layer(0).writes_quantized_output());
    for (std::size_t n : {4, 1, 3}) {
      CAPTURE(n);
      const Tensor x = random_batch(rng, {n, cs.h, cs.w, 3});
      CHECK(same_bits(apart.forward(ctx, x), chained.forward(ctx, x)));
    }
  }
}

TEST_CASE("int8 Conv2D parts of a Concatenate assembled in place: bitwise the same as copied") {
  // A fire module as SqueezeNet has it: squeeze 1x1 (int8), then expand 1x1 and 3x3 (int8, the
  // 3x3 reading its windows in place where the CPU has VNNI), concatenated and read by another
  // int8 1x1 layer, and a sigmoid branch (applied row by row after the epilogue). Against the
  // same model with linear Activations between the parts and the Concatenate, which copies.
  const json arch = fire_with_sigmoid();
  Model assembled = Model::from_json(arch, "assembled.json");
  Model apart = Model::from_json(parts_apart(arch, {"e1", "e3", "es"}), "apart.json");
  REQUIRE(assembled.node(4).layer->name() == "cat");
  CHECK(assembled.concat_in_place(4));
  CHECK_FALSE(apart.concat_in_place(7));
  Rng rng(54);
  require_same_as_apart(assembled, apart, rng, {9, 11, 12});
}

TEST_CASE("int8 parts of a Concatenate pooled part by part: bitwise the same as pooled whole") {
  // SqueezeNet's fire3 then maxpool3: a float thin expand 1x1 (k = 8) and an int8 expand 3x3
  // (windows read in place), concatenated and max-pooled 3x3 / 2 in ceil mode, then an int8
  // 1x1. Each part runs with the pooling (the int8 one a band of rows at a time) and writes its
  // channels of the pooled output. Against the same model with linear Activations between the
  // parts and the Concatenate, which is assembled, then pooled whole.
  const json arch = json::parse(R"({"name": "fire", "input_shape": [13, 11, 12], "layers": [
      {"type": "Conv2D", "name": "squeeze", "filters": 8, "kernel_size": 1, "activation": "relu"},
      {"type": "Conv2D", "name": "e1", "filters": 12, "kernel_size": 1, "activation": "relu",
       "bias_initializer": "glorot_uniform"},
      {"type": "Conv2D", "name": "e3", "filters": 20, "kernel_size": 3, "padding": "same",
       "inputs": "squeeze", "activation": "relu", "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.02, "input_zero_point": 0}},
      {"type": "Concatenate", "name": "cat", "inputs": ["e1", "e3"]},
      {"type": "MaxPooling2D", "name": "pool", "pool_size": 3, "strides": 2, "ceil_mode": true},
      {"type": "Conv2D", "name": "next", "filters": 6, "kernel_size": 1, "activation": "relu",
       "quantization": {"input_scale": 0.03, "input_zero_point": 0}},
      {"type": "GlobalAveragePooling2D", "name": "gap"}]})");
  Model pooled = Model::from_json(arch, "pooled.json");
  Model apart = Model::from_json(parts_apart(arch, {"e1", "e3"}), "apart.json");
  REQUIRE(pooled.node(3).layer->name() == "cat");
  CHECK(pooled.pooled_concat(3) == kernels::native_int8(kernels::active_isa()));
  CHECK_FALSE(apart.pooled_concat(5));
  Rng rng(55);
  require_same_as_apart(pooled, apart, rng, {13, 11, 12});
}

TEST_CASE("an int8 1x1 part of a pooled Concatenate, and an int8 1x1 before global pooling") {
  // As SqueezeNet 1.0's fire8 then maxpool8: the expand 1x1 reads 40 channels (k = 40, not
  // thin), so it is int8 by its quantized input's matrix and pools chunks of samples, writing
  // its channels of the pooled output; then an int8 1x1 read only by global average pooling
  // (conv10's). Against the same model with the parts apart, pooled whole.
  const json arch = json::parse(R"({"name": "fire", "input_shape": [13, 11, 12], "layers": [
      {"type": "Conv2D", "name": "squeeze", "filters": 40, "kernel_size": 1, "activation": "relu"},
      {"type": "Conv2D", "name": "e1", "filters": 12, "kernel_size": 1, "activation": "relu",
       "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.02, "input_zero_point": 0}},
      {"type": "Conv2D", "name": "e3", "filters": 20, "kernel_size": 3, "padding": "same",
       "inputs": "squeeze", "activation": "relu", "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.02, "input_zero_point": 0}},
      {"type": "Concatenate", "name": "cat", "inputs": ["e1", "e3"]},
      {"type": "MaxPooling2D", "name": "pool", "pool_size": 3, "strides": 2, "ceil_mode": true},
      {"type": "Conv2D", "name": "next", "filters": 6, "kernel_size": 1, "activation": "relu",
       "bias_initializer": "glorot_uniform",
       "quantization": {"input_scale": 0.03, "input_zero_point": 0}},
      {"type": "GlobalAveragePooling2D", "name": "gap"}]})");
  json spread = parts_apart(arch, {"e1", "e3"});
  spread["layers"].insert(
      spread["layers"].end() - 1,
      json{{"type", "Activation"}, {"name", "apart_next"}, {"activation", "linear"}});
  Model pooled = Model::from_json(arch, "pooled.json");
  Model apart = Model::from_json(spread, "apart.json");
  REQUIRE(pooled.node(3).layer->name() == "cat");
  CHECK(pooled.pooled_concat(3) == kernels::native_int8(kernels::active_isa()));
  CHECK(pooled.fusable(5));  // next + gap: on every ISA
  CHECK_FALSE(apart.pooled_concat(5));
  CHECK_FALSE(apart.fusable(7));
  Rng rng(56);
  require_same_as_apart(pooled, apart, rng, {13, 11, 12});
}

TEST_CASE("Concatenate parts multiplied part by part into a float 1x1: the copied model's output") {
  // SqueezeNet's fire2 then fire3's squeeze: a float thin expand 1x1 (k = 8) and an int8 expand
  // 3x3 (windows read in place), concatenated and read by a 1x1 convolution kept in float. Each
  // part adds the product of its channels, made a band of rows at a time, into the 1x1's output
  // (the Concatenate is never made), each sum continued from part to part in the GEMM's order:
  // the same bits. A part with a sigmoid (applied to the band after the epilogue); and the
  // parts in the Concatenate reversed, so that they would run against the channels' order:
  // then nothing is multiplied part by part.
  for (const bool reversed : {false, true}) {
    CAPTURE(reversed);
    // The squeeze, the expand 1x1 (thin: k = 8) and next in float.
    json arch = fire_with_sigmoid();
    for (std::size_t i : {0, 1, 5}) arch["layers"][i].erase("quantization");
    arch["layers"][5]["bias_initializer"] = "glorot_uniform";
    if (reversed) arch["layers"][4]["inputs"] = json::array({"es", "e3", "e1"});
    Model fused = Model::from_json(arch, "fused.json");
    Model apart = Model::from_json(parts_apart(arch, {"e1", "e3", "es"}), "apart.json");
    REQUIRE(fused.node(4).layer->name() == "cat");
    const bool vnni = kernels::native_int8(kernels::active_isa());
    CHECK(fused.product_concat(4) == (vnni && !reversed));
    CHECK_FALSE(apart.product_concat(7));
    Rng rng(57);
    fused.init_params(rng);
    std::copy(fused.values(), fused.values() + fused.arena_size(), apart.values());
    Context ctx = output_only();
    for (std::size_t n : {4, 1, 3}) {
      CAPTURE(n);
      const Tensor x = random_batch(rng, {n, 9, 11, 12});
      const Tensor got = fused.forward(ctx, x), want = apart.forward(ctx, x);
      CHECK(same_bits(want, got));
      CHECK_FALSE(same_bits(float_output(fused, ctx, x), got));  // the int8 path ran
      // In float (int8 off) nothing is multiplied part by part: the same bits as apart.
      detail::set_int8(false);
      CHECK_FALSE(fused.product_concat(4));
      CHECK(same_bits(fused.forward(ctx, x), apart.forward(ctx, x)));
      detail::set_int8(true);
    }
  }
}
