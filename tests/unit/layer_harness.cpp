// LayerHarness and the numerical gradient checker.
#include "layer_harness.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "layers/registry.hpp"

namespace cnn::test {

LayerHarness::LayerHarness(const json& block, std::vector<Shape> input_shapes, std::uint64_t seed)
    : in_shapes(std::move(input_shapes)), rng(seed) {
  ConfigReader cfg(block, "<test>", "", "");
  const auto type = cfg.get_string("type", std::nullopt);
  layer = make_layer(type);
  layer->set_name(cfg.get_string("name", std::string("test_layer")));
  cfg.set_layer(layer->name());
  layer->set_trainable(cfg.get_bool("trainable", true));
  layer->configure(cfg);
  cfg.finish();
  out_shape = layer->infer_shape(in_shapes);
  std::size_t total = 0;
  for (auto& p : layer->params()) total += p.size();
  values.assign(total, 0.0f);
  grads.assign(total, 0.0f);
  std::size_t off = 0;
  for (auto& p : layer->params()) {
    p.value = values.data() + off;
    p.grad = p.trainable ? grads.data() + off : nullptr;
    init_fill(p.init, p.shape, p.value, rng);
    off += p.size();
  }
  ctx.rng = &rng;
}

Param& LayerHarness::param(const std::string& name) {
  for (auto& p : layer->params())
    if (p.name == name) return p;
  FAIL("no parameter " << name);
  throw 0;
}

void LayerHarness::zero_grads() { std::fill(grads.begin(), grads.end(), 0.0f); }

Tensor LayerHarness::forward(const std::vector<Tensor>& inputs, bool training,
                             std::uint64_t rng_seed) {
  std::vector<const Tensor*> ptrs;
  for (const auto& t : inputs) ptrs.push_back(&t);
  Tensor out;
  ensure_shape(out, batch_shape(inputs.at(0).shape()[0], out_shape));
  rng.reseed(rng_seed);
  ctx.training = training;
  layer->forward(ctx, ptrs, out);
  return out;
}

std::vector<Tensor> LayerHarness::backward(const std::vector<Tensor>& inputs, const Tensor& out,
                                           const Tensor& grad_out, bool training,
                                           std::uint64_t rng_seed) {
  std::vector<const Tensor*> ptrs;
  std::vector<Tensor> gin(inputs.size());
  std::vector<Tensor*> gptrs;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ptrs.push_back(&inputs[i]);
    ensure_shape(gin[i], shape_of(inputs[i]));
    std::fill(gin[i].begin(), gin[i].end(), 0.0f);
    gptrs.push_back(&gin[i]);
  }
  rng.reseed(rng_seed);
  ctx.training = training;
  layer->backward(ctx, ptrs, out, grad_out, gptrs);
  return gin;
}

void check_accumulation(LayerHarness& h, const std::vector<Tensor>& inputs, bool training) {
  const Tensor y = h.forward(inputs, training);
  Rng rng(5);
  const Tensor dy = random_tensor(shape_of(y), rng);
  std::vector<const Tensor*> in;
  std::vector<Tensor> gin(inputs.size());
  std::vector<Tensor*> gptr;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    in.push_back(&inputs[i]);
    ensure_shape(gin[i], shape_of(inputs[i]));
    std::fill(gin[i].begin(), gin[i].end(), 0.0f);
    gptr.push_back(&gin[i]);
  }
  h.zero_grads();
  h.layer->backward(h.ctx, in, y, dy, gptr);
  const std::vector<Tensor> once = gin;
  const std::vector<float> params_once = h.grads;
  h.layer->backward(h.ctx, in, y, dy, gptr);

  bool nonzero = false;
  for (std::size_t t = 0; t < gin.size(); ++t)
    for (std::size_t i = 0; i < gin[t].size(); ++i) {
      nonzero = nonzero || once[t].data()[i] != 0.0f;
      REQUIRE_MESSAGE(gin[t].data()[i] == 2.0f * once[t].data()[i],
                      "input " << t << "[" << i << "]");
    }
  for (std::size_t i = 0; i < h.grads.size(); ++i) {
    nonzero = nonzero || params_once[i] != 0.0f;
    REQUIRE_MESSAGE(h.grads[i] == 2.0f * params_once[i], "parameter gradient [" << i << "]");
  }
  CHECK(nonzero);
}

