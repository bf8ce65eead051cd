// Model: building from JSON (names, inputs, shapes, errors), parameter counts of the lecture's
// models, JSON round trip, freezing, and a numerical gradient check through a branching DAG.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "io/architecture.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/im2col.hpp"
#include "kernels/threading.hpp"
#include "kernels/winograd.hpp"
#include "layer_harness.hpp"
#include "layers/conv2d.hpp"
#include "model/model.hpp"

using namespace cnn;

namespace {

std::string config(const std::string& name) {
  return std::string(CNN_SOURCE_DIR) + "/configs/models/" + name + ".json";
}

// The error message of building `text` as a model, or "" when it builds.
std::string build_error(const std::string& text) {
  try {
    io::parse_model(text, "bad.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// An output-only forward of x (the planned buffer) gives the same bits as one that keeps every
// output.
void require_planned_equals_kept(Model& m, Rng& rng, const Tensor& x) {
  Context plain{false, &rng};
  Context lean{false, &rng};
  lean.output_only = true;
  const Tensor want = m.forward(plain, x);
  const Tensor& got = m.forward(lean, x);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got.data()[i] == want.data()[i]);
}

}  // namespace

TEST_CASE("the lecture's models have Keras's parameter counts") {
  const std::pair<const char*, std::size_t> expected[] = {
      {"mnist_convnet_base", 55744}, {"mnist_convnet", 93322},       {"mnist_convnet_gap", 56394},
      {"cats_dogs", 3453121},        {"cats_dogs_dropout", 3453121}, {"vgg16_notop", 14714688}};
  for (const auto& entry : expected) {
    const char* name = entry.first;  // named, not bound: CHECK_MESSAGE's lambda captures it
    const std::size_t count = entry.second;
    const Model m = io::load_model(config(name));
    CHECK_MESSAGE(m.param_count() == count, name);
    CHECK(m.trainable_param_count() == count);
  }
  const Model r = io::load_model(config("resnet_small"));
  CHECK(r.output_shape() == Shape{10});
  CHECK(r.param_count() > r.trainable_param_count());  // BatchNormalization moving statistics
  const Model inc = io::load_model(config("inception_small"));
  CHECK(inc.output_shape() == Shape{10});
  CHECK(inc.node(*inc.find("reduce_concat")).out_shape == Shape{13, 13, 176});
}

TEST_CASE("layers get Keras default names and output shapes") {
  const Model m = io::load_model(config("mnist_convnet"));
  const char* names[] = {"conv2d",   "max_pooling2d", "conv2d_1", "max_pooling2d_1",
                         "conv2d_2", "flatten",       "dense",    "dense_1"};
  REQUIRE(m.size() == 8);
  for (std::size_t i = 0; i < 8; ++i) CHECK(m.node(i).layer->name() == names[i]);
  CHECK(m.node(0).out_shape == Shape{26, 26, 32});
  CHECK(m.node(4).out_shape == Shape{3, 3, 64});
  CHECK(m.node(5).out_shape == Shape{576});
  CHECK(m.is_sequential());
  CHECK(keras_snake_case("GlobalAveragePooling2D") == "global_average_pooling2d");
  CHECK(keras_snake_case("BatchNormalization") == "batch_normalization");
  CHECK(keras_snake_case("ZeroPadding2D") == "zero_padding2d");
}

TEST_CASE("architecture JSON round-trips") {
  for (const char* name : {"mnist_convnet", "resnet_small", "inception_small", "vgg16_notop"}) {
    const Model a = io::load_model(config(name));
    const std::string once = a.to_json().dump();
    const Model b = Model::from_json(json::parse(once), "again.json");
    CHECK_MESSAGE(b.to_json().dump() == once, name);
    CHECK(b.param_count() == a.param_count());
  }
}

TEST_CASE("malformed architectures get one sentence naming file, layer and field") {
  const std::string head = R"({"name": "m", "input_shape": [8, 8, 1], "layers": [)";
  auto arch = [&](const std::string& layers) { return head + layers + "]}"; };

  auto e = build_error("{\"name\": \"m\",\n  \"layers\": [}");
  CHECK(contains(e, "bad.json:2:"));
  CHECK(contains(e, "not valid JSON"));

  e = build_error(arch(R"({"type": "Conv2d", "filters": 4, "kernel_size": 3})"));
  CHECK(contains(e, "bad.json: /layers/0/type: unknown layer type 'Conv2d'"));
  CHECK(contains(e, "did you mean 'Conv2D'?"));

  e = build_error(arch(R"({"type": "Conv2D", "filters": 4, "kernel_size": 3, "stride": 2})"));
  CHECK(contains(e, "layer 'conv2d'"));
  CHECK(contains(e, "/layers/0/stride: unknown field"));

  e = build_error(arch(R"({"type": "Dense", "units": 2}, {"type": "Conv2D", "kernel_size": 3})"));
  CHECK(contains(e, "layer 'conv2d'"));
  CHECK(contains(e, "/layers/1/filters: missing required field"));

  e = build_error(arch(R"({"type": "Conv2D", "filters": -4, "kernel_size": 3})"));
  CHECK(contains(e, "/layers/0/filters"));
  CHECK(contains(e, "got -4"));

  e = build_error(arch(R"({"type": "Conv2D", "filters": 4, "kernel_size": 5},
                          {"type": "Conv2D", "filters": 4, "kernel_size": 5})"));
  CHECK(contains(e, "bad.json: layer 'conv2d_1': /layers/1:"));

  e = build_error(arch(R"({"type": "Conv2D", "filters": 4, "kernel_size": 3, "name": "a"},
                          {"type": "Conv2D", "filters": 8, "kernel_size": 3, "name": "b", "inputs": "input_1"},
                          {"type": "Add", "inputs": ["a", "b"]})"));
  CHECK(contains(e, "layer 'add'"));
  CHECK(contains(e, "/layers/2"));

  e = build_error(arch(R"({"type": "Conv2D", "filters": 4, "kernel_size": 3, "name": "a"},
                          {"type": "Add", "inputs": ["a", "nope"]})"));
  CHECK(contains(e, "layer 'add': /layers/1/inputs: no layer named 'nope'"));

  e = build_error(
      arch(R"({"type": "Conv2D", "filters": 4, "kernel_size": 1, "name": "a", "inputs": "c"},
                          {"type": "Conv2D", "filters": 4, "kernel_size": 1, "name": "b"},
                          {"type": "Conv2D", "filters": 4, "kernel_size": 1, "name": "c"})"));
  CHECK(contains(e, "cycle"));
  CHECK(contains(e, "/inputs"));

  e = build_error(
      arch(R"({"type": "Flatten", "name": "x"}, {"type": "Dense", "units": 2, "name": "x"})"));
  CHECK(contains(e, "duplicate layer name 'x'"));

  e = build_error(arch(
      R"({"type": "Flatten", "name": "x"}, {"type": "Flatten", "name": "y", "inputs": "input_1"})"));
  CHECK(contains(e, "layer 'x'"));
  CHECK(contains(e, "never used"));

  e = build_error(R"({"name": "m", "layers": [{"type": "Flatten"}]})");
  CHECK(contains(e, "/input_shape: missing required field"));
}

TEST_CASE("frozen layers are non-trainable and get no gradients") {
  Model m = io::load_model(config("mnist_convnet"));
  m.set_trainable(0, false);
  CHECK(m.trainable_param_count() == 93322 - 320);
  Rng rng(1);
  m.init_params(rng);
  Tensor x = test::random_tensor({2, 28, 28, 1}, rng);
  Context ctx{true, &rng};
  const Tensor& y = m.forward(ctx, x);
  Tensor g = test::random_tensor(shape_of(y), rng);
  m.zero_grads();
  m.backward(ctx, x, g);
  const float* g0 = m.grads();
  for (std::size_t i = 0; i < 320; ++i) REQUIRE(g0[i] == 0.0f);
  double other = 0;
  for (std::size_t i = 320; i < m.arena_size(); ++i) other += std::fabs(g0[i]);
  CHECK(other > 0);
}

TEST_CASE("a max pooling applies the relu before it in backward: the same bits as the relu's") {
  // p1 (disjoint windows), p2 (overlapping, padded) and the global max each take the gradient
  // of a relu convolution they alone read, and give it before its relu (Context::relu_grad_in);
  // a2 is read by its pooling and by the Add, so its relu runs itself. backward_from (for
  // grad_of) keeps every relu's own backward: the same parameter and input gradients, bitwise.
  const std::string text = R"({"name": "relu_pool", "input_shape": [12, 13, 3], "layers": [
    {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu", "name": "c1"},
    {"type": "MaxPooling2D", "pool_size": 2, "name": "p1"},
    {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu", "name": "c2"},
    {"type": "MaxPooling2D", "pool_size": 3, "strides": 2, "padding": "same", "name": "p2"},
    {"type": "Conv2D", "filters": 16, "kernel_size": 1, "activation": "relu", "name": "a2"},
    {"type": "MaxPooling2D", "pool_size": 1, "name": "pa", "inputs": "a2"},
    {"type": "Add", "name": "sum", "inputs": ["pa", "a2"]},
    {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu", "name": "c3", "inputs": "sum"},
    {"type": "GlobalMaxPooling2D", "name": "gmp"},
    {"type": "Dense", "units": 3, "activation": "softmax"}]})";
  Model m = io::parse_model(text, "relu_pool.json");
  Rng rng(3);
  m.init_params(rng);
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    kernels::set_num_threads(threads);
    Tensor x = test::random_tensor({3, 12, 13, 3}, rng);
    Context ctx{true, &rng};
    const Tensor y = m.forward(ctx, x);
    const Tensor g = test::random_tensor(shape_of(y), rng);
    Tensor a, b;
    m.zero_grads();
    m.backward(ctx, x, g, &a);
    const std::vector<float> grads(m.grads(), m.grads() + m.arena_size());
    m.zero_grads();
    m.backward_from(ctx, x, m.size() - 1, g, &b);
    REQUIRE(a.size() == b.size());
    REQUIRE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    REQUIRE(std::memcmp(grads.data(), m.grads(), grads.size() * sizeof(float)) == 0);
    // Every relu cut cells, and every convolution's kernel got a gradient.
    for (std::size_t i : {0, 2, 4, 7}) {
      CAPTURE(m.layer(i).name());
      const Tensor& out = m.output_of(i);
      CHECK(std::count(out.begin(), out.end(), 0.0f) > 0);
      const Param& kernel = m.layer(i).params()[0];
      double sum = 0;
      for (std::size_t k = 0; k < kernel.size(); ++k) sum += std::fabs(kernel.grad[k]);
      CHECK(sum > 0);
    }
  }
  kernels::set_num_threads(0);
}

TEST_CASE("a branching DAG (Add, Concatenate) passes a numerical gradient check") {
  const std::string text = R"({"name": "dag", "input_shape": [7, 5, 2], "layers": [
    {"type": "Conv2D", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "tanh", "name": "a"},
    {"type": "Conv2D", "filters": 3, "kernel_size": 1, "name": "b", "inputs": "input_1"},
    {"type": "Add", "name": "sum", "inputs": ["a", "b"]},
    {"type": "Conv2D", "filters": 2, "kernel_size": [1, 3], "padding": "same", "name": "c", "inputs": "sum"},
    {"type": "Concatenate", "name": "cat", "inputs": ["sum", "c", "a"]},
    {"type": "AveragePooling2D", "pool_size": 2, "padding": "same"},
    {"type": "Flatten"},
    {"type": "Dense", "units": 4, "activation": "softmax"}]})";
  Model m = io::parse_model(text, "dag.json");
  CHECK_FALSE(m.is_sequential());
  Rng rng(2);
  m.init_params(rng);
  Tensor x = test::random_tensor({2, 7, 5, 2}, rng);
  Context ctx{true, &rng};
  const Tensor y = m.forward(ctx, x);
  const Tensor r = test::random_tensor(shape_of(y), rng);
  m.zero_grads();
  Tensor gx;
  m.backward(ctx, x, r, &gx);
  const std::vector<float> grads(m.grads(), m.grads() + m.arena_size());

  auto loss = [&] {
    const Tensor& out = m.forward(ctx, x);
    double l = 0;
    for (std::size_t i = 0; i < out.size(); ++i) l += double(out.data()[i]) * r.data()[i];
    return l;
  };
  auto check = [&](float* v, double analytic) {
    const float saved = *v;
    *v = saved + 1e-2f;
    const double lp = loss();
    *v = saved - 1e-2f;
    const double lm = loss();
    *v = saved;
    const double num = (lp - lm) / 2e-2;
    CHECK(std::fabs(num - analytic) <= 1e-3 * std::max({1.0, std::fabs(num), std::fabs(analytic)}));
  };
  for (std::size_t i = 0; i < m.arena_size(); i += 3) check(m.values() + i, grads[i]);
  for (std::size_t i = 0; i < x.size(); i += 2) check(x.data() + i, gx.data()[i]);
}

TEST_CASE("declared preprocessing: forward, input gradient, round trip and errors") {
  // A 1x1 linear conv with identity weights exposes the preprocessed input.
  const std::string text = R"({"name": "pre", "input_shape": [2, 2, 3],
    "preprocessing": {"rescale": 0.5, "mean": [1, 2, 3], "std": [2, 4, 8], "channel_order": "bgr",
                      "interpolation": "bilinear"},
    "layers": [{"type": "Conv2D", "filters": 3, "kernel_size": 1, "use_bias": false, "name": "id"}]})";
  Model m = io::parse_model(text, "pre.json");
  REQUIRE(m.preprocessing());
  CHECK(m.preprocessing()->interpolation == "bilinear");
  auto named = m.named_params();
  REQUIRE(named.size() == 1);
  std::fill(named[0].param->value, named[0].param->value + 9, 0.0f);
  for (int k = 0; k < 3; ++k) named[0].param->value[k * 3 + k] = 1.0f;
  Rng rng(1);
  Tensor x = test::random_tensor({1, 2, 2, 3}, rng);
  for (auto& v : x) v = std::round((v + 1) * 100);  // pixel-like values
  Context ctx{false, &rng};
  const Tensor y = m.forward(ctx, x);
  const float mean[3] = {1, 2, 3}, sd[3] = {2, 4, 8};
  for (std::size_t p = 0; p < 4; ++p)
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(y.data()[p * 3 + c] ==
            doctest::Approx((x.data()[p * 3 + (2 - c)] * 0.5 - mean[c]) / sd[c]));
  // dL/dp for L = sum(r * y): r[c] * rescale / std[c] at the swapped channel.
  Tensor r = test::random_tensor({1, 2, 2, 3}, rng);
  Context train{true, &rng};
  m.forward(train, x);
  m.zero_grads();
  Tensor gx;
  m.backward(train, x, r, &gx);
  for (std::size_t p = 0; p < 4; ++p)
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(gx.data()[p * 3 + (2 - c)] == doctest::Approx(r.data()[p * 3 + c] * 0.5 / sd[c]));
  // Round trip keeps it.
  Model again = Model::from_json(json::parse(m.to_json().dump()), "again.json");
  REQUIRE(again.preprocessing());
  CHECK(again.preprocessing()->bgr);
  CHECK(again.preprocessing()->std == std::vector<float>{2, 4, 8});
  // Errors name the field.
  const auto with = [](const std::string& pre) {
    return R"({"input_shape": [2, 2, 3], "preprocessing": )" + pre +
           R"(, "layers": [{"type": "Flatten"}]})";
  };
  CHECK(contains(build_error(with(R"({"mean": [1, 2]})")), "/preprocessing/mean"));
  CHECK(contains(build_error(with(R"({"std": [1, 0, 1]})")), "positive"));
  CHECK(contains(build_error(with(R"({"scale": 2})")), "scale"));
  CHECK(contains(build_error(with(R"({"channel_order": "grb"})")), "channel_order"));
  CHECK(
      contains(build_error(R"({"input_shape": [2, 2, 1], "preprocessing": {"channel_order": "bgr"},
                               "layers": [{"type": "Flatten"}]})"),
               "needs 3 input channels"));
  CHECK(build_error(with(R"({"mean": [0.5]})")).empty());
}

