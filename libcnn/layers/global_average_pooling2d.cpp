// GlobalAveragePooling2D: the pooling mode and the type name; the rest is in base_pooling2d.cpp.
#include "layers/global_average_pooling2d.hpp"

namespace cnn {

GlobalAveragePooling2D::GlobalAveragePooling2D()
    : detail::GlobalPool2D(detail::PoolMode::Average) {}

std::string GlobalAveragePooling2D::type() const { return "GlobalAveragePooling2D"; }

}  // namespace cnn
