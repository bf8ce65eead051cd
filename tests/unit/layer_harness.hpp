// Test support: runs one layer outside a model (own parameter arenas, own RNG) and checks its
// backward pass against central-difference numerical gradients (STYLE.md §8.1).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "layers/layer.hpp"

namespace cnn::test {

// A layer configured from a JSON block {"type": ..., ...keys}, shapes inferred, parameters bound
// to owned arenas and initialised from the layer's initialisers with `seed`.
struct LayerHarness {
  LayerHarness(const json& block, std::vector<Shape> input_shapes, std::uint64_t seed = 1);

  std::unique_ptr<Layer> layer;
  std::vector<Shape> in_shapes;
  Shape out_shape;
  std::vector<float> values, grads;  // the parameter and gradient arenas
  Rng rng;
  Context ctx;

  Param& param(const std::string& name);
  void zero_grads();
  // Forward on a batch; ctx.rng is reseeded with rng_seed first so stochastic layers repeat.
  Tensor forward(const std::vector<Tensor>& inputs, bool training, std::uint64_t rng_seed = 7);
  // Backward after forward(inputs, training); returns the input gradients (zero + backward's
  // additions). Parameter gradients accumulate in `grads`.
  std::vector<Tensor> backward(const std::vector<Tensor>& inputs, const Tensor& out,
                               const Tensor& grad_out, bool training, std::uint64_t rng_seed = 7);
};

// Two backward calls without zeroing in between must give exactly twice one call, for every
// input gradient and every parameter gradient (backward adds; STYLE.md §8.2), and something
// must be non-zero.
void check_accumulation(LayerHarness& h, const std::vector<Tensor>& inputs, bool training);

// A tensor of the given full shape with uniform values in [lo, hi).
Tensor random_tensor(const Shape& shape, Rng& rng, float lo = -1.0f, float hi = 1.0f);

struct GradCheckOptions {
  double step = 1e-2;           // central-difference step (caffe's float setting)
  double tolerance = 1e-3;      // relative: |a - n| <= tol * max(1, |a|, |n|)
  std::size_t max_coords = 64;  // coordinates checked per tensor (all if smaller)
  bool training = false;
  std::uint64_t seed = 11;
  // Skip a coordinate whose numerical derivative differs between a step of `step` and of
  // `step / 4` by more than this fraction: it sits near a kink (ReLU at 0, a max-pool tie).
  double kink_ratio = 0.05;
};

// Checks dL/d(input) for every input and dL/d(param) for every trainable parameter, where
// L = sum(r * y) with r fixed random; reports each mismatch through doctest. Returns the number
// of coordinates compared (so tests can assert something was checked).
std::size_t check_gradients(LayerHarness& h, std::vector<Tensor> inputs,
                            const GradCheckOptions& opt = {});

// One configuration of a layer type for the registry-wide conformance test
// (layers/test_conformance.cpp), which runs the checks every layer owes the contract on it. Each
// layer's own test file names its cases with CNN_CONFORMANCE_CASE; the conformance test fails
// for a registered type that has none, so a new layer cannot skip them.
struct ConformanceCase {
  json block;                  // {"type": ..., keys...}, as in an architecture file
  std::vector<Shape> inputs;   // per-sample input shapes
  bool training = false;       // forward and backward in training mode
  GradCheckOptions grad = {};  // for the numerical gradient check (training is set from above)
};
bool add_conformance_case(ConformanceCase c);
// The same from the block's JSON text.
bool add_conformance_case(const std::string& block, std::vector<Shape> inputs,
                          bool training = false);
const std::vector<ConformanceCase>& conformance_cases();

}  // namespace cnn::test

#define CNN_CONFORMANCE_CAT2(a, b) a##b
#define CNN_CONFORMANCE_CAT(a, b) CNN_CONFORMANCE_CAT2(a, b)
// CNN_CONFORMANCE_CASE(R"({"type": ...})", {input shapes}[, training]): a case, registered at
// start-up.
#define CNN_CONFORMANCE_CASE(...)                                                      \
  [[maybe_unused]] static const bool CNN_CONFORMANCE_CAT(cnn_conformance_, __LINE__) = \
      ::cnn::test::add_conformance_case(__VA_ARGS__)