TEST_CASE(
    "inference with Context::output_only gives exactly the unfused outputs and keeps the last") {
  // Thin convolutions (k = 9, 27) followed by max pooling, 'same' average pooling with a
  // ragged edge, and global average pooling; a second, wide convolution is not fused.
  const std::string text = R"({"input_shape": [15, 13, 3], "layers": [
      {"type": "Conv2D", "filters": 17, "kernel_size": 3, "activation": "relu", "name": "c1"},
      {"type": "MaxPooling2D", "pool_size": 2, "name": "p1"},
      {"type": "Conv2D", "filters": 20, "kernel_size": 3, "padding": "same", "name": "c2"},
      {"type": "AveragePooling2D", "pool_size": 3, "strides": 2, "padding": "same", "name": "p2"},
      {"type": "Conv2D", "filters": 5, "kernel_size": 1, "activation": "tanh", "name": "c3"},
      {"type": "GlobalAveragePooling2D", "name": "gap"},
      {"type": "Dense", "units": 4, "name": "out"}]})";
  Model m = io::parse_model(text, "fuse.json");
  Rng rng(5);
  m.init_params(rng);
  for (std::size_t n : {1, 7}) {
    CAPTURE(n);
    Tensor x = test::random_tensor({n, 15, 13, 3}, rng);
    Context plain{false, &rng};
    const Tensor want = m.forward(plain, x);
    const Tensor c1 = m.output_of(0);
    Context fused{false, &rng};
    fused.output_only = true;
    const Tensor got = m.forward(fused, x);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got.data()[i] == want.data()[i]);
    // c1 (k = 27) and c3 (k = 20) ran fused; c2 (k = 153) did not.
    CHECK_THROWS_WITH_AS(m.output_of(0), doctest::Contains("'c1' was not kept"), Error);
    CHECK_THROWS_AS(m.output_of(4), Error);
    CHECK_THROWS_WITH_AS(m.output_of(2), doctest::Contains("kept the model's output alone"), Error);
    CHECK(m.output_of(6).size() == n * 4);
    // Backward needs every output.
    Tensor g = test::random_tensor(shape_of(got), rng);
    CHECK_THROWS_AS(m.backward(fused, x, g), Error);
    // Training forwards never fuse.
    Context train{true, &rng};
    train.output_only = true;
    m.forward(train, x);
    CHECK(m.output_of(0).size() == c1.size());
  }
}

