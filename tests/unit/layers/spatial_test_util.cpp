// Shared helpers of the spatial layer tests.
#include "layers/spatial_test_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "layers/registry.hpp"

namespace cnn::test {

json_ordered written_config(const json& block) {
  ConfigReader cfg(block, "<test>", "", "round_trip");
  const auto type = cfg.get_string("type", std::nullopt);
  auto layer = make_layer(type);
  layer->configure(cfg);
  cfg.finish();
  json_ordered out;
  out["type"] = type;
  layer->write_config(out);
  return out;
}

json_ordered check_round_trip(const json& block) {
  const json_ordered first = written_config(block);
  const json_ordered second = written_config(json::parse(first.dump()));
  CHECK(first.dump() == second.dump());
  return first;
}

namespace {
template <class E>
std::string error_of(json block, const std::vector<Shape>& input_shapes) {
  json named = block;
  named.emplace("name", "bad_layer");
  try {
    LayerHarness h(named, input_shapes);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("wrong exception type: " << e.what());
    return {};
  }
  FAIL_CHECK("no exception for " << block.dump());
  return {};
}
}  // namespace

std::string config_error(json block, const std::vector<Shape>& input_shapes) {
  return error_of<ConfigError>(std::move(block), input_shapes);
}

std::string shape_error(json block, const std::vector<Shape>& input_shapes) {
  return error_of<ShapeError>(std::move(block), input_shapes);
}

bool contains_all(const std::string& text, const std::vector<std::string>& parts) {
  bool ok = true;
  for (const auto& p : parts) {
    if (text.find(p) == std::string::npos) {
      FAIL_CHECK("message \"" << text << "\" lacks \"" << p << "\"");
      ok = false;
    }
  }
  return ok;
}

Tensor distinct_tensor(const Shape& shape, Rng& rng, float gap) {
  Tensor t;
  ensure_shape(t, shape);
  const std::size_t n = t.size();
  for (std::size_t i = 0; i < n; ++i)
    t.data()[i] = gap * (static_cast<float>(i) - static_cast<float>(n) / 2.0f);
  for (std::size_t i = n; i > 1; --i) std::swap(t.data()[i - 1], t.data()[rng.below(i)]);
  return t;
}

Tensor make_tensor(const Shape& shape, const std::vector<float>& values) {
  Tensor t;
  ensure_shape(t, shape);
  REQUIRE(t.size() == values.size());
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

}  // namespace cnn::test
