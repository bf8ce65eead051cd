// Helpers shared by the spatial layers (Conv2D, pooling, ZeroPadding2D): image-shape checks that
// return the problem text (the layer throws it through Layer::shape_error, which adds its name)
// and small config conversions.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "layers/layer.hpp"

namespace cnn::detail {

using Pair = std::array<std::size_t, 2>;

// Empty when inputs is exactly one per-sample shape [h, w, c] with every dimension >= 1; else
// the problem, e.g. "expected one input of shape (height, width, channels), got (784,)".
std::string image_shape_problem(const std::vector<Shape>& inputs);

// Empty when t has shape [n, ...sample] for some n; else "<what> has shape X, expected
// (n, ...sample)". Forward and backward check their tensors with it before touching memory.
std::string batch_problem(const Tensor& t, const Shape& sample, const std::string& what);

// "3x3".
std::string pair_str(const Pair& p);

// ConfigReader::get_pair as sizes (the reader has checked the minimum, so values are >= 0).
Pair read_pair(ConfigReader& cfg, const std::string& key, std::optional<Pair> def, long min);

// [a, b] as JSON.
json_ordered pair_json(const Pair& p);

}  // namespace cnn::detail