TEST_CASE("a float thin Conv2D fused with its pooling runs in bands of rows: the unfused output") {
  // 150x131 images, 64 filters: 33 KB per convolution row, so the fused layer pools its rows
  // in several bands. Overlapping windows in ceil mode (rows shared by two bands), windows
  // that tile, windows with gaps between them, and a padded pooling (one band, the whole
  // sample), each against the same model run unfused.
  for (const char* pool :
       {R"("type": "MaxPooling2D", "pool_size": 3, "strides": 2, "ceil_mode": true)",
        R"("type": "MaxPooling2D", "pool_size": 2)",
        R"("type": "AveragePooling2D", "pool_size": 2, "strides": 3)",
        R"("type": "AveragePooling2D", "pool_size": 3, "strides": 2, "padding": "same")"}) {
    CAPTURE(pool);
    const std::string text = std::string(R"({"input_shape": [150, 131, 3], "layers": [
        {"type": "Conv2D", "filters": 64, "kernel_size": 3, "activation": "relu", "name": "c1",
         "bias_initializer": "glorot_uniform"},
        {"name": "p1", )") + pool +
                             R"(}]})";
    Model m = io::parse_model(text, "bands.json");
    Rng rng(8);
    m.init_params(rng);
    REQUIRE(m.fusable(0));
    for (std::size_t n : {3, 1}) {
      CAPTURE(n);
      const Tensor x = test::random_tensor({n, 150, 131, 3}, rng);
      Context plain{false, &rng};
      const Tensor want = m.forward(plain, x);
      Context fused{false, &rng};
      fused.output_only = true;
      const Tensor got = m.forward(fused, x);
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got.data()[i] == want.data()[i]);
    }
  }
}

