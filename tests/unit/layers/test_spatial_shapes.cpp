// Output shapes of the lecture's convnets, layer by layer, through the registry (Keras's
// model.summary() numbers).
#include <doctest/doctest.h>

#include "layers/spatial_test_util.hpp"

using namespace cnn;
using namespace cnn::test;

namespace {

// Infers shapes through a chain of layer blocks; returns every output shape.
std::vector<Shape> chain(const std::vector<json>& blocks, Shape in) {
  std::vector<Shape> out;
  for (const auto& b : blocks) {
    LayerHarness h(b, {in});
    in = h.out_shape;
    out.push_back(in);
  }
  return out;
}

json conv(int filters) {
  return {{"type", "Conv2D"}, {"filters", filters}, {"kernel_size", 3}, {"activation", "relu"}};
}
const json pool = {{"type", "MaxPooling2D"}, {"pool_size", 2}};

}  // namespace

TEST_CASE("MNIST convnet shapes: 28x28x1 -> 26 -> 13 -> 11 -> 5 -> 3") {
  const auto s = chain({conv(32), pool, conv(64), pool, conv(64)}, {28, 28, 1});
  CHECK(s == std::vector<Shape>{{26, 26, 32}, {13, 13, 32}, {11, 11, 64}, {5, 5, 64}, {3, 3, 64}});
}

TEST_CASE("cats-and-dogs convnet shapes: 150x150x3 -> 148, 74, 72, 36, 34, 17, 15, 7") {
  const auto s =
      chain({conv(32), pool, conv(64), pool, conv(128), pool, conv(128), pool}, {150, 150, 3});
  CHECK(s == std::vector<Shape>{{148, 148, 32},
                                {74, 74, 32},
                                {72, 72, 64},
                                {36, 36, 64},
                                {34, 34, 128},
                                {17, 17, 128},
                                {15, 15, 128},
                                {7, 7, 128}});
}
