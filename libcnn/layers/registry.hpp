// The one list of layer types: Keras class name -> factory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/layer.hpp"

namespace cnn {

// All registered type names, sorted.
const std::vector<std::string>& layer_types();
// A new, unconfigured layer; throws cnn::Error listing the types (and the nearest) when unknown.
std::unique_ptr<Layer> make_layer(const std::string& type);
// Whether type is registered.
bool is_layer_type(const std::string& type);

}  // namespace cnn