TEST_CASE("planned inference memory: outputs share places only when their steps do not overlap") {
  // A residual block and an inception block: outputs read far later than they are written.
  const std::string text = R"({"input_shape": [12, 12, 3], "layers": [
      {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "name": "stem"},
      {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu",
       "name": "r1"},
      {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "name": "r2"},
      {"type": "Add", "inputs": ["stem", "r2"], "name": "add"},
      {"type": "BatchNormalization", "name": "bn"},
      {"type": "Conv2D", "filters": 4, "kernel_size": 1, "inputs": "bn", "name": "b1"},
      {"type": "Conv2D", "filters": 6, "kernel_size": 3, "padding": "same", "inputs": "bn",
       "name": "b3"},
      {"type": "MaxPooling2D", "pool_size": 3, "strides": 1, "padding": "same", "inputs": "bn",
       "name": "bp"},
      {"type": "Concatenate", "inputs": ["b1", "b3", "bp"], "name": "cat"},
      {"type": "MaxPooling2D", "pool_size": 2, "name": "pool"},
      {"type": "Flatten", "name": "flat"},
      {"type": "Dense", "units": 5, "activation": "softmax", "name": "out"}]})";
  Model m = io::parse_model(text, "plan.json");
  Rng rng(11);
  m.init_params(rng);

  const Model::MemoryPlan plan = m.plan_inference_memory(4);
  REQUIRE(plan.outputs.size() == m.size());
  // No two outputs alive at one step overlap in memory, and every place is in the buffer; the
  // Flatten shares the pooling's place.
  REQUIRE(m.node(10).layer->name() == "flat");
  CHECK(plan.outputs[10].alias_of == std::optional<std::size_t>(9));
  CHECK(plan.outputs[10].offset == plan.outputs[9].offset);
  CHECK(plan.outputs[9].last == 11);
  for (std::size_t a = 0; a < m.size(); ++a) {
    const auto& p = plan.outputs[a];
    CHECK(p.offset + p.bytes <= plan.buffer_bytes);
    CHECK(p.bytes == 4 * numel(m.node(a).out_shape) * sizeof(float));
    for (std::size_t b = a + 1; b < m.size(); ++b) {
      const auto& q = plan.outputs[b];
      if (p.alias_of || q.alias_of) continue;
      if (p.first <= q.last && q.first <= p.last)
        CHECK((p.offset + p.bytes <= q.offset || q.offset + q.bytes <= p.offset));
    }
  }
  // stem is read by add (step 3), bn by the three branches, the output to the end.
  CHECK(plan.outputs[0].last == 3);
  CHECK(plan.outputs[4].last == 7);
  CHECK(plan.outputs.back().last == m.size());
  CHECK(plan.live_peak_bytes <= plan.buffer_bytes);
  CHECK(plan.buffer_bytes < plan.kept_bytes);

  // The same bits as a forward that keeps everything, over changes of batch size and with
  // training steps in between (which take every output back to memory of its own).
  Context plain{false, &rng};
  Context lean{false, &rng};
  lean.output_only = true;
  Context train{true, &rng};
  for (std::size_t n : {4, 1, 4, 7}) {
    CAPTURE(n);
    const Tensor x = test::random_tensor({n, 12, 12, 3}, rng);
    const Tensor want = m.forward(plain, x);
    const Tensor stem = m.output_of(0);
    const Tensor got = m.forward(lean, x);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got.data()[i] == want.data()[i]);
    // A second planned forward on other data reuses the places and is still exact.
    const Tensor x2 = test::random_tensor({n, 12, 12, 3}, rng);
    const Tensor want2 = Tensor(m.forward(plain, x2));
    const Tensor got2 = m.forward(lean, x2);
    for (std::size_t i = 0; i < got2.size(); ++i) REQUIRE(got2.data()[i] == want2.data()[i]);
    CHECK_THROWS_AS(m.output_of(0), Error);
    Tensor g = test::random_tensor(shape_of(got2), rng);
    CHECK_THROWS_WITH_AS(m.backward(lean, x2, g), doctest::Contains("Context::output_only"), Error);
    // A training step after it: every output of its own again, backward runs.
    m.zero_grads();
    m.forward(train, x);
    CHECK(m.output_of(0).size() == stem.size());
    m.backward(train, x, g);
    for (std::size_t i = 0; i < stem.size(); ++i)
      REQUIRE(m.output_of(0).data()[i] == stem.data()[i]);
  }
  // A model with a plan replaced by another (move assignment releases the outputs and the
  // buffer in the order opposite to destruction; AddressSanitizer checks it), and moved.
  const Tensor x = test::random_tensor({3, 12, 12, 3}, rng);
  m.forward(lean, x);
  m = io::parse_model(text, "plan.json");
  m.init_params(rng);
  const Tensor want = m.forward(plain, x);
  m.forward(lean, x);
  Model moved = std::move(m);
  const Tensor& got = moved.forward(lean, x);
  for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got.data()[i] == want.data()[i]);
}