Tensor random_tensor(const Shape& shape, Rng& rng, float lo, float hi) {
  Tensor t;
  ensure_shape(t, shape);
  for (auto& v : t) v = rng.uniform(lo, hi);
  return t;
}

namespace {

// L = sum(r * y) in double.
double loss_of(const Tensor& y, const Tensor& r) {
  double l = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) l += static_cast<double>(r.data()[i]) * y.data()[i];
  return l;
}

// Indices to check: all of them when few, else max_coords distinct random ones.
std::vector<std::size_t> pick(std::size_t n, std::size_t max_coords, Rng& rng) {
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  if (n <= max_coords) return idx;
  for (std::size_t i = 0; i < max_coords; ++i) std::swap(idx[i], idx[i + rng.below(n - i)]);
  idx.resize(max_coords);
  return idx;
}

}  // namespace

std::size_t check_gradients(LayerHarness& h, std::vector<Tensor> inputs,
                            const GradCheckOptions& opt) {
  Rng pick_rng(opt.seed);
  const Tensor y = h.forward(inputs, opt.training);
  const Tensor r = random_tensor(shape_of(y), pick_rng);
  h.zero_grads();
  const auto gin = h.backward(inputs, y, r, opt.training);
  const std::vector<float> pgrad = h.grads;

  std::size_t compared = 0;
  // Central difference of L with respect to *x (the forward is re-run with x perturbed).
  auto numeric = [&](float* x, double step) {
    const float saved = *x;
    *x = static_cast<float>(saved + step);
    const double lp = loss_of(h.forward(inputs, opt.training), r);
    *x = static_cast<float>(saved - step);
    const double lm = loss_of(h.forward(inputs, opt.training), r);
    *x = saved;
    return (lp - lm) / (2.0 * step);
  };
  auto compare = [&](const std::string& what, std::size_t i, float* x, double analytic) {
    const double n1 = numeric(x, opt.step);
    const double n2 = numeric(x, opt.step / 4);
    const double scale = std::max({1.0, std::fabs(n1), std::fabs(n2)});
    if (std::fabs(n1 - n2) > opt.kink_ratio * scale) return;  // near a kink: not comparable
    ++compared;
    const double tol = opt.tolerance * std::max({1.0, std::fabs(analytic), std::fabs(n1)});
    CHECK_MESSAGE(std::fabs(analytic - n1) <= tol,
                  what << "[" << i << "]: analytic " << analytic << " numeric " << n1);
  };
  for (std::size_t t = 0; t < inputs.size(); ++t) {
    for (auto i : pick(inputs[t].size(), opt.max_coords, pick_rng))
      compare("input " + std::to_string(t), i, inputs[t].data() + i, gin[t].data()[i]);
  }
  std::size_t off = 0;
  for (auto& p : h.layer->params()) {
    if (p.trainable && h.layer->trainable()) {
      for (auto i : pick(p.size(), opt.max_coords, pick_rng))
        compare(p.name, i, p.value + i, pgrad[off + i]);
    }
    off += p.size();
  }
  return compared;
}

namespace {
std::vector<ConformanceCase>& conformance_registry() {
  static std::vector<ConformanceCase> cases;
  return cases;
}
}  // namespace

bool add_conformance_case(ConformanceCase c) {
  conformance_registry().push_back(std::move(c));
  return true;
}

bool add_conformance_case(const std::string& block, std::vector<Shape> inputs, bool training) {
  return add_conformance_case({json::parse(block), std::move(inputs), training});
}

const std::vector<ConformanceCase>& conformance_cases() { return conformance_registry(); }

}  // namespace cnn::test
