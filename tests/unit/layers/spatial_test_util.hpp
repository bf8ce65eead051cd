// Test helpers shared by the spatial layer tests: config round trips, captured error messages,
// tie-free inputs and the accumulation check (STYLE.md §8 items 2, 5, 6).
#pragma once

#include <string>
#include <vector>

#include "layer_harness.hpp"

namespace cnn::test {

// The layer's written config (with "type") after configuring it from block.
json_ordered written_config(const json& block);

// configure -> write_config -> configure -> write_config; checks both writes are identical and
// returns the first.
json_ordered check_round_trip(const json& block);

// The what() of the ConfigError that building block on input_shapes throws ("" + a failed check
// when it throws nothing or something else). The harness names the layer "bad_layer".
std::string config_error(json block, const std::vector<Shape>& input_shapes);
// The same for a ShapeError.
std::string shape_error(json block, const std::vector<Shape>& input_shapes);

// Whether text contains every one of parts (reports the missing ones through doctest).
bool contains_all(const std::string& text, const std::vector<std::string>& parts);

// A tensor of distinct values spaced `gap` apart (a shuffled ramp centred on 0), so that a
// finite-difference step below gap / 2 never changes which element is a window's maximum.
Tensor distinct_tensor(const Shape& shape, Rng& rng, float gap = 0.05f);

// A tensor of the given full shape holding values.
Tensor make_tensor(const Shape& shape, const std::vector<float>& values);

}  // namespace cnn::test