TEST_CASE("planned inference: a Concatenate of convolutions is assembled in place, bitwise") {
  // Four branches, each a convolution path that writes its rows strided: a thin product (1x1 on
  // 8 channels: k = 8), a GEMM (3x3 on 8 channels: k = 72) with a sigmoid applied row by row,
  // Winograd (3x3 on 16 channels, 24 filters) and a 2x2 GEMM with softmax. A second
  // Concatenate has a part that another layer reads too, a third the same part twice: those
  // copy.
  const std::string text = R"({"input_shape": [8, 8, 8], "layers": [
      {"type": "Conv2D", "filters": 16, "kernel_size": 1, "name": "stem", "activation": "relu"},
      {"type": "Conv2D", "filters": 5, "kernel_size": 1, "inputs": "stem", "name": "thin",
       "activation": "relu"},
      {"type": "Conv2D", "filters": 7, "kernel_size": 3, "padding": "same", "inputs": "stem",
       "name": "gemm", "activation": "sigmoid"},
      {"type": "Conv2D", "filters": 24, "kernel_size": 3, "padding": "same", "inputs": "stem",
       "name": "wino", "activation": "relu"},
      {"type": "Conv2D", "filters": 3, "kernel_size": 2, "padding": "same", "inputs": "stem",
       "name": "soft", "activation": "softmax"},
      {"type": "Concatenate", "inputs": ["thin", "gemm", "wino", "soft"], "name": "cat"},
      {"type": "Conv2D", "filters": 6, "kernel_size": 1, "name": "a"},
      {"type": "Conv2D", "filters": 6, "kernel_size": 1, "inputs": "cat", "name": "b"},
      {"type": "Concatenate", "inputs": ["a", "b"], "name": "cat2"},
      {"type": "Add", "inputs": ["cat2", "cat2"], "name": "twice"},
      {"type": "Conv2D", "filters": 6, "kernel_size": 1, "inputs": "b", "name": "c"},
      {"type": "Concatenate", "inputs": ["c", "c"], "name": "cat3"},
      {"type": "Concatenate", "inputs": ["twice", "cat3"], "name": "cat4"},
      {"type": "GlobalAveragePooling2D", "name": "gap"}]})";
  Model m = io::parse_model(text, "cat.json");
  Rng rng(12);
  m.init_params(rng);
  const std::size_t cat = 5, cat2 = 8, cat3 = 11, cat4 = 12;
  REQUIRE(m.node(cat).layer->name() == "cat");
  CHECK(m.concat_in_place(cat));
  CHECK_FALSE(m.concat_in_place(cat2));  // b is read by c too
  CHECK_FALSE(m.concat_in_place(cat3));  // c twice
  CHECK_FALSE(m.concat_in_place(cat4));  // twice is an Add, cat3 a Concatenate
  CHECK_FALSE(m.concat_in_place(0));
  if (Conv2D::winograd_enabled())
    CHECK(dynamic_cast<const Conv2D&>(*m.node(3).layer).uses_winograd());

  const Model::MemoryPlan plan = m.plan_inference_memory(3);
  const auto& whole = plan.outputs[cat];
  CHECK(whole.assembled);
  CHECK(whole.first == 1);  // from the first part's step
  std::size_t channel = 0;
  for (std::size_t p = 1; p <= 4; ++p) {
    const auto& part = plan.outputs[p];
    REQUIRE(part.part_of == std::optional<std::size_t>(cat));
    CHECK(part.ldy == 5 + 7 + 24 + 3);
    CHECK(part.offset == whole.offset + channel * sizeof(float));
    channel += m.node(p).out_shape.back();
  }
  CHECK_FALSE(plan.outputs[6].part_of);
  CHECK_FALSE(plan.outputs[cat2].assembled);
  // No two places alive at one step overlap, parts apart from their Concatenate.
  for (std::size_t a = 0; a < m.size(); ++a)
    for (std::size_t b = a + 1; b < m.size(); ++b) {
      const auto& p = plan.outputs[a];
      const auto& q = plan.outputs[b];
      if (p.part_of || q.part_of) continue;
      if (p.first <= q.last && q.first <= p.last)
        CHECK((p.offset + p.bytes <= q.offset || q.offset + q.bytes <= p.offset));
    }

  // The same bits as a forward that keeps everything (its Concatenates copy), for several batch
  // sizes; a planned forward keeps neither the parts nor the Concatenate.
  for (std::size_t n : {3, 1, 5, 3}) {
    CAPTURE(n);
    require_planned_equals_kept(m, rng, test::random_tensor({n, 8, 8, 8}, rng));
    CHECK_THROWS_AS(m.output_of(2), Error);
    CHECK_THROWS_AS(m.output_of(cat), Error);
  }
}

