// Activation kernels: known values and derivatives against central differences.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/activation.hpp"
#include "tensor/error.hpp"
#include "tensor/rng.hpp"

using namespace cnn::kernels;

TEST_CASE("activations give known values") {
  std::vector<float> x{-1.0f, 0.5f, 2.0f};
  auto f = [&](Act a) {
    auto y = x;
    act_forward(a, y.data(), 1, 3);
    return y;
  };
  CHECK(f(Act::Relu) == std::vector<float>{0.0f, 0.5f, 2.0f});
  CHECK(f(Act::LeakyRelu)[0] == doctest::Approx(-0.2f));
  CHECK(f(Act::Sigmoid)[2] == doctest::Approx(1.0 / (1.0 + std::exp(-2.0))));
  CHECK(f(Act::Elu)[0] == doctest::Approx(std::exp(-1.0) - 1.0));
  const auto s = f(Act::Softmax);
  const double z = std::exp(-1.0) + std::exp(0.5) + std::exp(2.0);
  CHECK(s[1] == doctest::Approx(std::exp(0.5) / z));
  CHECK(s[0] + s[1] + s[2] == doctest::Approx(1.0));
  std::vector<float> big{1000.0f, 0.0f};
  act_forward(Act::Softmax, big.data(), 1, 2);
  CHECK(big[0] == doctest::Approx(1.0));
  CHECK_THROWS_AS(act_from_name("rleu"), cnn::Error);
  CHECK(act_from_name("leaky_relu") == Act::LeakyRelu);
}

TEST_CASE("activation derivatives match central differences") {
  cnn::Rng rng(5);
  const std::size_t rows = 3, cols = 5;
  for (const auto& name : act_names()) {
    const Act a = act_from_name(name);
    std::vector<float> z(rows * cols), r(rows * cols);
    for (auto& v : z) {
      do v = rng.uniform(-2, 2);
      while (std::fabs(v) < 0.05f);  // away from the kink at 0
    }
    for (auto& v : r) v = rng.uniform(-1, 1);
    auto loss = [&](const std::vector<float>& zz) {
      auto y = zz;
      act_forward(a, y.data(), rows, cols);
      double l = 0;
      for (std::size_t i = 0; i < y.size(); ++i) l += double(y[i]) * r[i];
      return l;
    };
    auto y = z;
    act_forward(a, y.data(), rows, cols);
    std::vector<float> dz(z.size());
    act_backward(a, y.data(), r.data(), dz.data(), rows, cols);
    for (std::size_t i = 0; i < z.size(); ++i) {
      auto zp = z, zm = z;
      zp[i] += 1e-2f;
      zm[i] -= 1e-2f;
      const double num = (loss(zp) - loss(zm)) / 2e-2;
      CHECK_MESSAGE(std::fabs(num - dz[i]) <= 1e-3 * std::max(1.0, std::fabs(num)),
                    name << "[" << i << "] analytic " << dz[i] << " numeric " << num);
    }
  }
}
