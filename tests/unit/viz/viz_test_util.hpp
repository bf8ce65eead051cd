// Tiny models with weights set by hand, for the visualisation tests.
#pragma once

#include <string>
#include <vector>

#include "model/model.hpp"

namespace cnn::test {

// Builds a model from architecture JSON text.
inline Model model_from(const std::string& text) {
  return Model::from_json(json::parse(text), "test.json");
}

// Sets parameter "<layer>.<param>" to values (sizes must match).
inline void set_param(Model& m, const std::string& name, const std::vector<float>& values) {
  for (auto& p : m.named_params())
    if (p.name == name) {
      REQUIRE(p.param->size() == values.size());
      std::copy(values.begin(), values.end(), p.param->value);
      return;
    }
  FAIL("no parameter " << name);
}

inline Tensor tensor(const Shape& shape, const std::vector<float>& values) {
  Tensor t;
  ensure_shape(t, shape);
  REQUIRE(t.size() == values.size());
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

}  // namespace cnn::test