TEST_CASE("planned inference: a Concatenate then pooling is pooled part by part, bitwise") {
  // Thin convolutions (k <= 32: 3x3 on 3 channels, 1x1) concatenated and max-pooled 3x3 / 2 in
  // ceil mode (SqueezeNet's), and again average-pooled 2x2: each part runs with the pooling and
  // writes its channels of the pooled output. A Concatenate with a part that cannot run with
  // the pooling (a GEMM convolution), and one that another layer reads too, are pooled whole.
  const std::string text = R"({"input_shape": [9, 10, 3], "layers": [
      {"type": "Conv2D", "filters": 5, "kernel_size": 3, "padding": "same", "name": "t3",
       "activation": "relu"},
      {"type": "Conv2D", "filters": 7, "kernel_size": 1, "inputs": "input_1", "name": "t1"},
      {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "inputs": "input_1",
       "name": "t3b", "activation": "relu"},
      {"type": "Concatenate", "inputs": ["t3", "t1", "t3b"], "name": "cat"},
      {"type": "MaxPooling2D", "pool_size": 3, "strides": 2, "ceil_mode": true, "name": "pool"},
      {"type": "Conv2D", "filters": 4, "kernel_size": 1, "name": "u", "activation": "relu"},
      {"type": "Conv2D", "filters": 2, "kernel_size": 1, "inputs": "pool", "name": "v"},
      {"type": "Concatenate", "inputs": ["u", "v"], "name": "cat2"},
      {"type": "AveragePooling2D", "pool_size": 2, "name": "pool2"},
      {"type": "Conv2D", "filters": 6, "kernel_size": 3, "padding": "same", "inputs": "pool2",
       "name": "gemm"},
      {"type": "Conv2D", "filters": 3, "kernel_size": 1, "inputs": "pool2", "name": "w"},
      {"type": "Concatenate", "inputs": ["gemm", "w"], "name": "cat3"},
      {"type": "MaxPooling2D", "pool_size": 2, "padding": "same", "name": "pool3"},
      {"type": "Conv2D", "filters": 2, "kernel_size": 1, "inputs": "pool3", "name": "x"},
      {"type": "Conv2D", "filters": 2, "kernel_size": 1, "inputs": "pool3", "name": "y"},
      {"type": "Concatenate", "inputs": ["x", "y"], "name": "cat4"},
      {"type": "MaxPooling2D", "pool_size": 1, "name": "pool4"},
      {"type": "Add", "inputs": ["cat4", "pool4"], "name": "add"},
      {"type": "Flatten", "name": "flat"},
      {"type": "Dense", "units": 3, "name": "head"}]})";
  Model m = io::parse_model(text, "pooled.json");
  Rng rng(14);
  m.init_params(rng);
  const std::size_t cat = 3, pool = 4, cat2 = 7, pool2 = 8, cat3 = 11, cat4 = 15;
  REQUIRE(m.node(cat).layer->name() == "cat");
  CHECK(m.pooled_concat(cat));
  CHECK(m.pooled_concat(cat2));
  CHECK(m.concat_in_place(cat3));
  CHECK_FALSE(m.pooled_concat(cat3));  // gemm (k = 108) does not run with a pooling
  CHECK(m.concat_in_place(cat4));
  CHECK_FALSE(m.pooled_concat(cat4));  // add reads cat4 too
  CHECK_FALSE(m.pooled_concat(0));

  const Model::MemoryPlan plan = m.plan_inference_memory(3);
  for (const auto& pair : {std::pair{cat, pool}, std::pair{cat2, pool2}}) {
    const std::size_t c = pair.first, host = pair.second;
    CAPTURE(c);
    CHECK(plan.outputs[c].fused);  // never made
    CHECK(plan.outputs[c].bytes == 0);
    const auto& whole = plan.outputs[host];
    CHECK(whole.assembled);
    CHECK(whole.first == m.node(c).inputs.front());  // from the first part's step
    std::size_t channel = 0;
    for (std::size_t p : m.node(c).inputs) {
      const auto& part = plan.outputs[p];
      REQUIRE(part.pooled_with == std::optional<std::size_t>(host));
      REQUIRE(part.part_of == std::optional<std::size_t>(host));
      CHECK(part.ldy == m.node(host).out_shape.back());
      CHECK(part.offset == whole.offset + channel * sizeof(float));
      channel += m.node(p).out_shape.back();
    }
  }
  CHECK(plan.outputs[cat3].assembled);  // assembled in place, then pooled whole
  CHECK_FALSE(plan.outputs[9].pooled_with);
  // No two places alive at one step overlap, parts apart from what they are part of.
  for (std::size_t a = 0; a < m.size(); ++a)
    for (std::size_t b = a + 1; b < m.size(); ++b) {
      const auto& p = plan.outputs[a];
      const auto& q = plan.outputs[b];
      if (p.part_of || q.part_of || p.fused || q.fused || p.alias_of || q.alias_of) continue;
      CAPTURE(a);
      CAPTURE(b);
      if (p.first <= q.last && q.first <= p.last)
        CHECK((p.offset + p.bytes <= q.offset || q.offset + q.bytes <= p.offset));
    }
  for (std::size_t n : {3, 1, 5, 3}) {
    CAPTURE(n);
    require_planned_equals_kept(m, rng, test::random_tensor({n, 9, 10, 3}, rng));
  }
}

