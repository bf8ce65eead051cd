// The registry-wide conformance test: every registered layer type, on the cases its own test
// file names (CNN_CONFORMANCE_CASE), keeps the layer contract (layers/layer.hpp): the type name
// round-trips through the registry, writing and reading its config is the identity (alone and in
// a model file), the output has the inferred shape, inference treats samples independently,
// backward adds, the gradients match numerical ones, a frozen layer gets no parameter
// gradients, and a layer that zeroes its input gradient itself (Context::grad_in_unzeroed)
// gives what zeroing first gives. Adding a layer needs no change here.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "model/model.hpp"
#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

namespace {

std::string label(const ConformanceCase& c) {
  std::string in;
  for (const Shape& s : c.inputs) in += shape_str(s);
  return c.block.dump() + " on " + in + (c.training ? " (training)" : "");
}

std::vector<Tensor> random_inputs(const ConformanceCase& c, std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Tensor> x;
  for (const Shape& s : c.inputs) x.push_back(random_tensor(batch_shape(n, s), rng));
  return x;
}

// Sample i of a batch, as a batch of one.
Tensor sample(const Tensor& batch, std::size_t i) {
  Shape s = shape_of(batch);
  const std::size_t per = batch.size() / s[0];
  s[0] = 1;
  Tensor t;
  ensure_shape(t, s);
  std::copy_n(batch.data() + i * per, per, t.data());
  return t;
}

void check_config_round_trip(const ConformanceCase& c) {
  // The layer alone: configure -> write_config -> configure -> write_config.
  check_round_trip(c.block);
  // In a model file, for a layer on the model input: from_json -> to_json -> from_json.
  if (c.inputs.size() != 1) return;
  json arch = {
      {"name", "conformance"}, {"input_shape", c.inputs[0]}, {"layers", json::array({c.block})}};
  const json_ordered first = Model::from_json(arch, "<test>").to_json();
  const json_ordered second = Model::from_json(json::parse(first.dump()), "<test>").to_json();
  CHECK(first.dump() == second.dump());
}

void check_forward(const ConformanceCase& c) {
  LayerHarness h(c.block, c.inputs);
  const std::vector<Tensor> x = random_inputs(c, 3, 21);
  const Tensor y = h.forward(x, c.training);
  CHECK(shape_of(y) == batch_shape(3, h.out_shape));
  CHECK(std::all_of(y.begin(), y.end(), [](float v) { return std::isfinite(v); }));
  if (c.training) return;  // dropout masks and batch statistics depend on the batch
  // Inference is per sample: each sample alone gives what it gave in the batch.
  for (std::size_t i = 0; i < 3; ++i) {
    std::vector<Tensor> one;
    for (const Tensor& t : x) one.push_back(sample(t, i));
    const Tensor yi = h.forward(one, false);
    const Tensor expect = sample(y, i);
    for (std::size_t k = 0; k < yi.size(); ++k)
      REQUIRE_MESSAGE(std::fabs(yi.data()[k] - expect.data()[k]) <=
                          1e-5f * std::max(1.0f, std::fabs(expect.data()[k])),
                      "sample " << i << " value " << k << ": alone " << yi.data()[k]
                                << ", in the batch " << expect.data()[k]);
  }
}

void check_frozen(const ConformanceCase& c) {
  json block = c.block;
  block["trainable"] = false;
  LayerHarness h(block, c.inputs);
  const std::vector<Tensor> x = random_inputs(c, 2, 23);
  const Tensor y = h.forward(x, c.training);
  Rng rng(24);
  h.zero_grads();
  h.backward(x, y, random_tensor(shape_of(y), rng), c.training);
  CHECK(std::all_of(h.grads.begin(), h.grads.end(), [](float g) { return g == 0.0f; }));
}

// Context::grad_in_unzeroed: the layer is the first to write the input gradient and zeroes it
// itself; what was in the buffer before must not show.
void check_unzeroed_input_gradient(const ConformanceCase& c) {
  LayerHarness h(c.block, c.inputs);
  if (!h.layer->zeroes_grad_input()) return;
  REQUIRE(c.inputs.size() == 1);
  const std::vector<Tensor> x = random_inputs(c, 2, 25);
  const Tensor y = h.forward(x, c.training);
  Rng rng(26);
  const Tensor dy = random_tensor(shape_of(y), rng);
  h.zero_grads();
  const Tensor zeroed = h.backward(x, y, dy, c.training).at(0);
  Tensor garbage;
  ensure_shape(garbage, shape_of(x[0]));
  std::fill(garbage.begin(), garbage.end(), 1e30f);
  const Tensor* in[] = {&x[0]};
  Tensor* gin[] = {&garbage};
  h.ctx.grad_in_unzeroed = true;
  h.layer->backward(h.ctx, in, y, dy, gin);
  h.ctx.grad_in_unzeroed = false;
  for (std::size_t k = 0; k < garbage.size(); ++k)
    REQUIRE_MESSAGE(garbage.data()[k] == zeroed.data()[k], "input gradient value " << k);
}

}  // namespace

TEST_CASE("every registered layer type has a conformance case") {
  std::map<std::string, std::size_t> cases;
  for (const ConformanceCase& c : conformance_cases())
    ++cases[c.block.at("type").get<std::string>()];
  for (const std::string& type : layer_types())
    CHECK_MESSAGE(cases[type] > 0, "no CNN_CONFORMANCE_CASE names "
                                       << type
                                       << ": add one to its test file (tests/unit/layers/)");
  CHECK(conformance_cases().size() >= layer_types().size());
}

TEST_CASE("every layer keeps the layer contract") {
  for (const ConformanceCase& c : conformance_cases()) {
    CAPTURE(label(c));
    const std::string type = c.block.at("type").get<std::string>();
    REQUIRE(is_layer_type(type));
    CHECK(make_layer(type)->type() == type);
    check_config_round_trip(c);
    check_forward(c);
    {
      LayerHarness h(c.block, c.inputs);
      check_accumulation(h, random_inputs(c, 2, 22), c.training);
    }
    {
      LayerHarness h(c.block, c.inputs);
      GradCheckOptions opt = c.grad;
      opt.training = c.training;
      CHECK(check_gradients(h, random_inputs(c, 2, 27), opt) > 0);
    }
    check_frozen(c);
    check_unzeroed_input_gradient(c);
  }
}
