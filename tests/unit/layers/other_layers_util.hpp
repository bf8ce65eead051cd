// Shared checks for the layer tests (STYLE.md §8): JSON round trip, exact gradient
// accumulation, parameter counts and exception messages.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "layer_harness.hpp"
#include "layers/registry.hpp"

namespace cnn::test {

// A layer made and configured from a block {"type": ..., keys...}, as a model would.
inline std::unique_ptr<Layer> configured(const json& block, const std::string& name = "layer") {
  ConfigReader cfg(block, "<test>", "", name);
  auto layer = make_layer(cfg.get_string("type", std::nullopt));
  layer->set_name(name);
  layer->configure(cfg);
  cfg.finish();
  return layer;
}

// The block a configured layer writes back: {"type": ..., its keys...}.
inline json_ordered written(const Layer& layer) {
  json_ordered out;
  out["type"] = layer.type();
  layer.write_config(out);
  return out;
}

// configure -> write_config -> configure -> write_config must give the same text. Returns the
// first written block so tests can check that defaults were written.
inline json_ordered check_round_trip(const json& block) {
  const json_ordered first = written(*configured(block));
  const json_ordered second = written(*configured(json::parse(first.dump())));
  CHECK(first.dump() == second.dump());
  return first;
}

// (all parameters, non-trainable ones) after shape inference; no arenas are allocated.
inline std::pair<std::size_t, std::size_t> count_params(const json& block,
                                                        const std::vector<Shape>& inputs) {
  auto layer = configured(block);
  layer->infer_shape(inputs);
  std::size_t frozen = 0;
  for (const auto& p : layer->params())
    if (!p.trainable) frozen += p.size();
  return {layer->param_count(), frozen};
}

// The message of the E that f throws; fails the test when f throws nothing.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected an exception");
  return {};
}

// Whether text contains every one of parts (for pinning error messages).
inline bool contains_all(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& p : parts)
    if (text.find(p) == std::string::npos) return false;
  return true;
}

}  // namespace cnn::test