TEST_CASE("planned inference: Dropout and Flatten share their input's place, bitwise") {
  // A Dropout on the model's input copies (the input is not in the buffer); one after a
  // convolution is read by two layers and shares its place, which lives until both are done; a
  // Flatten after a Dropout shares the convolution's place too.
  const std::string text = R"({"input_shape": [6, 6, 3], "layers": [
      {"type": "Dropout", "rate": 0.5, "name": "d0"},
      {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "name": "c"},
      {"type": "Dropout", "rate": 0.3, "name": "d1"},
      {"type": "Conv2D", "filters": 4, "kernel_size": 1, "name": "e"},
      {"type": "Add", "inputs": ["d1", "e"], "name": "add"},
      {"type": "Dropout", "rate": 0.3, "inputs": "d1", "name": "d2"},
      {"type": "Flatten", "name": "flat"},
      {"type": "Dense", "units": 3, "name": "head"},
      {"type": "Flatten", "inputs": "add", "name": "flat2"},
      {"type": "Dense", "units": 3, "name": "head2"},
      {"type": "Add", "inputs": ["head", "head2"], "name": "out"}]})";
  Model m = io::parse_model(text, "alias.json");
  Rng rng(13);
  m.init_params(rng);
  CHECK_FALSE(m.aliases_input(0));
  CHECK(m.aliases_input(2));
  CHECK(m.aliases_input(5));
  CHECK(m.aliases_input(6));
  CHECK_FALSE(m.aliases_input(1));
  const Model::MemoryPlan plan = m.plan_inference_memory(2);
  CHECK_FALSE(plan.outputs[0].alias_of);
  for (std::size_t i : {2, 5, 6}) {
    CAPTURE(i);
    CHECK(plan.outputs[i].alias_of == std::optional<std::size_t>(1));
    CHECK(plan.outputs[i].offset == plan.outputs[1].offset);
  }
  CHECK(plan.outputs[1].last == 7);  // head reads flat last
  for (std::size_t n : {2, 5, 2}) {
    CAPTURE(n);
    require_planned_equals_kept(m, rng, test::random_tensor({n, 6, 6, 3}, rng));
  }
}

