// Shape checks and config conversions shared by the spatial layers.
#include "layers/spatial_common.hpp"

#include <algorithm>

namespace cnn::detail {

std::string image_shape_problem(const std::vector<Shape>& inputs) {
  if (inputs.size() != 1) return "expected one input, got " + std::to_string(inputs.size());
  const Shape& s = inputs[0];
  if (s.size() != 3 || std::find(s.begin(), s.end(), std::size_t{0}) != s.end())
    return "expected an input of shape (height, width, channels) with every dimension >= 1, "
           "got " +
           shape_str(s);
  return {};
}

std::string batch_problem(const Tensor& t, const Shape& sample, const std::string& what) {
  const Shape s = shape_of(t);
  if (s.size() == sample.size() + 1 && std::equal(sample.begin(), sample.end(), s.begin() + 1))
    return {};
  return what + " has shape " + shape_str(s) + ", expected " + shape_str(sample, true);
}

std::string pair_str(const Pair& p) { return std::to_string(p[0]) + "x" + std::to_string(p[1]); }

Pair read_pair(ConfigReader& cfg, const std::string& key, std::optional<Pair> def, long min) {
  std::optional<std::array<long, 2>> d;
  if (def) d = std::array<long, 2>{static_cast<long>((*def)[0]), static_cast<long>((*def)[1])};
  const auto v = cfg.get_pair(key, d, min);
  return {static_cast<std::size_t>(v[0]), static_cast<std::size_t>(v[1])};
}

json_ordered pair_json(const Pair& p) { return json_ordered::array({p[0], p[1]}); }

}  // namespace cnn::detail
