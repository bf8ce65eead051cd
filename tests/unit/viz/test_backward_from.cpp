// Model::backward_from and grad_of (added for the visualisations): equal to backward() at the
// last layer, and a central-difference check of d(mean of one channel of an inner layer)/dx.
#include <doctest/doctest.h>

#include <cmath>

#include "tensor/rng.hpp"
#include "viz_test_util.hpp"

using namespace cnn;
using cnn::test::model_from;

namespace {

const char* kArch = R"({"name": "m", "input_shape": [7, 7, 2], "layers": [
  {"type": "Conv2D", "filters": 3, "kernel_size": [3, 3], "activation": "tanh"},
  {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3], "activation": "tanh"},
  {"type": "Flatten"},
  {"type": "Dense", "units": 2}]})";

Tensor random_input(Rng& rng, std::size_t n, const Shape& s) {
  Tensor x;
  ensure_shape(x, batch_shape(n, s));
  for (auto& v : x) v = rng.uniform(-1, 1);
  return x;
}

}  // namespace

TEST_CASE("viz: backward_from at the last layer equals backward") {
  Model m = model_from(kArch);
  Rng rng(5);
  m.init_params(rng);
  const Tensor x = random_input(rng, 2, m.input_shape());
  Context ctx;
  const Tensor& y = m.forward(ctx, x);
  Tensor g = y;
  for (auto& v : g) v = rng.uniform(-1, 1);
  Tensor a, b;
  m.zero_grads();
  m.backward(ctx, x, g, &a);
  std::vector<float> grads_a(m.grads(), m.grads() + m.arena_size());
  m.zero_grads();
  m.backward_from(ctx, x, m.size() - 1, g, &b);
  REQUIRE(shape_of(a) == shape_of(b));
  for (std::size_t i = 0; i < a.size(); ++i)
    CHECK(a.data()[i] == doctest::Approx(b.data()[i]).epsilon(1e-6));
  for (std::size_t i = 0; i < m.arena_size(); ++i)
    CHECK(m.grads()[i] == doctest::Approx(grads_a[i]).epsilon(1e-6));
  CHECK(shape_of(m.grad_of(1)) == shape_of(m.output_of(1)));
}

TEST_CASE("viz: backward_from an inner layer gives d(mean of a channel)/dx") {
  Model m = model_from(kArch);
  Rng rng(11);
  m.init_params(rng);
  for (std::size_t i = 0; i < m.size(); ++i) m.set_trainable(i, false);
  const Tensor x0 = random_input(rng, 1, m.input_shape());
  Context ctx;
  const std::size_t layer = 1, channel = 2;
  auto objective = [&](const Tensor& x) {
    m.forward(ctx, x);
    const Tensor& a = m.output_of(layer);
    double s = 0;
    const std::size_t c = a.shape()[3], hw = a.size() / c;
    for (std::size_t p = 0; p < hw; ++p) s += a.data()[p * c + channel];
    return s / static_cast<double>(hw);
  };
  objective(x0);
  Tensor g;
  ensure_shape(g, shape_of(m.output_of(layer)));
  std::fill(g.begin(), g.end(), 0.0f);
  const std::size_t c = g.shape()[3], hw = g.size() / c;
  for (std::size_t p = 0; p < hw; ++p) g.data()[p * c + channel] = 1.0f / static_cast<float>(hw);
  Tensor dx;
  m.backward_from(ctx, x0, layer, g, &dx);
  CHECK_THROWS_AS(m.grad_of(3), Error);  // after `layer`: not computed
  const Tensor& g0 = m.grad_of(0);
  CHECK(shape_of(g0) == shape_of(m.output_of(0)));
  for (std::size_t i = 0; i < x0.size(); ++i) {
    Tensor xp = x0, xm = x0;
    xp.data()[i] += 1e-2f;
    xm.data()[i] -= 1e-2f;
    const double numeric = (objective(xp) - objective(xm)) / 2e-2;
    CHECK(dx.data()[i] == doctest::Approx(numeric).epsilon(1e-3).scale(1.0));
  }
  // A gradient of the wrong shape is refused, naming the layer.
  Tensor wrong;
  ensure_shape(wrong, {1, 2});
  CHECK_THROWS_AS(m.backward_from(ctx, x0, layer, wrong), ShapeError);
}