TEST_CASE("Winograd kernel: output-only inference of many tiles transforms it on every call") {
  if (!Conv2D::winograd_enabled()) {
    MESSAGE("SKIPPED: Winograd is off (CNN_WINOGRAD=0 or reference kernels)");
    return;
  }
  // 8x8 outputs are 4 tiles per sample: 32 samples make 128 tiles, the least that transforms on
  // every call; 31 keep the transform. The outputs are the same bits either way.
  const std::string text = R"({"name": "w", "input_shape": [8, 8, 16], "layers": [
      {"type": "Conv2D", "filters": 24, "kernel_size": 3, "padding": "same"},
      {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same"}]})";
  Model m = io::parse_model(text, "w.json");
  Rng rng(5);
  m.init_params(rng);
  const auto& conv = dynamic_cast<const Conv2D&>(std::as_const(m).layer(0));
  Context plain, lean;
  lean.output_only = true;
  for (std::size_t n : {31, 32, 31}) {
    CAPTURE(n);
    Tensor x;
    ensure_shape(x, {n, 8, 8, 16});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::cos(0.11f * float(i));
    const Tensor want = m.forward(plain, x);
    const std::uint64_t before = conv.kernel_transforms();
    const Tensor& got = m.forward(lean, x);
    REQUIRE(got.size() == want.size());
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    m.forward(lean, x);
    CHECK(conv.kernel_transforms() - before == (n >= 32 ? 2 : 0));
    CHECK(conv.derived_bytes(n) == (n >= 32 ? 0 : 36 * 16 * 24 * sizeof(float)));
    // The scratch the plan gives it: the tile blocks (whole 64-byte lines), then the kernel.
    const auto g = *kernels::conv_geometry(8, 8, 16, 3, 3, 1, 1, 1, 1, kernels::Padding::Same);
    const std::size_t tiles = (kernels::winograd_scratch_floats(g, n, 24) + 15) / 16 * 16;
    const std::size_t kernel =
        n >= 32 ? kernels::WinogradKernel::storage_floats(kernels::active_isa(), 16, 24) : 0;
    CHECK(conv.scratch_bytes(n) == (tiles + kernel) * sizeof(float));
    // The layer on its own, outside a planned model: the same bits, from memory of its own.
    Tensor y;
    ensure_shape(y, {n, 8, 8, 24});
    const Tensor* in[] = {&x};
    m.layer(0).forward(lean, in, y);
    const Tensor& first = m.forward(plain, x);  // node 0's output, kept
    (void)first;
    const Tensor& y0 = m.output_of(0);
    CHECK(std::memcmp(y.data(), y0.data(), y.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("Winograd kernel: transformed again only when the parameters' version changes") {
  if (!Conv2D::winograd_enabled()) {
    MESSAGE("SKIPPED: Winograd is off (CNN_WINOGRAD=0 or reference kernels)");
    return;
  }
  const std::string text = R"({"name": "w", "input_shape": [8, 8, 16], "layers": [
      {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same"}]})";
  Model m = io::parse_model(text, "w.json");
  Rng rng(3);
  m.init_params(rng);
  const auto& conv = dynamic_cast<const Conv2D&>(std::as_const(m).layer(0));
  Tensor x;
  ensure_shape(x, {2, 8, 8, 16});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(0.37f * float(i));
  Context ctx;
  // The output of a model built afresh with m's current parameters: the truth.
  auto fresh_output = [&] {
    Model f = io::parse_model(text, "w.json");
    std::copy(std::as_const(m).values(), std::as_const(m).values() + m.arena_size(), f.values());
    Context c;
    const Tensor& y = f.forward(c, x);
    return std::vector<float>(y.begin(), y.end());
  };
  auto output = [&] {
    const Tensor& y = m.forward(ctx, x);
    return std::vector<float>(y.begin(), y.end());
  };

  CHECK(output() == fresh_output());
  CHECK(output() == fresh_output());
  CHECK(conv.kernel_transforms() == 1);  // two forwards, one transform

  m.values()[5] += 0.5f;  // a write through the arena
  CHECK(output() == fresh_output());
  CHECK(conv.kernel_transforms() == 2);
  m.named_params()[0].param->value[7] -= 0.25f;  // through a named parameter
  CHECK(output() == fresh_output());
  CHECK(conv.kernel_transforms() == 3);
  CHECK(output() == fresh_output());
  CHECK(conv.kernel_transforms() == 3);  // reads (const values(), layer()) keep the version

  // A pointer kept across a forward: the writer says so with params_changed().
  float* kept = m.values();
  output();
  kept[9] += 1.0f;
  const char* check = std::getenv("CNN_CHECK_PARAMS_VERSION");
  if (check && std::string(check) == "1")
    CHECK_THROWS_AS(m.forward(ctx, x), Error);  // the test suite's check catches the miss
  m.params_changed();
  CHECK(output() == fresh_output());

  // A layer run on its own (no version) compares the values.
  Conv2D& own = dynamic_cast<Conv2D&>(m.layer(0));
  Context plain;
  Tensor y;
  ensure_shape(y, {2, 8, 8, 16});
  const Tensor* in[] = {&x};
  own.forward(plain, in, y);
  const std::uint64_t before = own.kernel_transforms();
  own.forward(plain, in, y);
  CHECK(own.kernel_transforms() == before);
  own.params()[0].value[11] += 1.0f;
  own.forward(plain, in, y);
  CHECK(own.kernel_transforms() == before + 1);
}
