// Filter visualisation by gradient ascent in input space (the lecture's "visualizing convnet
// filters"): from a seeded grey image with noise, repeatedly step along the normalised gradient
// of the filter's mean activation, then deprocess the result into a picture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "io/image.hpp"
#include "model/model.hpp"

namespace cnn::viz {

struct AscentOptions {
  std::size_t layer = 0;             // node index of a Conv2D layer
  std::size_t first = 0, last = 16;  // filters [first, last) (clamped to the layer's filters)
  std::size_t steps = 40;
  float step_size = 1.0f;
  std::optional<std::size_t> size;  // input size s x s; default the model's input size
  float rescale = 1.0f;             // model input = pixel value * rescale
  std::uint64_t seed = 0;
  std::size_t batch = 16;  // filters optimised together (results do not depend on it)
};

struct AscentResult {
  std::vector<std::size_t> filters;
  std::vector<io::Image> images;               // deprocessed, s x s x c (c = the input's)
  std::vector<std::vector<double>> objective;  // per filter: mean activation before each step
                                               // and after the last (steps + 1 values)
};

// The model truncated at the layer: that layer and the layers it depends on, with input
// size x size (when given) and the same weights. Layers after it (Flatten, Dense, which fix
// the size) are dropped.
Model truncate_at(Model& model, std::size_t layer, std::optional<std::size_t> size);

// For each filter f: pixels p = 128 + 20 u (u uniform in [0, 1), per pixel and channel, from an
// Rng seeded with seed + f); `steps` times: the objective L = mean over (y, x) of the layer's
// output channel f for input p * rescale, its gradient g = dL/dp (Model::backward_from), and
// p += step_size * g / (sqrt(mean(g^2)) + 1e-5). Then deprocess(p).
// Throws ConfigError when the layer is not Conv2D or the range is empty.
AscentResult gradient_ascent(Model& model, const AscentOptions& options);

// The lecture's deprocess_image on one image (h x w x c floats): x -= mean; x /= (std + 1e-5);
// x *= 0.1; x += 0.5; clip to [0, 1]; x *= 255; truncated to bytes (numpy's astype('uint8')).
io::Image deprocess(const std::vector<float>& x, std::size_t h, std::size_t w, std::size_t c);

}  // namespace cnn::viz
