// The registry: an explicit, alphabetical list. Adding a layer is one line here (STYLE.md §5).
#include "layers/registry.hpp"

#include <functional>
#include <map>

#include "layers/activation.hpp"
#include "layers/add.hpp"
#include "layers/average_pooling2d.hpp"
#include "layers/batch_normalization.hpp"
#include "layers/concatenate.hpp"
#include "layers/conv2d.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/flatten.hpp"
#include "layers/global_average_pooling2d.hpp"
#include "layers/global_max_pooling2d.hpp"
#include "layers/max_pooling2d.hpp"
#include "layers/permute.hpp"
#include "layers/rescaling.hpp"
#include "layers/zero_padding2d.hpp"

namespace cnn {
namespace {

using Factory = std::function<std::unique_ptr<Layer>()>;

template <class L>
Factory factory() {
  return [] { return std::make_unique<L>(); };
}

const std::map<std::string, Factory>& table() {
  static const std::map<std::string, Factory> t = {
      {"Activation", factory<Activation>()},
      {"Add", factory<Add>()},
      {"AveragePooling2D", factory<AveragePooling2D>()},
      {"BatchNormalization", factory<BatchNormalization>()},
      {"Concatenate", factory<Concatenate>()},
      {"Conv2D", factory<Conv2D>()},
      {"Dense", factory<Dense>()},
      {"Dropout", factory<Dropout>()},
      {"Flatten", factory<Flatten>()},
      {"GlobalAveragePooling2D", factory<GlobalAveragePooling2D>()},
      {"GlobalMaxPooling2D", factory<GlobalMaxPooling2D>()},
      {"MaxPooling2D", factory<MaxPooling2D>()},
      {"Permute", factory<Permute>()},
      {"Rescaling", factory<Rescaling>()},
      {"ZeroPadding2D", factory<ZeroPadding2D>()},
  };
  return t;
}

}  // namespace

const std::vector<std::string>& layer_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [k, v] : table()) n.push_back(k);
    return n;
  }();
  return names;
}

bool is_layer_type(const std::string& type) { return table().count(type) != 0; }

std::unique_ptr<Layer> make_layer(const std::string& type) {
  auto it = table().find(type);
  if (it == table().end())
    throw Error("unknown layer type '" + type + "'; " + choices_hint(type, layer_types()));
  return it->second();
}

}  // namespace cnn
