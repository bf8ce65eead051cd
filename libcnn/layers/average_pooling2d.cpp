// AveragePooling2D: the pooling mode and the type name; the rest is in base_pooling2d.cpp.
#include "layers/average_pooling2d.hpp"

namespace cnn {

AveragePooling2D::AveragePooling2D() : detail::WindowPool2D(detail::PoolMode::Average) {}

std::string AveragePooling2D::type() const { return "AveragePooling2D"; }

}  // namespace cnn
