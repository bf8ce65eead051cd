// Shape helpers of the tensor module.
#include "tensor/tensor.hpp"

namespace cnn {

std::size_t numel(const Shape& s) {
  std::size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::optional<std::size_t> checked_numel(const Shape& s, std::size_t limit) {
  std::size_t n = 1;
  for (auto d : s) {
    if (d != 0 && n > limit / d) return std::nullopt;  // n * d > limit, without overflowing
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& s, bool with_batch) {
  std::string out = "(";
  bool first = true;
  if (with_batch) {
    out += "None";
    first = false;
  }
  for (auto d : s) {
    if (!first) out += ", ";
    out += std::to_string(d);
    first = false;
  }
  if (s.size() + (with_batch ? 1 : 0) == 1) out += ",";
  return out + ")";
}

Shape batch_shape(std::size_t n, const Shape& sample) {
  Shape s{n};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

Shape shape_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end()); }

void ensure_shape(Tensor& t, const Shape& shape) {
  if (t.dimension() == shape.size() && std::equal(shape.begin(), shape.end(), t.shape().begin()))
    return;
  t.resize(shape);
}

}  // namespace cnn
